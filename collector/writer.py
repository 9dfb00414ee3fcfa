"""The one write path: decoded deliveries in, stored events and dead letters out.

The stream worker and the RQ job both write through :class:`BatchWriter`. One
pipeline carries a batch's store-script calls (one per tenant), the tenants set
and its dead letters; each is idempotent, so a batch that is written again after
a crash stores and dead-letters nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import redis
from redis.client import Pipeline

from collector import scripts
from collector.events import PreparedEvent
from collector.settings import Settings
from collector.store import Store
from collector.streams import DeadLetter, IngestStreams

S = TypeVar("S")


@dataclass(frozen=True)
class Delivery(Generic[S]):
    """One decoded delivery: a valid event or a dead letter, tied to its ``source``
    (a stream entry, an RQ job item) so the caller can settle it."""

    source: S
    item: PreparedEvent | DeadLetter


@dataclass
class WriteResult(Generic[S]):
    """What became of each delivery, by its source."""

    stored: list[tuple[S, int]] = field(default_factory=list)  # (source, seq)
    duplicates: list[S] = field(default_factory=list)  # the id was stored already
    dead_lettered: list[S] = field(default_factory=list)
    failed: list[tuple[S, Exception]] = field(default_factory=list)  # left for a retry

    @property
    def settled(self) -> list[S]:
        """The sources whose effects are in place (everything not failed)."""
        return [s for s, _ in self.stored] + self.duplicates + self.dead_lettered


class BatchWriter:
    """Stores events and adds dead letters in one round trip."""

    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.redis = redis_client
        self.store = Store(redis_client, settings.key_names)
        self.streams = IngestStreams(redis_client, settings.key_names)

    def write(self, deliveries: Sequence[Delivery[S]]) -> WriteResult[S]:
        """Write a batch; a failure (a tenant's script, a dead letter) fails only its own."""
        result: WriteResult[S] = WriteResult()
        if not deliveries:
            return result
        events: list[tuple[S, PreparedEvent]] = []
        letters: list[tuple[S, DeadLetter]] = []
        for delivery in deliveries:
            if isinstance(delivery.item, DeadLetter):
                letters.append((delivery.source, delivery.item))
            else:
                events.append((delivery.source, delivery.item))
        calls = self.store.store_calls([event for _, event in events])

        def fill(pipe: Pipeline) -> None:
            for call in calls.values():
                scripts.pipe_call(pipe, call)
            if calls:
                pipe.sadd(self.store.key_names.tenants, *calls)
            for _, letter in letters:
                scripts.pipe_call(pipe, self.streams.dead_letter_call(letter))

        _, replies = scripts.execute(self.redis, fill)
        # The replies in the order fill added them: one per tenant (the seqs of its events,
        # in order, 0 for a duplicate), the SADD when there were events, one per letter.
        tenants_added = replies[len(calls)] if calls else None
        seqs: dict[str, Iterator[int] | Exception] = {}
        for tenant, reply in zip(calls, replies, strict=False):
            failure = reply if isinstance(reply, Exception) else tenants_added
            seqs[tenant] = failure if isinstance(failure, Exception) else iter(reply)
            if not isinstance(reply, Exception):
                self.store.stored(tenant, reply)  # compression starts once a tenant can
        for source, event in events:
            tenant_seqs = seqs[event.tenant]
            if isinstance(tenant_seqs, Exception):
                result.failed.append((source, tenant_seqs))
                continue
            seq = int(next(tenant_seqs))
            if seq:
                result.stored.append((source, seq))
            else:
                result.duplicates.append(source)
        letter_replies = replies[len(calls) + 1 :] if calls else replies
        for (source, _), reply in zip(letters, letter_replies, strict=True):
            if isinstance(reply, Exception):
                result.failed.append((source, reply))
            else:
                result.dead_lettered.append(source)
        return result
