"""Reads in persistence order: one tenant's events by ``seq``, for pollers and live tails.

The store script adds each event to the tenant's seq index (member: the id, score: the
seq) in the same atomic step that assigns the seq, so "every event after seq N" read
from the index has no gap: a poller that keeps the last seq it saw never misses an event
that arrived late with an old ``occurred_at``. The other filters are checked on the
stored JSON, at most :data:`SCAN_BUDGET` index entries per page, so a sparse filter hands
back a short page and a cursor rather than walking a million events in one request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
import redis

from collector.compression import Codec
from collector.keys import KeyNames
from collector.timefmt import parse_rfc3339

if TYPE_CHECKING:  # query imports this module
    from collector.query import Filters

BATCH = 500  # index entries per round trip
SCAN_BUDGET = 20_000  # index entries one page examines at most


def matches(filters: Filters, event: dict[str, Any]) -> bool:
    """Whether a stored event passes every filter (the tenant is the index's)."""
    checks = (
        (filters.service, event.get("service")),
        (filters.type, event.get("type")),
        (filters.outcome, event.get("outcome")),
        (filters.actor_id, (event.get("actor") or {}).get("id")),
        (filters.target_id, (event.get("target") or {}).get("id")),
    )
    if any(wanted is not None and wanted != value for wanted, value in checks):
        return False
    if filters.since is None and filters.until is None:
        return True
    occurred = parse_rfc3339(event["occurred_at"])
    if filters.since is not None and occurred < filters.since:
        return False
    return filters.until is None or occurred < filters.until


@dataclass(frozen=True)
class Batch:
    """The matching events of one stretch of the seq index."""

    events: list[tuple[int, bytes]]  # (seq, stored JSON), in seq order
    last_seq: int  # the highest seq examined, matching or not
    examined: int  # index entries read


class SeqReader:
    """Walks a tenant's seq index forward."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.codec = Codec(redis_client, key_names.dictionary, lambda tenant, n: [])

    def latest(self, tenant: str) -> int:
        """The seq of the tenant's newest event (0 when it has none)."""
        return int(cast(bytes | None, self.redis.get(self.key_names.seq(tenant))) or 0)

    def after(self, filters: Filters, after_seq: int, count: int = BATCH) -> Batch:
        """The next ``count`` index entries after ``after_seq``, filtered."""
        tenant = filters.tenant
        pairs = cast(
            list[tuple[bytes, float]],
            self.redis.zrangebyscore(
                self.key_names.seq_index(tenant),
                f"({after_seq}",
                "+inf",
                start=0,
                num=count,
                withscores=True,
            ),
        )
        if not pairs:
            return Batch([], after_seq, 0)
        values = cast(
            list[bytes | None],
            self.redis.hmget(self.key_names.events(tenant), [member for member, _ in pairs]),
        )
        docs = [None if v is None else self.codec.decode(tenant, v) for v in values]
        plain = not _filtered(filters)
        found = [
            (int(score), raw)
            for (_, score), raw in zip(pairs, docs, strict=True)
            # an entry whose event is gone (purged between the two reads) is skipped
            if raw is not None and (plain or matches(filters, orjson.loads(raw)))
        ]
        return Batch(found, int(pairs[-1][1]), len(pairs))

    def follow(self, filters: Filters, after_seq: int) -> Iterator[Batch]:
        """Batches up to the newest event, each starting where the last one ended."""
        while True:
            batch = self.after(filters, after_seq)
            if batch.examined:
                yield batch
            if batch.examined < BATCH:
                return
            after_seq = batch.last_seq

    def page(
        self, filters: Filters, after_seq: int, limit: int
    ) -> tuple[list[tuple[int, bytes]], int | None]:
        """Up to ``limit`` matches after ``after_seq``, and the seq to resume after (None
        when no match is left). A page whose scan budget runs out first is short and
        resumes after the last entry it examined."""
        found: list[tuple[int, bytes]] = []
        examined = 0
        while True:
            # one more than asked, to know whether a next page exists
            count = BATCH if _filtered(filters) else min(BATCH, limit + 1 - len(found))
            batch = self.after(filters, after_seq, count)
            found.extend(batch.events)
            examined += batch.examined
            if len(found) > limit:
                return found[:limit], found[limit - 1][0]
            if batch.examined < count:
                return found, None
            after_seq = batch.last_seq
            if examined >= SCAN_BUDGET:
                return found, after_seq


def _filtered(filters: Filters) -> bool:
    """Whether anything but the tenant narrows the list."""
    return bool(filters.index_fields()) or filters.since is not None or filters.until is not None
