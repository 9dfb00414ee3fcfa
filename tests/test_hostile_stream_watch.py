"""Rows 1 and 2, what the ACL cannot forbid: a producer's XADD MAXLEN/MINID trimming
entries before they are consumed is counted; an id far ahead of the clock is reported."""

from __future__ import annotations

import logging

import pytest
import redis

from collector.keys import GROUP, KeyNames
from collector.stream_watch import StreamWatch, deleted_unconsumed_total

STREAM = "audit:ingest"


@pytest.fixture
def watch(redis_client: redis.Redis) -> StreamWatch:
    redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    watch = StreamWatch(redis_client, KeyNames(), max_ahead_ms=300_000)
    watch.begin(STREAM)
    return watch


def _add(client: redis.Redis, n: int, **options) -> None:
    for i in range(n):
        client.xadd(STREAM, {"event": b"{}", "n": str(i)}, **options)


def test_reads_deliver_and_count_nothing_when_nothing_is_deleted(redis_client, watch):
    _add(redis_client, 5)
    first = watch.read(STREAM, "c", 3)
    second = watch.read(STREAM, "c", 10)
    assert [len(first.entries), len(second.entries)] == [3, 2]
    assert first.deleted == second.deleted == 0
    assert second.entries[0][1][b"n"] == b"3"
    assert deleted_unconsumed_total(redis_client, KeyNames()) == 0


def test_entries_trimmed_before_delivery_are_counted_once(redis_client, watch, caplog):
    _add(redis_client, 4)
    assert len(watch.read(STREAM, "c", 2).entries) == 2  # two delivered
    _add(redis_client, 3)  # five undelivered now
    redis_client.xadd(STREAM, {"event": b"{}"}, maxlen=1, approximate=False)  # a hostile trim
    with caplog.at_level(logging.WARNING):
        read = watch.read(STREAM, "c", 10)
    assert len(read.entries) == 1  # the trimming entry itself
    assert read.deleted == 5
    assert "deleted before any worker read them" in caplog.text
    assert watch.read(STREAM, "c", 10).deleted == 0  # counted once
    assert deleted_unconsumed_total(redis_client, KeyNames()) == 5


def test_trimming_everything_is_counted(redis_client, watch):
    _add(redis_client, 3)
    redis_client.xadd(STREAM, {"event": b"{}"}, maxlen=0, approximate=False)
    assert watch.read(STREAM, "c", 10).deleted == 4


def test_pending_entries_found_deleted_are_counted(redis_client, watch):
    _add(redis_client, 2)
    ids = [entry_id for entry_id, _ in watch.read(STREAM, "c", 10).entries]
    redis_client.xtrim(STREAM, maxlen=0, approximate=False)
    assert watch.count_vanished(STREAM, ids) == 2
    assert deleted_unconsumed_total(redis_client, KeyNames()) == 2


def test_an_id_far_ahead_of_the_clock_is_reported(redis_client, watch, caplog):
    redis_client.xadd(STREAM, {"event": b"{}"}, id="99999999999999-0")
    with caplog.at_level(logging.WARNING):
        watch.read(STREAM, "c", 10)
    assert "ahead of the clock" in caplog.text
    [report] = watch.report([STREAM])
    assert report.last_id == "99999999999999-0" and report.ahead_ms > 10**12


def test_a_trimmed_stream_does_not_inflate_the_backlog(redis_client, watch):
    """Redis's own lag keeps counting trimmed entries forever; the backlog does not, so a
    producer cannot hold HTTP ingest at 503 by trimming its stream."""
    from collector.streams import IngestStreams

    _add(redis_client, 50)
    watch.read(STREAM, "c", 10)
    redis_client.xadd(STREAM, {"event": b"{}"}, maxlen=1, approximate=False)
    read = watch.read(STREAM, "c", 100)
    redis_client.xack(STREAM, GROUP, *[i for i, _ in read.entries])
    streams = IngestStreams(redis_client, KeyNames())
    pending = int(redis_client.xinfo_groups(STREAM)[0]["pending"])
    assert streams.backlog() == pending  # the 10 read first are still pending, nothing else


def test_the_backlog_counts_every_entry_not_yet_acked_at_each_stage(redis_client):
    from collector.streams import IngestStreams

    streams = IngestStreams(redis_client, KeyNames())
    assert streams.backlog() == 0  # no stream yet
    for i in range(3):
        redis_client.xadd(STREAM, {"event": b"{}", "n": i})
    assert streams.backlog() == 3  # nobody consumes it yet
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    assert streams.backlog() == 3  # a group, no guarded read yet: Redis's lag
    read = StreamWatch(redis_client, KeyNames(), 300_000).read(STREAM, "c", 2)
    assert streams.backlog() == 3  # two pending, one never delivered
    redis_client.xack(STREAM, GROUP, *[i for i, _ in read.entries])
    assert streams.backlog() == 1


def test_the_backlog_of_an_http_stream_is_what_is_not_yet_acked(redis_client):
    """HTTP streams are read with a plain XREADGROUP, which leaves the guarded reads'
    counter alone: their backlog comes from Redis's lag (fails if it is taken from the
    counter, which would count every entry read and acked until the stream is trimmed)."""
    from collector.streams import IngestStreams

    streams = IngestStreams(redis_client, KeyNames())
    streams.ensure_groups()
    http = streams.http[0]
    for i in range(3):
        redis_client.xadd(http, {"event": b"{}", "n": i})
    assert streams.backlog() == 3
    read = streams.read("c", 2, 0)
    assert [e.stream for e in read] == [http, http]
    assert streams.backlog() == 3  # two pending, one never delivered
    redis_client.xack(http, GROUP, *[e.id for e in read])
    assert streams.backlog() == 1
    streams.trim_consumed()
    assert streams.backlog() == 1
