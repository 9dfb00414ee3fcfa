"""Housekeeping the workers share: heartbeats, trimming consumed entries, retention.

Each job runs at most once per interval per process, and retention only in the
worker that holds a short lock, so N workers do not purge N times.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import cast

import redis

from collector.keys import KeyNames
from collector.settings import Settings
from collector.store import Store
from collector.streams import IngestStreams
from collector.timefmt import now_utc

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 1.0
TRIM_EVERY_S = 10.0
RETENTION_EVERY_S = 60.0
# A worker whose heartbeat is older than this is listed as gone by `audit-trail status`.
WORKER_ALIVE_S = 15.0
# Consumers idle this long with nothing pending are removed from the group (and from
# the heartbeat list): default names are host-pid, so restarts would pile them up.
FORGET_CONSUMER_MS = 24 * 3600 * 1000


class Maintenance:
    """Periodic, idempotent chores; safe to call from every worker's loop."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames, settings: Settings) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.settings = settings
        self.streams = IngestStreams(redis_client, key_names)
        self.store = Store(redis_client, key_names)
        self._last: dict[str, float] = {}

    def _due(self, job: str, every: float) -> bool:
        now = time.monotonic()
        if now - self._last.get(job, -every) < every:
            return False
        self._last[job] = now
        return True

    def heartbeat(self, name: str) -> None:
        """Record that worker ``name`` is alive (read by ``audit-trail status``)."""
        if self._due("heartbeat:" + name, HEARTBEAT_EVERY_S):
            self.redis.zadd(self.key_names.workers, {name: int(time.time() * 1000)})

    def workers(self) -> list[tuple[str, float, bool]]:
        """(name, seconds since last heartbeat, alive) for every worker ever seen."""
        now = time.time()
        out = []
        seen = cast(
            list[tuple[bytes, float]],
            self.redis.zrange(self.key_names.workers, 0, -1, withscores=True),
        )
        for name, score in seen:
            age = max(0.0, now - score / 1000)
            out.append((name.decode(), age, age < WORKER_ALIVE_S))
        return out

    def run_due(self) -> None:
        """Run whatever chores are due."""
        if self._due("trim", TRIM_EVERY_S):
            self.streams.trim_consumed()
            for name in self.streams.forget_idle_consumers(FORGET_CONSUMER_MS):
                self.redis.zrem(self.key_names.workers, name)
        if self.settings.retention_days and self._due("retention", RETENTION_EVERY_S):
            self.purge_expired()

    def purge_expired(self) -> int:
        """Remove events older than the retention, if this process wins the lock."""
        days = self.settings.retention_days
        if not days:
            return 0
        if not self.redis.set(
            self.key_names.lock("retention"), "1", nx=True, ex=int(RETENTION_EVERY_S)
        ):
            return 0
        cutoff = now_utc() - timedelta(days=days)
        store = self.store
        removed = sum(store.purge_before(tenant, cutoff) for tenant in store.tenants())
        if removed:
            log.info("retention: purged %d events older than %s", removed, cutoff.isoformat())
        return removed
