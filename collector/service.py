"""The core's front door: one object that wires store, query, streams and keys to one Redis.

The API and the command line build one :class:`AuditService` and call it; they
never see a key name.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import orjson
import redis

from collector.apikeys import ApiKeys
from collector.connection import REDIS_ERRORS
from collector.durability import Durability, describe
from collector.errors import Unavailable, redis_unavailable
from collector.maintenance import Maintenance
from collector.proofs import Proofs
from collector.query import Query
from collector.settings import Settings
from collector.store import Store
from collector.streams import IngestStreams
from collector.timefmt import format_utc

BACKLOG_CACHE_S = 1.0
# AUDIT_DURABILITY=replica: how long an ingest request waits for a replica to confirm
# its events before it answers 503. Replication on a healthy link takes a millisecond
# or two; a second is a replica that is not keeping up.
REPLICA_WAIT_MS = 1000


class AuditService:
    """Everything the API and the command line need, over one Redis client."""

    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.redis = redis_client
        self.settings = settings
        self.key_names = settings.key_names
        self.store = Store(redis_client, self.key_names)
        self.query = Query(redis_client, self.key_names)
        self.streams = IngestStreams(redis_client, self.key_names)
        self.api_keys = ApiKeys(redis_client, self.key_names)
        self.maintenance = Maintenance(redis_client, self.key_names, settings)
        self.proofs = Proofs(redis_client, settings)
        self._backlog = (0.0, 0)
        self._groups_ready = False

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except REDIS_ERRORS:
            return False

    def durability(self) -> Durability:
        """What the Redis in use keeps on a crash; raises a RedisError if it cannot tell."""
        return describe(self.redis)

    def backlog(self) -> int:
        """Lag plus pending over all partitions, refreshed at most once a second."""
        checked_at, value = self._backlog
        if time.monotonic() - checked_at >= BACKLOG_CACHE_S:
            value = self.streams.backlog()
            self._backlog = (time.monotonic(), value)
        return value

    def submit(
        self,
        events: list[dict[str, Any]],
        received_at: datetime,
        legacy: dict[str, Any] | None = None,
        encoded: list[bytes] | None = None,
    ) -> list[str]:
        """Hand validated events to the ingest stream; raises Unavailable (503) on overload.

        The consumer group is made sure of first, so events added before any worker
        starts are still consumed.
        """
        try:
            if not self._groups_ready:
                self.streams.ensure_groups()
                self._groups_ready = True
            backlog = self.backlog()
            if backlog > self.settings.max_backlog:
                raise Unavailable(
                    f"Backlog of {backlog} events is over the limit of "
                    f"{self.settings.max_backlog} (AUDIT_MAX_BACKLOG).",
                    retry_after=5,
                )
            extra: dict[str, str | bytes] = {"received_at": format_utc(received_at)}
            if legacy is not None:
                extra["legacy"] = orjson.dumps(legacy)
            replica_wait = REPLICA_WAIT_MS if self.settings.durability == "replica" else None
            self.streams.add(events, extra, encoded, replica_wait)
            # count what this process added since the last look, so the limit holds
            # between refreshes instead of letting a second's worth through
            checked_at, value = self._backlog
            self._backlog = (checked_at, value + len(events))
        except REDIS_ERRORS as exc:
            self._groups_ready = False
            raise redis_unavailable(exc) from None
        return [e["id"] for e in events]
