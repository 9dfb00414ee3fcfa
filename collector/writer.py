"""The one write path: decoded deliveries in, stored events and dead letters out.

The stream worker and the RQ job both write through :class:`BatchWriter`. One
pipeline carries a batch's store-script calls (each of one tenant's events, at most
``store.CALL_EVENTS``), the tenants set
and its dead letters; each is idempotent, so a batch that is written again after
a crash stores and dead-letters nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson
import redis
from redis.client import Pipeline

from collector import scripts
from collector.events import PreparedEvent, differing_fields
from collector.settings import Settings
from collector.store import Store
from collector.streams import DeadLetter, IngestStreams

S = TypeVar("S")

log = logging.getLogger(__name__)

# Events one round trip writes at most (in store calls of ``store.CALL_EVENTS``): a
# 60,000-event RQ job in one script call once held Redis for 630 ms, and a bounded chunk
# also bounds what a failure sends back to be retried one by one.
CHUNK = 256


@dataclass(frozen=True)
class Delivery(Generic[S]):
    """One decoded delivery: a valid event or a dead letter, tied to its ``source``
    (a stream entry, an RQ job item) so the caller can settle it."""

    source: S
    item: PreparedEvent | DeadLetter
    # where it came from, for a dead letter made while writing (a conflict, a failure)
    origin: str = ""
    origin_id: str = ""


@dataclass
class WriteResult(Generic[S]):
    """What became of each delivery, by its source."""

    stored: list[tuple[S, int]] = field(default_factory=list)  # (source, seq)
    duplicates: list[S] = field(default_factory=list)  # the id was stored already
    dead_lettered: list[S] = field(default_factory=list)
    failed: list[tuple[S, Exception]] = field(default_factory=list)  # left for a retry
    conflicts: list[S] = field(default_factory=list)  # also in dead_lettered

    def extend(self, other: WriteResult[S]) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.failed += other.failed
        self.conflicts += other.conflicts

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
        """Write deliveries in chunks of at most :data:`CHUNK` (so no script call stores
        more than that). Within a chunk a failure (a tenant's script, a dead letter) fails
        only its own, and the events it failed are tried again one by one, so one bad
        event cannot sink its neighbours. Duplicates whose content differs from what is
        stored become dead letters (reason ``conflict``)."""
        result: WriteResult[S] = WriteResult()
        for start in range(0, len(deliveries), CHUNK):
            chunk = deliveries[start : start + CHUNK]
            part = self._write_chunk(chunk)
            if part.failed:
                part = self._retry_alone(chunk, part)
            result.extend(self._conflicts(chunk, part))
        return result

    def _retry_alone(self, chunk: Sequence[Delivery[S]], first: WriteResult[S]) -> WriteResult[S]:
        """Write each event that failed with others again on its own. If some then store,
        the ones that still fail are dead-lettered (they fail for what they are); if none
        does, the failure is Redis's, and they are left for a retry."""
        failed = {id(source) for source, _ in first.failed}
        again = [d for d in chunk if id(d.source) in failed]
        result: WriteResult[S] = WriteResult(
            first.stored, first.duplicates, first.dead_lettered, [], first.conflicts
        )
        alone = [(d, self._write_chunk([d])) for d in again]
        some_stored = any(not r.failed for _, r in alone) or bool(first.stored)
        letters: list[Delivery[S]] = []
        for delivery, part in alone:
            if not part.failed:
                result.extend(part)
            elif some_stored and isinstance(delivery.item, PreparedEvent):
                reason = f"could not be stored: {part.failed[0][1]}"
                letter = DeadLetter(
                    delivery.item.body + b"}", reason, None, delivery.origin, delivery.origin_id
                )
                letters.append(Delivery(delivery.source, letter))
            else:
                result.failed += part.failed
        if letters:
            result.extend(self._write_chunk(letters))
        return result

    def _conflicts(self, chunk: Sequence[Delivery[S]], result: WriteResult[S]) -> WriteResult[S]:
        """Duplicates whose producer-sent fields differ from the stored event become
        dead letters with reason ``conflict`` (counted, logged); the rest stay duplicates."""
        if not result.duplicates:
            return result
        duplicate = {id(s) for s in result.duplicates}
        candidates = [
            d for d in chunk if id(d.source) in duplicate and isinstance(d.item, PreparedEvent)
        ]
        pipe = self.redis.pipeline(transaction=False)
        for delivery in candidates:
            assert isinstance(delivery.item, PreparedEvent)
            pipe.hget(self.store.key_names.events(delivery.item.tenant), delivery.item.id)
        stored_docs = pipe.execute()
        letters: list[Delivery[S]] = []
        for delivery, raw in zip(candidates, stored_docs, strict=True):
            event = delivery.item
            assert isinstance(event, PreparedEvent)
            if raw is None:
                continue  # purged meanwhile: nothing to conflict with
            stored = self.store.decode(event.tenant, raw)  # plain or compressed
            differ = differing_fields(orjson.loads(stored), event)
            if not differ:
                continue
            log.warning(
                "conflict: tenant %s id %s already stored with other %s (from %s %s)",
                event.tenant,
                event.id,
                ", ".join(differ),
                delivery.origin,
                delivery.origin_id,
            )
            errors = {
                "_schema": [f"id {event.id!r} is stored with other content"],
                "fields": differ,
            }
            letter = DeadLetter(
                event.body + b"}", "conflict", errors, delivery.origin, delivery.origin_id
            )
            letters.append(Delivery(delivery.source, letter))
        if not letters:
            return result
        written = self._write_chunk(letters)
        conflicted = {id(d.source) for d in letters}
        self.redis.incrby(self.store.key_names.counter("conflicts"), len(letters))
        result.duplicates = [s for s in result.duplicates if id(s) not in conflicted]
        result.dead_lettered += written.dead_lettered
        result.conflicts += written.dead_lettered
        result.failed += written.failed
        return result

    def _write_chunk(self, deliveries: Sequence[Delivery[S]]) -> WriteResult[S]:
        """Write one chunk in one round trip."""
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
        tenants = list(dict.fromkeys(call.tenant for call in calls))

        def fill(pipe: Pipeline) -> None:
            for call in calls:
                scripts.pipe_call(pipe, call.call)
            if tenants:
                pipe.sadd(self.store.key_names.tenants, *tenants)
            for _, letter in letters:
                scripts.pipe_call(pipe, self.streams.dead_letter_call(letter))

        _, replies = scripts.execute(self.redis, fill)
        # The replies in the order fill added them: one per store call (the seqs of its
        # events, in order, 0 for a duplicate), the SADD when there were events, one per
        # letter. Each event gets its seq, or the error of its call (or of the SADD).
        tenants_added = replies[len(calls)] if calls else None
        outcomes: dict[str, list[int | Exception]] = {tenant: [] for tenant in tenants}
        for call, reply in zip(calls, replies, strict=False):
            if not isinstance(reply, Exception):
                self.store.stored(call.tenant, reply)  # compression starts once a tenant can
            failure = reply if isinstance(reply, Exception) else tenants_added
            if isinstance(failure, Exception):
                outcomes[call.tenant] += [failure] * call.events
            else:
                outcomes[call.tenant] += [int(seq) for seq in reply]
        by_tenant = {tenant: iter(seqs) for tenant, seqs in outcomes.items()}
        for source, event in events:
            outcome = next(by_tenant[event.tenant])
            if isinstance(outcome, Exception):
                result.failed.append((source, outcome))
            elif outcome:
                result.stored.append((source, outcome))
            else:
                result.duplicates.append(source)
        letter_replies = replies[len(calls) + 1 :] if calls else replies
        for (source, _), reply in zip(letters, letter_replies, strict=True):
            if isinstance(reply, Exception):
                result.failed.append((source, reply))
            else:
                result.dead_lettered.append(source)
        return result
