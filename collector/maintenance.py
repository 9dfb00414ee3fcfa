"""Housekeeping the workers share: heartbeats, trimming consumed entries, retention.

Each job runs at most once per interval per process, and retention only in the
worker that holds its lock (``collector.retention``), so N workers do not purge N times.
"""

from __future__ import annotations

import time

import redis

from collector.keys import KeyNames
from collector.retention import RUN_EVERY_S, Retention
from collector.settings import Settings
from collector.streams import IngestStreams

HEARTBEAT_EVERY_S = 1.0
TRIM_EVERY_S = 10.0
RETENTION_EVERY_S = float(RUN_EVERY_S)
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
        self.retention = Retention(
            redis_client,
            key_names,
            settings.retention_days,
            integrity=settings.integrity,
        )
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

    def run_due(self) -> None:
        """Run whatever chores are due."""
        if self._due("trim", TRIM_EVERY_S):
            self.streams.trim_consumed()
            for name in self.streams.forget_idle_consumers(FORGET_CONSUMER_MS):
                self.redis.zrem(self.key_names.workers, name)
        if self._due("retention", RETENTION_EVERY_S):
            # Every worker tries once a minute; the retention lock lets one of them run.
            self.retention.run_scheduled()

    def purge_expired(self) -> int:
        """Apply the retention policies now if this process wins the minute's lock;
        returns how many events were removed."""
        return sum(result.purged for result in self.retention.run_scheduled())
