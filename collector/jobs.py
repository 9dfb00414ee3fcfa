"""RQ entry points. Producers enqueue by path and need none of this project's code::

    Queue("audit", connection=r).enqueue("collector.jobs.ingest", events)

The job stores through the same code as the stream worker; invalid events go to
the dead-letter stream with their reasons, and the job reports what it did.

The queue may live on its own Redis (``AUDIT_RQ_REDIS_URL``, as it must beside a Redis
Cluster): the job then stores into ``REDIS_URL``, read from the RQ worker's environment.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import get_current_job

from collector.connection import RQ_ON_CLUSTER, connect, is_cluster_url
from collector.errors import ConfigError
from collector.queue_input import from_job_item
from collector.settings import Settings
from collector.timefmt import now_utc
from collector.writer import BatchWriter, Delivery

QUEUE = "audit"

# One client per store URL and process (made at the first job, not at import).
_store_clients: dict[str, redis.Redis] = {}


def store_client(queue_redis: redis.Redis, settings: Settings) -> redis.Redis:
    """Where a job stores: ``REDIS_URL`` when the queue has a Redis of its own
    (``AUDIT_RQ_REDIS_URL``), else the queue's Redis.

    With ``REDIS_URL`` a cluster and no ``AUDIT_RQ_REDIS_URL``, the job refuses (ConfigError):
    storing into the queue's Redis would put the events where no reader looks.
    """
    url = settings.redis_url
    if settings.rq_redis_url and url and url != settings.rq_redis_url:
        if url not in _store_clients:
            _store_clients[url] = connect(url)
        return _store_clients[url]
    if url and is_cluster_url(url):
        raise ConfigError(RQ_ON_CLUSTER)
    return queue_redis


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
    result = BatchWriter(store_client(job.connection, settings), settings).write(deliveries)
    if result.failed:
        raise result.failed[0][1]
    return {
        "stored": len(result.stored),
        "duplicates": len(result.duplicates),
        "dead": len(result.dead_lettered),
    }
