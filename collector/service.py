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
        self._memory = (0.0, 0, 0)  # (checked at, used bytes, maxmemory)

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

    def _memory_check(self, incoming: int) -> None:
        """503 when Redis is within 10% (or this request) of its ``maxmemory``: ingest
        pushes back before Redis starts refusing writes (or evicting keys)."""
        checked_at, used, most = self._memory
        if time.monotonic() - checked_at >= BACKLOG_CACHE_S:
            checked_at = time.monotonic()
            try:
                info = self.redis.info("memory")
                used, most = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
            except redis.ResponseError:  # a Redis without INFO (the embedded store)
                used, most = 0, 0
        # this process's own adds count until the next look, as for the backlog
        self._memory = (checked_at, used + incoming, most)
        if most and used + incoming > most * 0.9:
            raise Unavailable(
                f"Redis is near its maxmemory ({used} of {most} bytes used); retry later.",
                retry_after=5,
            )

    def submit(
        self,
        events: list[dict[str, Any]],
        received_at: datetime,
        legacy: dict[str, Any] | None = None,
        encoded: list[bytes] | None = None,
        ingested_by: str = "anonymous",
    ) -> list[str]:
        """Hand validated events to the HTTP ingest streams; raises Unavailable (503) on
        overload: the whole backlog over AUDIT_MAX_BACKLOG events (refreshed each
        second), an HTTP stream's unconsumed events or bytes over their limits (checked
        atomically with the add), or Redis near its ``maxmemory``.

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
            blobs = encoded if encoded is not None else [orjson.dumps(e) for e in events]
            self._memory_check(sum(len(b) for b in blobs))
            extra: dict[str, str | bytes] = {
                "received_at": format_utc(received_at),
                "ingested_by": ingested_by,
            }
            if legacy is not None:
                extra["legacy"] = orjson.dumps(legacy)
            s = self.settings
            replica_wait = REPLICA_WAIT_MS if s.durability == "replica" else None
            self.streams.add_http(
                events, blobs, extra, s.max_backlog, s.max_backlog_bytes, replica_wait
            )
            # count what this process added since the last look, so the limit holds
            # between refreshes instead of letting a second's worth through
            checked_at, value = self._backlog
            self._backlog = (checked_at, value + len(events))
        except REDIS_ERRORS as exc:
            self._groups_ready = False
            raise redis_unavailable(exc) from None
        return [e["id"] for e in events]
