"""The write path and lookups by id: idempotent by (tenant, id), dense ``seq`` per tenant.

A Lua script call stores up to ``CALL_EVENTS`` of one tenant's events, assigns their
``seq`` and updates every index in one atomic step; all its keys share the tenant's
hash tag, so the step stays on one Redis Cluster node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
import redis

from collector import scripts
from collector.compression import Codec
from collector.events import UNINDEXED, PreparedEvent, index_of
from collector.keys import KeyNames
from collector.postings import BUCKET_US, SEPARATOR, buckets_of, micros_of
from collector.scripts import ScriptCall
from collector.timefmt import sort_key

# Events one store-script call stores at most. A call blocks Redis while it runs: 256
# events took ~9 ms of Redis at a million events, and up to 25 ms on a loaded machine;
# 64 keep a call near 2 ms. A batch's calls still go in one round trip (one pipeline).
CALL_EVENTS = 64
# Posting lists one compaction call (after a purge: compact.lua) rewrites at most, and
# their bytes (~1,100 members: a few ms); a longer list is compacted alone, in slices of
# that many bytes.
COMPACT_LISTS = 128
COMPACT_BYTES = 64 * 1024
# Lists a purge leaves pending (their buckets not yet walked past) before it compacts them
# all anyway: a list compacted early is only compacted again if a later step touches it.
PENDING_LISTS = 20_000


# the number of an event's posting lists as the script's argument: redis-py would
# format the int for every event
_DIGITS = tuple(str(n).encode() for n in range(len(BUCKET_US) + 1))


class StoreCall(NamedTuple):
    """One store-script call: whose events, and how many (its reply has one seq each)."""

    tenant: str
    call: ScriptCall
    events: int


class Store:
    """Events in Redis: write batches, read by id, purge by age."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.codec = Codec(redis_client, key_names.dictionary, self.sample_bodies)

    # -- writes -----------------------------------------------------------------------
    def store_calls(self, events: Iterable[PreparedEvent]) -> list[StoreCall]:
        """Group events by tenant into store-script calls of at most :data:`CALL_EVENTS`
        each, a tenant's calls in the order of its events (the batch writer runs them).

        Each call's reply is the list of seqs (0 for a duplicate) of its events, in order.
        """
        by_tenant: dict[str, list[PreparedEvent]] = {}
        for event in events:
            by_tenant.setdefault(event.tenant, []).append(event)
        calls: list[StoreCall] = []
        k = self.key_names
        for tenant, group in by_tenant.items():
            bodies = self.codec.encode_many(tenant, [event.body for event in group])
            for start in range(0, len(group), CALL_EVENTS):
                call = ScriptCall(
                    "store",
                    [
                        k.events(tenant),
                        k.seq(tenant),
                        k.time_index(tenant),
                        k.seq_index(tenant),
                        k.tail_signal(tenant),
                        k.duplicates(tenant),
                    ],
                )
                part = group[start : start + CALL_EVENTS]
                for event, body in zip(part, bodies[start : start + CALL_EVENTS], strict=True):
                    lists = buckets_of(event.indexed, micros_of(event.member))
                    call.keys.extend(k.posting_lists(tenant, lists))
                    call.args.extend((event.id, event.member, body, _DIGITS[len(lists)]))
                calls.append(StoreCall(tenant, call, len(part)))
        return calls

    def stored(self, tenant: str, seqs: list[int]) -> None:
        """Tell the store what a store call returned (compression starts once a tenant has
        enough events to train its dictionary on)."""
        self.codec.stored(tenant, seqs)

    def sample_bodies(self, tenant: str, n: int) -> list[bytes]:
        """Up to ``n`` stored values of the tenant, oldest ``occurred_at`` first."""
        k = self.key_names
        members = cast(list[bytes], self.redis.zrange(k.time_index(tenant), 0, n - 1))
        ids = [m.decode().split("|", 1)[1] for m in members]
        values = cast(list[bytes | None], self.redis.hmget(k.events(tenant), ids))
        return [v for v in values if v] if ids else []

    # -- reads ------------------------------------------------------------------------
    def get_raw(self, tenant: str, event_id: str) -> bytes | None:
        """The stored JSON of one event, as bytes, or None."""
        value = cast(bytes | None, self.redis.hget(self.key_names.events(tenant), event_id))
        return None if value is None else self.codec.decode(tenant, value)

    def get_raw_many(
        self, tenant: str, event_ids: Sequence[str | bytes], keep_undecodable: bool = False
    ) -> list[bytes | None]:
        """:meth:`get_raw` for many ids in one round trip, in their order. With
        ``keep_undecodable`` a value that does not decompress (only a tampered one) comes
        back as stored, so that integrity hashes it as what it is."""
        if not event_ids:
            return []
        values = cast(
            list[bytes | None], self.redis.hmget(self.key_names.events(tenant), list(event_ids))
        )
        present = [v for v in values if v is not None]
        try:
            decoded = self.codec.decode_many(tenant, present)
        except Exception:  # a corrupt frame or dictionary id: zstandard and int() errors
            if not keep_undecodable:
                raise
            decoded = [self._decoded_or_stored(tenant, v) for v in present]
        bodies = iter(decoded)
        return [None if v is None else next(bodies) for v in values]

    def _decoded_or_stored(self, tenant: str, value: bytes) -> bytes:
        try:
            return self.codec.decode(tenant, value)
        except Exception:  # as in get_raw_many
            return value

    def decode(self, tenant: str, value: bytes) -> bytes:
        """The stored event's JSON from a value of the tenant's events hash, read directly
        (plain JSON, or compressed: ``collector.compression``). Code that reads that hash
        itself, not through this class, must pass every value through here."""
        return self.codec.decode(tenant, value)

    def get(self, tenant: str, event_id: str) -> dict[str, Any] | None:
        """One stored event, or None."""
        raw = self.get_raw(tenant, event_id)
        return None if raw is None else orjson.loads(raw)

    def count(self, tenant: str) -> int:
        """How many events the tenant has stored."""
        return int(self.redis.hlen(self.key_names.events(tenant)))

    def tenants(self) -> list[str]:
        """Every tenant that has stored an event."""
        return sorted(t.decode() for t in self.redis.smembers(self.key_names.tenants))  # type: ignore[union-attr]

    # -- migration --------------------------------------------------------------------
    def compress_stored(self, tenant: str, chunk: int = 500) -> int:
        """Compress the tenant's bodies stored as plain JSON (by a release before compression,
        or before the tenant had a dictionary); returns how many. Online and idempotent:
        each body is replaced only if unchanged since it was read, and reads work
        throughout, whichever form a body is in."""
        count = self.count(tenant)
        self.codec.stored(tenant, [count])  # trains the dictionary if the tenant has none
        key, cursor, done = self.key_names.events(tenant), 0, 0
        while True:
            cursor, found = cast(
                tuple[int, dict[bytes, bytes]], self.redis.hscan(key, cursor, count=chunk)
            )
            args: list[bytes] = []
            for event_id, value in found.items():
                cut = value.rfind(b',"seq":')
                if value[:1] != b"{" or cut < 0:
                    continue
                packed = self.codec.encode(tenant, value[:cut])
                if packed[:1] == b"{":
                    return done  # no dictionary (too few events): nothing to compress with
                args += (event_id, value, b"z" + value[cut + 7 : -1] + b":" + packed)
            if args:
                done += int(scripts.run(self.redis, ScriptCall("recompress", [key], args)))
            if cursor == 0:
                return done

    def sets_to_lists(self, tenant: str, chunk: int = 1000) -> int:
        """Convert the filter sets of a store written before posting lists (one sorted set
        per filter value) into posting lists (``collector.postings``), deleting each set once
        converted; returns how many sets. Online: new events go to the lists meanwhile, and
        a run cut short and run again only repeats members, which readers take once. The
        ``outcome=success`` set is deleted unread (no list: ``UNINDEXED``)."""
        k = self.key_names
        skip = {k.time_index(tenant).encode(), k.seq_index(tenant).encode()}
        pattern = k.field_index_pattern(tenant)  # "<tag>:ix:*"
        converted = 0
        for key in list(self.redis.scan_iter(match=pattern, count=1000)):
            if key in skip or self.redis.type(key) != b"zset":
                continue
            name, _, value = key.decode()[len(pattern) - 1 :].partition(":")
            if (name, value) != UNINDEXED and name in BUCKET_US:
                for first in range(0, int(self.redis.zcard(key)), chunk):
                    members = cast(list[bytes], self.redis.zrange(key, first, first + chunk - 1))
                    by_list: dict[str, list[bytes]] = {}
                    for member in members:
                        [(f, bucket, v)] = buckets_of([(name, value)], micros_of(member))
                        by_list.setdefault(k.posting_list(tenant, f, bucket, v), []).append(member)
                    pipe = self.redis.pipeline(transaction=False)
                    for list_key, found in by_list.items():
                        pipe.append(list_key, SEPARATOR.join(found) + SEPARATOR)
                    pipe.execute()
            self.redis.unlink(key)
            converted += 1
        return converted

    # -- retention --------------------------------------------------------------------
    def purge_before(
        self,
        tenant: str,
        cutoff: datetime,
        chunk: int = 500,
        integrity: bool = False,
        on_step: Callable[[], object] | None = None,
    ) -> int:
        """Remove the tenant's events whose ``occurred_at`` is before ``cutoff`` (with
        ``integrity``, only those already in the tenant's Merkle tree), ``chunk`` at a time
        (``on_step`` is called before each step); returns how many. Nothing is removed from
        a tenant under legal hold (the purge and compaction scripts check, each call).

        The steps leave the posting lists alone; each list a step touched is compacted
        once (:meth:`compact_lists`), when the walk has passed its bucket, or at the end.
        """
        removed = 0
        upper = "(" + sort_key(cutoff)
        pending: dict[str, int] = {}  # posting list -> the end of its bucket (µs)
        while True:
            if on_step is not None:
                on_step()
            members = cast(
                list[bytes],
                self.redis.zrangebylex(
                    self.key_names.time_index(tenant), "-", upper, start=0, num=chunk
                ),
            )
            if not members:
                break
            docs: list[bytes | None] = self.redis.hmget(  # type: ignore[assignment]
                self.key_names.events(tenant), [m.decode().split("|", 1)[1] for m in members]
            )
            call, lists = self.purge_call(tenant, members, docs, integrity)
            gone, kept = scripts.run(self.redis, call)
            if int(gone) < 0:  # under legal hold: the script removed nothing
                return removed
            removed += int(gone)
            pending.update(lists)
            # a bucket ending at or before the last member walked holds nothing unwalked
            walked = micros_of(members[-1])
            passed = [key for key, end in pending.items() if end <= walked]
            if len(pending) - len(passed) > PENDING_LISTS:  # keep the bookkeeping small
                passed = list(pending)
            if passed and self.compact_lists(tenant, passed) < 0:
                return removed
            for key in passed:
                del pending[key]
            if int(kept) == len(members):  # all waiting for the tree: next run
                break
        self.compact_lists(tenant, list(pending))
        return removed

    def compact_lists(self, tenant: str, keys: list[str]) -> int:
        """Drop from these posting lists the members whose event is gone (``compact.lua``);
        returns how many members were dropped, or -1 when the tenant is under legal hold
        (then the lists are left as they are). Lists go up to ``COMPACT_LISTS`` and
        ``COMPACT_BYTES`` a call; a longer one alone, a slice of ``COMPACT_BYTES`` a call,
        so that no call blocks Redis for long whatever a bucket holds."""
        k = self.key_names
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.strlen(key)
        sizes = dict(zip(keys, (int(n) for n in pipe.execute()), strict=True)) if keys else {}
        groups: list[list[str]] = [[]]
        held = 0
        for key, size in sizes.items():
            if size > COMPACT_BYTES:
                continue  # alone, below
            if len(groups[-1]) == COMPACT_LISTS or held + size > COMPACT_BYTES:
                groups.append([])
                held = 0
            groups[-1].append(key)
            held += size
        dropped = 0
        work = [g for g in groups if g] + [[key] for key, s in sizes.items() if s > COMPACT_BYTES]
        fixed = [k.events(tenant), k.hold(tenant), k.compacting(tenant)]
        while work:
            group, at = work.pop(0), 0
            while True:
                call = ScriptCall("compact", [*fixed, *group], [at, COMPACT_BYTES])
                at, found, place = (int(n) for n in scripts.run(self.redis, call))
                if at == -2:
                    return -1
                dropped += found
                if at == -1:
                    break
                # a list longer than a slice (or grown since its STRLEN): on with it
                # alone, the lists after it later
                if place + 1 < len(group):
                    work.append(group[place + 1 :])
                group = [group[place]]
        return dropped

    def purge_call(
        self, tenant: str, members: list[bytes], docs: list[bytes | None], integrity: bool = False
    ) -> tuple[ScriptCall, dict[str, int]]:
        """The purge-script call removing these index members and their events, and the
        posting lists that hold them, each with the end of its bucket (µs)."""
        k = self.key_names
        call = ScriptCall(
            "purge",
            [
                k.events(tenant),
                k.time_index(tenant),
                k.seq_index(tenant),
                k.tree_size(tenant),
                k.purged(tenant),
                k.hold(tenant),
            ],
            ["1" if integrity else "0"],
        )
        lists: dict[str, int] = {}
        for member, raw in zip(members, docs, strict=True):
            index = index_of(orjson.loads(self.codec.decode(tenant, raw))) if raw else ()
            pairs = [pair for pair in index if pair != UNINDEXED]
            buckets = buckets_of(pairs, micros_of(member))
            for key, (name, bucket, _) in zip(
                k.posting_lists(tenant, buckets), buckets, strict=True
            ):
                lists[key] = (bucket + 1) * BUCKET_US[name]
            call.args.extend((member.decode().split("|", 1)[1], member))
        return call, lists
