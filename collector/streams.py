"""The ingest streams, their consumer group and the dead-letter stream.

Entry format (the stream protocol): field ``event``, the event as JSON; the API
also sets ``received_at`` (RFC 3339) and, for the legacy routes, ``legacy`` (JSON of
the old API's own fields; ``seed``, its former name, is still read). Nothing but
``event`` is required of a producer.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import orjson
import redis
from redis.client import Pipeline

from collector import scripts
from collector.connection import text
from collector.keys import GROUP, KeyNames
from collector.replicas import add_confirmed
from collector.scripts import ScriptCall
from collector.timefmt import format_utc, now_utc

# How long a dead-lettered entry is remembered: far longer than any redelivery takes.
DEAD_MARKER_TTL_S = 24 * 3600


class Entry(NamedTuple):
    """One delivered stream entry; ``deliveries`` counts this delivery too."""

    stream: str
    id: str
    fields: dict[bytes, bytes]
    deliveries: int = 1


@dataclass(frozen=True)
class DeadLetter:
    """Something that cannot be stored, with why."""

    payload: bytes
    reason: str
    errors: Any = None
    source: str = ""
    source_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, str | bytes]:
        out: dict[str, str | bytes] = {
            "event": self.payload,
            "reason": self.reason,
            "source": self.source,
            "source_id": self.source_id,
            "failed_at": format_utc(now_utc()),
        }
        if self.errors is not None:
            out["errors"] = orjson.dumps(self.errors, default=str)
        out.update(self.extra)
        return out


class IngestStreams:
    """Produce to, consume from and inspect the ingest streams."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.streams = key_names.ingest_streams()

    # -- producing --------------------------------------------------------------------
    def partition_for(self, tenant: str) -> int:
        """Spread by tenant: a tenant's events keep their order on one partition."""
        return zlib.crc32(tenant.encode()) % len(self.streams)

    def stream_for(self, tenant: str) -> str:
        return self.streams[self.partition_for(tenant)]

    def add(
        self,
        events: Sequence[dict[str, Any]],
        extra: dict[str, str | bytes] | None = None,
        encoded: Sequence[bytes] | None = None,
        replica_wait_ms: int | None = None,
    ) -> list[str]:
        """XADD each event (one round trip); returns the entry ids.

        ``encoded`` is the events' JSON when the caller has it already.

        A batch bound for one stream is added by one script call: all or nothing. With
        ``replica_wait_ms`` (``AUDIT_DURABILITY=replica``) each stream's share is written
        on the connection to its master and returns once a replica has it
        (:func:`collector.replicas.add_confirmed`), else raises Unavailable.
        """
        targets = [self.stream_for(str(e.get("tenant") or "default")) for e in events]
        blobs = encoded if encoded is not None else [orjson.dumps(e) for e in events]
        entries: list[dict[str, str | bytes]] = [{"event": blob, **(extra or {})} for blob in blobs]
        if replica_wait_ms is not None:
            ids = [""] * len(entries)
            by_stream: dict[str, list[int]] = {}
            for index, stream in enumerate(targets):
                by_stream.setdefault(stream, []).append(index)
            for stream, indexes in by_stream.items():
                share = [entries[i] for i in indexes]
                for i, entry_id in zip(
                    indexes, add_confirmed(self.redis, stream, share, replica_wait_ms), strict=True
                ):
                    ids[i] = entry_id
            return ids
        if len(set(targets)) == 1 and len(blobs) > 1:  # one stream: one script call, atomic
            shared = [v for pair in (extra or {}).items() for v in pair]
            call = ScriptCall("xadd", targets[:1], [len(shared) // 2, *shared, *blobs])
            return [text(i) for i in scripts.run(self.redis, call)]
        pipe = self.redis.pipeline(transaction=False)  # one event, or several streams
        for entry, stream in zip(entries, targets, strict=True):
            pipe.xadd(stream, entry)  # type: ignore[arg-type]
        return [text(i) for i in pipe.execute()]

    # -- the consumer group -----------------------------------------------------------
    def ensure_groups(self) -> None:
        """Create the group on every stream, reading from the start (idempotent).

        Starting at 0, not $, keeps entries added before any worker ever ran.
        """
        for stream in self.streams:
            try:
                self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read(self, consumer: str, count: int, block_ms: int, start: int = 0) -> list[Entry]:
        """New entries for ``consumer``: at most ``count`` per stream, waiting up to ``block_ms``.

        With several partitions each is read without blocking (a multi-stream read would
        cross hash slots on a cluster); only when all are empty does it block, on one.
        """
        block = block_ms if block_ms > 0 else None  # BLOCK 0 would wait forever
        if len(self.streams) == 1:
            reply = self.redis.xreadgroup(
                GROUP, consumer, {self.streams[0]: ">"}, count=count, block=block
            )
            return _entries(reply)
        order = (
            self.streams[start % len(self.streams) :] + self.streams[: start % len(self.streams)]
        )
        pipe = self.redis.pipeline(transaction=False)
        for stream in order:
            pipe.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
        entries = [e for reply in pipe.execute() for e in _entries(reply)]
        if entries or block is None:
            return entries
        reply = self.redis.xreadgroup(
            GROUP, consumer, {order[0]: ">"}, count=count, block=min(block_ms, 100)
        )
        return _entries(reply)

    def claim(
        self, consumer: str, min_idle_ms: int, count: int = 256, owner: str | None = None
    ) -> list[Entry]:
        """Take over entries pending at least ``min_idle_ms`` (only ``owner``'s, if given).

        Returns them with their delivery count, this delivery included, so the caller
        can dead-letter entries past the limit instead of retrying them forever.
        """
        claimed: list[Entry] = []
        for stream in self.streams:
            pending = self.redis.xpending_range(
                stream,
                GROUP,
                "-",
                "+",
                count,
                consumername=owner,
                # fakeredis drops entries idle for 0 ms under IDLE 0; no IDLE means the same.
                idle=min_idle_ms or None,
            )
            if not pending:
                continue
            rows = cast(list[dict[str, Any]], pending)
            counts = {text(p["message_id"]): int(p["times_delivered"]) for p in rows}
            got = cast(
                list[tuple[bytes, dict[bytes, bytes] | None]],
                self.redis.xclaim(stream, GROUP, consumer, min_idle_ms, list(counts)),
            )
            for entry_id, fields_ in got:
                if fields_ is None:  # deleted from the stream; nothing to deliver
                    continue
                eid = text(entry_id)
                claimed.append(Entry(stream, eid, fields_, counts[eid] + 1))
        return claimed

    def pipe_ack(self, pipe: Pipeline, entries: Iterable[Entry]) -> None:
        """Add the XACKs of ``entries`` to a pipeline, one per stream."""
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.id)
        for stream, ids in by_stream.items():
            pipe.xack(stream, GROUP, *ids)

    def dead_letter_call(self, letter: DeadLetter) -> ScriptCall:
        """The script call adding ``letter`` once per source entry (a redelivery adds nothing)."""
        k = self.key_names
        keys = [k.dead, k.dead_marker(letter.source, letter.source_id), k.dead_total]
        args: list[Any] = [DEAD_MARKER_TTL_S]
        for name, value in letter.fields().items():
            args += (name, value)
        return ScriptCall("deadletter", keys, args)

    # -- inspection and housekeeping --------------------------------------------------
    def group_info(self, stream: str) -> dict[str, Any] | None:
        for group in self.redis.xinfo_groups(stream):
            if text(group["name"]) == GROUP:
                return group
        return None

    def backlog(self) -> int:
        """Entries not yet acked by the group: lag (never delivered) plus pending."""
        total = 0
        for stream in self.streams:
            try:
                info = self.group_info(stream)
            except redis.ResponseError:  # no such stream yet
                continue
            if info is None:
                total += int(self.redis.xlen(stream))
                continue
            lag = info.get("lag")
            total += int(info.get("pending") or 0) + (int(lag) if lag is not None else 0)
        return total

    def trim_consumed(self) -> int:
        """Drop entries every group on each stream has acked; never an unconsumed one."""
        trimmed = 0
        for stream in self.streams:
            try:
                groups = self.redis.xinfo_groups(stream)
            except redis.ResponseError:
                continue
            if not groups:
                continue  # nobody consumes it yet: keep everything
            floor: tuple[int, int] | None = None
            for group in groups:
                summary = self.redis.xpending(stream, group["name"])
                candidates = [_parse_id(group["last-delivered-id"])]
                if summary and summary.get("pending"):
                    candidates.append(_parse_id(summary["min"]))
                low = min(candidates)
                floor = low if floor is None else min(floor, low)
            if floor and floor > (0, 0):
                # Entries below the lowest of (last delivered, oldest pending) of every
                # group are acked everywhere; "~" trims whole nodes only, never more, and
                # at most 10,000 entries a call (Redis's default LIMIT): call until done.
                while True:
                    cut = int(
                        self.redis.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=True)
                    )
                    trimmed += cut
                    if cut == 0:
                        break
        return trimmed

    def forget_idle_consumers(self, idle_ms: int) -> list[str]:
        """Delete consumers idle at least ``idle_ms`` with nothing pending; returns their names."""
        forgotten = []
        for stream in self.streams:
            try:
                consumers = self.redis.xinfo_consumers(stream, GROUP)
            except redis.ResponseError:
                continue
            for consumer in consumers:
                if int(consumer["pending"]) == 0 and int(consumer["idle"]) >= idle_ms:
                    name = text(consumer["name"])
                    self.redis.xgroup_delconsumer(stream, GROUP, name)
                    forgotten.append(name)
        return forgotten


def _parse_id(value: bytes | str) -> tuple[int, int]:
    ms, _, seq = text(value).partition("-")
    return int(ms), int(seq or 0)


def _entries(reply: Any) -> list[Entry]:
    out: list[Entry] = []
    for stream, items in reply or []:
        name = text(stream)
        for entry_id, fields_ in items:
            if fields_ is not None:
                out.append(Entry(name, text(entry_id), fields_))
    return out
