"""The worker's long-running behaviour: live loop, warm stop, outages, housekeeping."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import fakeredis
import pytest
import redis
from helpers import RedisServer, event, wait_for

from collector import scripts
from collector.client import Producer
from collector.keys import GROUP
from collector.service import AuditService
from collector.settings import Settings
from collector.status import read_workers
from collector.timefmt import format_utc, now_utc
from worker import StreamWorker
from worker.backoff import Backoff


def _start(worker: StreamWorker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def test_live_worker_stores_then_stops_warm(redis_client, settings):
    svc = AuditService(redis_client, settings)
    worker = StreamWorker(redis_client, settings, name="live", block_ms=50)
    thread = _start(worker)
    Producer(redis=redis_client, settings=settings).xadd(event(id="live-1"))
    wait_for(lambda: svc.store.get("default", "live-1"))
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    alive = [w.name for w in read_workers(svc.redis, svc.key_names) if w.alive]
    assert alive == ["live"]


def test_worker_survives_a_fakeredis_outage_and_a_lost_group():
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    settings = Settings(auth=False)
    svc = AuditService(client, settings)
    worker = StreamWorker(client, settings, name="outage", block_ms=50)
    thread = _start(worker)
    Producer(redis=client, settings=settings).xadd(event(id="before"))
    wait_for(lambda: svc.store.get("default", "before"))
    server.connected = False
    wait_for(lambda: not worker._ready)  # it noticed and is backing off
    server.connected = True
    client.flushall()  # Redis "came back" empty: no stream, no group
    Producer(redis=client, settings=settings).xadd(event(id="after"))
    wait_for(lambda: svc.store.get("default", "after"))
    worker.stop()
    thread.join(timeout=10)


@pytest.mark.real
def test_worker_resumes_within_10s_after_a_real_redis_restart(redis_server):
    server = RedisServer(shutil.which("redis-server") or "redis-server")
    server.start()
    try:
        client = redis.Redis(port=server.port, socket_timeout=5)
        settings = Settings(auth=False)
        svc = AuditService(client, settings)
        worker = StreamWorker(client, settings, name="restart", block_ms=100)
        thread = _start(worker)
        Producer(redis=client, settings=settings).xadd(event(id="one"))
        wait_for(lambda: svc.store.get("default", "one"))
        server.stop()
        wait_for(lambda: not worker._ready)
        server.start()  # same port, empty: the group must be recreated
        Producer(redis=client, settings=settings).xadd(event(id="two"))
        wait_for(lambda: svc.store.get("default", "two"), timeout=10)
        worker.stop()
        thread.join(timeout=10)
    finally:
        server.cleanup()


def test_backoff_is_capped_below_the_resume_promise():
    backoff = Backoff()
    delays = [backoff.next() for _ in range(20)]
    assert max(delays) <= 2.0
    assert delays[0] <= 0.1
    backoff.reset()
    assert backoff.next() <= 0.1


def test_trim_drops_acked_entries_but_never_unconsumed_ones(service, drain):
    producer = Producer(redis=service.redis, settings=service.settings)
    producer.xadd([event(id=f"a{i}") for i in range(300)])
    drain()
    producer.xadd([event(id=f"b{i}") for i in range(5)])  # not consumed yet
    stream = service.streams.streams[0]
    before = service.redis.xlen(stream)
    trimmed = service.streams.trim_consumed()
    # "~" trims whole stream nodes only, so maybe not all 300 consumed ones; never more
    assert 0 < trimmed <= 300
    assert service.redis.xlen(stream) == before - trimmed
    [info] = service.redis.xinfo_groups(stream)
    assert info["lag"] == 5
    drain()
    assert service.store.count("default") == 305


def test_a_worker_that_caught_up_trims_what_it_consumed(redis_client, settings):
    # XTRIM "~" removes at most 100 stream nodes a call: with nodes of 10 entries, 1,000
    n = 1_200
    real = not isinstance(redis_client, fakeredis.FakeRedis)
    if real:
        redis_client.config_set("stream-node-max-entries", 10)
    try:
        Producer(redis=redis_client, settings=settings).xadd([event(id=f"c{i}") for i in range(n)])
        worker = StreamWorker(redis_client, settings, name="trimmer", block_ms=10)
        while worker.stats["stored"] < n:
            worker.step()
        assert redis_client.xlen("audit:ingest") == n  # still there while it was busy
        worker.step()  # nothing new: it trims now, not at the next periodic trim
        assert redis_client.xlen("audit:ingest") <= 10  # whole stream nodes only ("~")
        worker.flush()
        worker.close()
    finally:
        if real:
            redis_client.config_set("stream-node-max-entries", 100)


def test_trim_keeps_everything_while_no_group_exists(service):
    Producer(redis=service.redis, settings=service.settings).xadd([event() for _ in range(3)])
    stream = service.streams.streams[0]
    service.redis.xgroup_destroy(stream, GROUP)
    service.streams.trim_consumed()
    assert service.redis.xlen(stream) == 3


def test_retention_purges_old_events_and_their_index_entries(redis_client):
    settings = Settings(auth=False, retention_days=30)
    svc = AuditService(redis_client, settings)
    old = format_utc(now_utc() - timedelta(days=31))
    new = format_utc(now_utc() - timedelta(days=29))
    Producer(redis=redis_client, settings=settings).xadd(
        [event(id="old", occurred_at=old, target={"id": "x"}), event(id="new", occurred_at=new)]
    )
    StreamWorker(redis_client, settings, name="w").run_burst()
    assert [r.purged for r in svc.maintenance.retention.run_scheduled()] == [1]
    assert svc.store.get("default", "old") is None
    assert svc.store.get("default", "new") is not None
    from collector.query import Filters

    assert [e["id"] for e in svc.query.iterate(Filters())] == ["new"]
    assert list(svc.query.iterate(Filters(target_id="x"))) == []
    # a second worker in the same minute does not purge again (the lock)
    assert svc.maintenance.retention.run_scheduled() == []


def test_idle_consumers_without_pending_entries_are_forgotten(service, drain):
    Producer(redis=service.redis, settings=service.settings).xadd(event())
    drain(name="old-worker")
    service.streams.read("busy-worker", 10, 0)  # nothing left to read, but it exists now
    Producer(redis=service.redis, settings=service.settings).xadd(event())
    service.streams.read("busy-worker", 10, 0)  # holds one pending entry
    forgotten = service.streams.forget_idle_consumers(0)
    assert forgotten == ["old-worker"]
    names = [c["name"] for c in service.redis.xinfo_consumers(service.streams.streams[0], GROUP)]
    assert names == [b"busy-worker"]


def test_a_failing_store_keeps_entries_pending_then_dead_letters_them(service, monkeypatch):
    """Never acked without being stored, and never retried forever."""
    Producer(redis=service.redis, settings=service.settings).xadd(event(id="unlucky"))
    worker = StreamWorker(service.redis, service.settings, name="w")
    failing = service.redis.script_load("return redis.error_reply('boom')")
    real_sha = scripts.sha
    monkeypatch.setattr(scripts, "sha", lambda name: failing if name == "store" else real_sha(name))
    worker.run_burst()
    assert service.streams.backlog() == 1  # not acked: it was not stored
    for _ in range(service.settings.max_deliveries):
        worker.claim_idle(0)
    assert service.streams.backlog() == 0
    [(_, fields)] = service.redis.xrange(service.key_names.dead)
    assert fields[b"reason"] == b"delivery limit"
    assert service.store.get("default", "unlucky") is None


def test_an_unexpected_error_does_not_end_the_worker(redis_client, settings, monkeypatch):
    svc = AuditService(redis_client, settings)
    worker = StreamWorker(redis_client, settings, name="sturdy", block_ms=50)
    calls = {"n": 0}
    original = worker.handle

    def flaky(entries):
        if entries and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("a bug")
        return original(entries)

    monkeypatch.setattr(worker, "handle", flaky)
    thread = _start(worker)
    Producer(redis=redis_client, settings=settings).xadd(event(id="survivor"))
    wait_for(lambda: svc.store.get("default", "survivor"))
    worker.stop()
    thread.join(timeout=10)
    assert calls["n"] == 1


def test_an_entry_the_decoder_chokes_on_is_dead_lettered_alone(service, drain, monkeypatch):
    """A bug while decoding one entry costs that entry (a dead letter), not its batch."""
    import worker.stream as stream_module

    real = stream_module.from_entry

    def choke_on_bad(entry, *args, **kwargs):
        if b"bad" in entry.fields.get(b"event", b""):
            raise KeyError("a decoder bug")
        return real(entry, *args, **kwargs)

    monkeypatch.setattr(stream_module, "from_entry", choke_on_bad)
    Producer(redis=service.redis, settings=service.settings).xadd(
        [event(id="good-1"), event(id="bad-1"), event(id="good-2")]
    )
    stats = drain()
    assert stats["stored"] == 2 and stats["dead"] == 1
    [(_, letter)] = service.redis.xrange(service.key_names.dead)
    assert letter[b"reason"].decode().startswith("could not be decoded: KeyError")
    assert service.streams.backlog() == 0
