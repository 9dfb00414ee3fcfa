"""RQ entry points. Producers enqueue by path and need none of this project's code::

    Queue("audit", connection=r).enqueue("collector.jobs.ingest", events)

The job stores through the same code as the stream worker; invalid events go to
the dead-letter stream with their reasons, and the job reports what it did.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from collector.queue_input import from_job_item
from collector.settings import Settings
from collector.timefmt import now_utc
from collector.writer import BatchWriter, Delivery

QUEUE = "audit"


def ingest(events: Any, settings: Settings | None = None) -> dict[str, int]:
    """Store one event dict or a list of them; returns ``{"stored", "duplicates", "dead"}``.

    A write that fails raises, so RQ retries or fails the job; the retry stores
    nothing twice.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("collector.jobs.ingest runs inside an RQ worker")
    settings = settings or Settings.from_env()
    items = events if isinstance(events, list) else [events]
    now = now_utc()
    # created_at, unlike enqueued_at, survives a retry: the derived ids stay the same
    created = job.created_at or now
    created_ms = int(created.timestamp() * 1000)
    deliveries = [
        Delivery(
            index, from_job_item(item, job.id, index, created_ms, now, settings.max_event_bytes)
        )
        for index, item in enumerate(items)
    ]
    result = BatchWriter(job.connection, settings).write(deliveries)
    if result.failed:
        raise result.failed[0][1]
    return {
        "stored": len(result.stored),
        "duplicates": len(result.duplicates),
        "dead": len(result.dead_lettered),
    }
