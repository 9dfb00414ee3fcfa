"""The ingest streams, their consumer group and the dead-letter stream.

Entry format (the stream protocol): field ``event``, the event as JSON. Nothing but
``event`` is required of a producer, and nothing else a direct producer sets is read.
On the HTTP streams, which only the API writes, it also sets ``received_at`` (RFC
3339), ``ingested_by`` (the API key's name) and, for the legacy routes, ``legacy``
(JSON of the old API's own fields; ``seed``, its former name, is still read).

Reads of a direct producers' stream go through :class:`collector.stream_watch.StreamWatch`,
which counts entries a producer trimmed away before any worker read them and bounds
what a read returns in bytes; the HTTP streams, which no producer writes, are read
with a plain ``XREADGROUP``.
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
from collector.errors import Unavailable
from collector.keys import GROUP, KeyNames
from collector.replicas import add_confirmed, run_confirmed
from collector.scripts import ScriptCall
from collector.stream_watch import StreamWatch, undelivered_of
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

    def __init__(
        self,
        redis_client: redis.Redis,
        key_names: KeyNames,
        max_ahead_ms: int = 300_000,
        max_event_bytes: int = 65536,
    ) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.direct = key_names.ingest_streams()
        self.http = key_names.http_streams()
        self.streams = self.direct + self.http
        self.watch = StreamWatch(redis_client, key_names, max_ahead_ms, max_event_bytes)
        self._last_ids: dict[str, str] = {}  # per stream, the last id the last read saw

    # -- producing --------------------------------------------------------------------
    def partition_for(self, tenant: str) -> int:
        """Spread by tenant: a tenant's events keep their order on one partition."""
        return zlib.crc32(tenant.encode()) % len(self.direct)

    def stream_for(self, tenant: str) -> str:
        """The direct producers' stream for ``tenant``."""
        return self.direct[self.partition_for(tenant)]

    def http_stream_for(self, tenant: str) -> str:
        """The HTTP ingest stream for ``tenant`` (its partition's)."""
        return self.http[self.partition_for(tenant)]

    def is_http(self, stream: str) -> bool:
        """Whether ``stream`` is one only the API writes (its extra fields are trusted)."""
        return stream in self.http

    def add_http(
        self,
        events: Sequence[dict[str, Any]],
        encoded: Sequence[bytes],
        extra: dict[str, str | bytes],
        max_events: int,
        max_bytes: int,
        replica_wait_ms: int | None = None,
    ) -> list[str]:
        """Add HTTP-accepted events to their HTTP streams; raises Unavailable (503) when a
        stream's unconsumed events or bytes are over their limits (or, with
        ``replica_wait_ms``, when no replica confirmed the adds in time).

        The check and the adds are one script call per stream, so concurrent requests
        overshoot a limit by at most one batch; a batch bound for one stream is all or
        nothing.
        """
        by_stream: dict[str, list[bytes]] = {}
        for event, blob in zip(events, encoded, strict=True):
            stream = self.http_stream_for(str(event.get("tenant") or "default"))
            by_stream.setdefault(stream, []).append(blob)
        shared = [part for pair in extra.items() for part in pair]
        ids: list[str] = []
        for stream, blobs in by_stream.items():
            args: list[Any] = [GROUP, max_events, max_bytes, len(extra), *shared, *blobs]
            call = ScriptCall("http_add", [stream, self.key_names.stream_bytes(stream)], args)
            if replica_wait_ms is None:
                reply = scripts.run(self.redis, call)
            else:
                reply = run_confirmed(self.redis, stream, call, replica_wait_ms)
            if text(reply[0]) != "ok":
                what, held = text(reply[1]), int(reply[2])
                raise Unavailable(
                    f"The ingest backlog is over its limit of {max_events} events or "
                    f"{max_bytes} bytes (AUDIT_MAX_BACKLOG, AUDIT_MAX_BACKLOG_BYTES): "
                    f"{held} {what} not yet stored.",
                    retry_after=5,
                )
            ids += [text(i) for i in reply[1:]]
        return ids

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
            else:
                self.watch.begin(stream)

    def read(self, consumer: str, count: int, block_ms: int, start: int = 0) -> list[Entry]:
        """New entries for ``consumer``: at most ``count`` per stream, waiting up to ``block_ms``.

        Every stream is read in one pipeline, starting at ``start`` so that no stream
        waits behind the others: a direct producers' stream with the guarded read, an
        HTTP stream with a plain ``XREADGROUP`` (see :meth:`_reads`). Only when all are
        empty does it wait, on one stream (a wait on several would cross hash slots on a
        cluster), for anything after the last id the read saw there.
        """
        # at most twice ``count`` entries in all (each at most AUDIT_MAX_EVENT_BYTES as read)
        count_each = count if len(self.streams) <= 2 else max(16, 2 * count // len(self.streams))
        rotation = start % len(self.streams)
        order = self.streams[rotation:] + self.streams[:rotation]
        entries = self._reads(consumer, order, count_each)
        if entries or block_ms <= 0:
            return entries
        wait_on = order[0]
        self.redis.xread({wait_on: self._last_ids.get(wait_on, "$")}, block=min(block_ms, 200))
        return self._reads(consumer, order, count_each)

    def _reads(self, consumer: str, order: list[str], count: int) -> list[Entry]:
        """One pipeline reading each stream of ``order``.

        What the guarded read guards against cannot happen on an HTTP stream: only the
        API adds to it (with ``*`` ids, each event within AUDIT_MAX_EVENT_BYTES) and only
        workers trim it, after consumption. There a plain ``XREADGROUP`` does, which costs
        Redis ~2 us an event against the script's ~6.5 (the script copies every entry
        into Lua and back). An ``XREVRANGE`` of one entry before it gives the stream's
        last id for the wait in :meth:`read`.
        """
        calls = [
            None if stream in self.http else self.watch.read_call(stream, consumer, count)
            for stream in order
        ]
        pipe = self.redis.pipeline(transaction=False)
        for stream, call in zip(order, calls, strict=True):
            if call is None:
                pipe.xrevrange(stream, "+", "-", count=1)
                pipe.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
            else:
                scripts.pipe_call(pipe, call)
        replies = iter(pipe.execute(raise_on_error=False))
        entries: list[Entry] = []
        for stream, call in zip(order, calls, strict=True):
            if call is None:
                last, reply = next(replies), next(replies)
                for value in (last, reply):
                    if isinstance(value, Exception):
                        raise value
                rows = reply[0][1] if reply else []
                if last:
                    self._last_ids[stream] = text(last[0][0])
                entries += [Entry(stream, text(entry_id), fields_) for entry_id, fields_ in rows]
                continue
            reply = next(replies)
            if isinstance(reply, redis.exceptions.NoScriptError):
                # the scripts are gone (a restart, SCRIPT FLUSH): read this stream again,
                # alone (scripts.run loads them), rather than the whole pipeline as
                # scripts.execute would, whose plain reads delivered their entries already
                reply = scripts.run(self.redis, call)
            if isinstance(reply, Exception):
                raise reply
            read = self.watch.parse(stream, reply)
            self._last_ids[stream] = read.last_id
            entries += [Entry(stream, entry_id, fields_) for entry_id, fields_ in read.entries]
        return entries

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
            delivered = set()
            for entry_id, fields_ in got:
                if fields_ is not None:  # None: deleted (older Redis, fakeredis)
                    eid = text(entry_id)
                    delivered.add(eid)
                    claimed.append(Entry(stream, eid, fields_, counts[eid] + 1))
            # Redis 7 drops a deleted entry from the pending list when it is claimed, and
            # does not return it: one not delivered that is gone from the stream was
            # deleted before it was stored (one still there was claimed by another worker)
            missing = [eid for eid in counts if eid not in delivered]
            if missing:  # one round trip for all of them
                pipe = self.redis.pipeline(transaction=False)
                for eid in missing:
                    pipe.xrange(stream, eid, eid)
                found = pipe.execute()
                gone = [eid for eid, rows in zip(missing, found, strict=True) if not rows]
                self.watch.count_vanished(stream, gone)
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
    def backlog(self) -> int:
        """Entries not yet acked by the group: never delivered, plus pending.

        "Never delivered" is counted on a direct producers' stream from the guarded reads'
        own counter where there is one: Redis's ``lag`` keeps counting entries a producer
        trimmed away before they were read (trimming leaves no tombstone), forever, which
        would let a producer hold HTTP ingest at 503 by trimming its own stream. On an
        HTTP stream, which no producer trims and which is not read through that script,
        it is Redis's ``lag`` (at most the stream's length).
        """
        pipe = self.redis.pipeline(transaction=False)  # one round trip for every stream
        for stream in self.streams:
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
            pipe.get(self.key_names.stream_delivered(stream))
        replies = pipe.execute(raise_on_error=False)
        total = 0
        for stream, info, groups, delivered in zip(
            self.streams, replies[::3], replies[1::3], replies[2::3], strict=True
        ):
            if isinstance(info, redis.ResponseError):  # no such stream yet
                continue
            for reply in (info, groups, delivered):
                if isinstance(reply, Exception):
                    raise reply
            group = next((g for g in groups if text(g["name"]) == GROUP), None)
            length = int(info["length"])
            if group is None:  # nobody consumes it yet: all of it waits
                total += length
                continue
            lag = group.get("lag")
            if stream in self.http:
                undelivered = length if lag is None else min(length, int(lag))
            elif delivered is not None:
                undelivered = undelivered_of(info, delivered)
            else:  # before the first guarded read: Redis's own count
                undelivered = int(lag) if lag is not None else 0
            total += int(group.get("pending") or 0) + undelivered
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
        """Delete consumers idle at least ``idle_ms`` with nothing pending on any stream;
        returns their names. (Every read touches every stream, so a consumer exists on
        each: it is forgotten everywhere or nowhere.)"""
        seen: dict[str, list[tuple[str, bool]]] = {}
        for stream in self.streams:
            try:
                consumers = self.redis.xinfo_consumers(stream, GROUP)
            except redis.ResponseError:
                continue
            for consumer in consumers:
                idle = int(consumer["pending"]) == 0 and int(consumer["idle"]) >= idle_ms
                seen.setdefault(text(consumer["name"]), []).append((stream, idle))
        forgotten = [name for name, where in seen.items() if all(idle for _, idle in where)]
        for name in forgotten:
            for stream, _ in seen[name]:
                self.redis.xgroup_delconsumer(stream, GROUP, name)
        return forgotten

    def dead_count(self) -> int:
        return int(self.redis.xlen(self.key_names.dead))


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
