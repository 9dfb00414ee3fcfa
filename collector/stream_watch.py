"""What a producer account can still do to its own stream, detected and counted.

A stream producer may only ``XADD`` (see :mod:`collector.acl`), but ``XADD`` takes
``MAXLEN``/``MINID``, which trims the stream's head, and an explicit id, which can be
far in the future (all later ``XADD *`` then get ids after it; at the very end of the
id space they fail). Neither can be forbidden by an ACL, so both are detected:

- every read goes through ``guarded_read.lua``, which counts the entries deleted
  before the group got them, atomically with the read, in a counter beside the stream;
- an entry found deleted while pending (a claim returns no fields) is counted too;
- a stream whose last id is far ahead of the clock is reported.

The counters and the clock check are what ``status`` and ``/metrics``
(``audit_ingest_deleted_unconsumed_total``, ``audit_ingest_ahead_seconds``) show; the
worker logs each new deletion as a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from collector import scripts
from collector.connection import text
from collector.keys import GROUP, KeyNames
from collector.scripts import ScriptCall

log = logging.getLogger(__name__)


def id_ms(entry_id: bytes | str) -> int:
    """The millisecond part of a stream id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


@dataclass(frozen=True)
class GuardedRead:
    """One guarded read of one stream: its entries (as ``(id, fields)``), how many
    entries were found deleted before delivery, and the stream's last id."""

    entries: list[tuple[str, dict[bytes, bytes]]]
    deleted: int
    last_id: str


@dataclass(frozen=True)
class StreamReport:
    """What :meth:`StreamWatch.report` says about one ingest stream."""

    stream: str
    deleted_unconsumed: int
    last_id: str | None
    ahead_ms: int  # how far the last id is ahead of the clock (0 if not)


class StreamWatch:
    """Guarded reads, and the counts of entries producers deleted before consumption."""

    def __init__(
        self,
        redis_client: redis.Redis,
        key_names: KeyNames,
        max_ahead_ms: int,
        max_value_bytes: int = 65536,
    ) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.max_ahead_ms = max_ahead_ms
        self.max_value_bytes = max_value_bytes

    def begin(self, stream: str) -> None:
        """Start counting for a group just created at 0: everything in the stream now is
        undelivered, everything trimmed before was never ours to lose."""
        info = self.redis.xinfo_stream(stream)
        delivered = int(info["entries-added"]) - int(info["length"])
        self.redis.set(self.key_names.stream_delivered(stream), delivered, nx=True)

    def read_call(self, stream: str, consumer: str, count: int) -> ScriptCall:
        """The guarded read of ``stream`` for ``consumer`` (at most ``count`` entries), as a
        script call (run it, or add it to a pipeline; :meth:`parse` reads the reply)."""
        k = self.key_names
        keys = [stream, k.stream_delivered(stream), k.stream_deleted(stream)]
        return ScriptCall("guarded_read", keys, [GROUP, consumer, count, self.max_value_bytes])

    def read(self, stream: str, consumer: str, count: int) -> GuardedRead:
        """New entries of ``stream`` for ``consumer`` (at most ``count``), with the check."""
        return self.parse(stream, scripts.run(self.redis, self.read_call(stream, consumer, count)))

    def parse(self, stream: str, reply: Any) -> GuardedRead:
        """A :class:`GuardedRead` from the script's reply; logs deletions and far ids."""
        items, deleted, last_id = reply[0], int(reply[1]), text(reply[2])
        entries: list[tuple[str, dict[bytes, bytes]]] = []
        for entry_id, flat in items or []:
            fields = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
            entries.append((text(entry_id), fields))
        if deleted:
            log.warning(
                "%d entr%s of %s deleted before any worker read them (XADD MAXLEN/MINID by "
                "a producer?); those events are lost",
                deleted,
                "y" if deleted == 1 else "ies",
                stream,
            )
        self._check_clock(stream, last_id)
        return GuardedRead(entries, deleted, last_id)

    def count_vanished(self, stream: str, entry_ids: Iterable[str]) -> int:
        """Count pending entries found deleted before they were stored (and ack them, for
        a Redis that still lists them as pending)."""
        ids = list(entry_ids)
        if not ids:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(stream, GROUP, *ids)
        pipe.incrby(self.key_names.stream_deleted(stream), len(ids))
        pipe.execute()
        log.warning(
            "%d pending entr%s of %s deleted before they were stored; those events are lost",
            len(ids),
            "y" if len(ids) == 1 else "ies",
            stream,
        )
        return len(ids)

    def _check_clock(self, stream: str, last_id: str) -> None:
        ahead = id_ms(last_id) - int(time.time() * 1000)
        if ahead > self.max_ahead_ms:
            log.warning(
                "%s: last id %s is %.0f s ahead of the clock: a producer added an id far in "
                "the future; later entries get ids after it",
                stream,
                last_id,
                ahead / 1000,
            )

    def deleted_unconsumed(self, streams: Iterable[str]) -> dict[str, int]:
        """Entries deleted before consumption, per stream, since the stream began."""
        names = list(streams)
        pipe = self.redis.pipeline(transaction=False)  # one GET each: the keys span slots
        for stream in names:
            pipe.get(self.key_names.stream_deleted(stream))
        values = pipe.execute() if names else []
        return {s: int(v or 0) for s, v in zip(names, values, strict=True)}

    def report(self, streams: Iterable[str]) -> list[StreamReport]:
        """Per stream: deleted unconsumed, last id, and how far ahead of the clock it is."""
        names = list(streams)
        deleted = self.deleted_unconsumed(names)
        now_ms = int(time.time() * 1000)
        reports = []
        for stream in names:
            try:
                info = self.redis.xinfo_stream(stream)
                last_id: str | None = text(info["last-generated-id"])
            except redis.ResponseError:  # no such stream yet
                last_id = None
            ahead = max(0, id_ms(last_id) - now_ms) if last_id else 0
            reports.append(StreamReport(stream, deleted[stream], last_id, ahead))
        return reports


def deleted_unconsumed_total(redis_client: redis.Redis, key_names: KeyNames) -> int:
    """``audit_ingest_deleted_unconsumed_total``: entries producers deleted before any
    worker stored them, over every ingest stream (read from Redis at scrape time)."""
    watch = StreamWatch(redis_client, key_names, 0)
    return sum(watch.deleted_unconsumed(key_names.all_ingest_streams()).values())


def undelivered_of(info: dict[str, Any], delivered: bytes | str | int) -> int:
    """Entries of a stream not yet delivered to the group (those trimmed away before
    delivery not counted), from its ``XINFO STREAM`` and its delivered counter."""
    added, length = int(info["entries-added"]), int(info["length"])
    # at most what is there: entries trimmed since the last read are not counted yet
    return max(0, min(length, added - int(delivered)))
