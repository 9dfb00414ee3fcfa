"""RQ entry points. Producers enqueue by path and need none of this project's code::

    Queue("audit", connection=r).enqueue("collector.jobs.ingest", events)

The job stores through the same code as the stream worker; invalid events go to
the dead-letter stream with their reasons, and the job reports what it did.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from collector.events import PreparedEvent
from collector.queue_input import from_job_item
from collector.settings import Settings
from collector.store import Store
from collector.streams import DeadLetter, IngestStreams
from collector.timefmt import now_utc

QUEUE = "audit"


def ingest(events: Any, settings: Settings | None = None) -> dict[str, int]:
    """Store one event dict or a list of them; returns ``{"stored", "duplicates", "dead"}``."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("collector.jobs.ingest runs inside an RQ worker")
    settings = settings or Settings.from_env()
    keys = settings.key_names
    items = events if isinstance(events, list) else [events]
    now = now_utc()
    # created_at, unlike enqueued_at, survives a retry: the derived ids stay the same
    created = job.created_at or now
    created_ms = int(created.timestamp() * 1000)
    prepared: list[PreparedEvent] = []
    dead: list[DeadLetter] = []
    for index, item in enumerate(items):
        outcome = from_job_item(item, job.id, index, created_ms, now, settings.max_event_bytes)
        (dead if isinstance(outcome, DeadLetter) else prepared).append(outcome)  # type: ignore[arg-type]
    seqs = Store(job.connection, keys).store(prepared)
    if dead:
        pipe = job.connection.pipeline(transaction=False)
        IngestStreams(job.connection, keys).queue_dead_letters(pipe, dead)
        pipe.execute()
    stored = sum(1 for s in seqs if s)
    return {"stored": stored, "duplicates": len(seqs) - stored, "dead": len(dead)}
