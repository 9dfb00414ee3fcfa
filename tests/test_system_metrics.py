"""System-wide figures read from Redis at scrape time, and the status reading behind them."""

from __future__ import annotations

import time

import fakeredis
import orjson
from helpers import event
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collector.client import Producer
from collector.metrics import SystemMetrics
from collector.status import read_status


def scrape(service) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(SystemMetrics(service.redis, service.key_names))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_figures_follow_what_was_sent(service, drain):
    producer = Producer(redis=service.redis, settings=service.settings)
    producer.xadd([event(id=f"e{i}", tenant="acme" if i % 2 else "beta") for i in range(7)])
    stream = service.key_names.ingest_streams()[0]
    service.redis.xadd(stream, {"event": "{not json"})
    before = scrape(service)
    assert before[("audit_ingest_lag", (("stream", stream),))] == 8
    assert before[("audit_events_stored_total", ())] == 0

    drain()
    producer.xadd([event(id="e1", tenant="acme")])  # a duplicate
    drain()
    got = scrape(service)
    assert got[("audit_events_stored_total", ())] == 7
    assert got[("audit_events_duplicate_total", ())] == 1
    assert got[("audit_dead_letters_total", ())] == 1
    assert got[("audit_dead_letters", ())] == 1
    assert got[("audit_ingest_lag", (("stream", stream),))] == 0
    assert got[("audit_ingest_pending", (("stream", stream),))] == 0
    assert got[("audit_workers_alive", ())] == 1
    assert got[("audit_redis_up", ())] == 1


def test_an_unreachable_redis_is_a_gauge_not_a_failed_scrape(service):
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    server.connected = False
    service.redis = client
    got = scrape(service)
    assert got == {("audit_redis_up", ()): 0}


def test_a_cluster_without_a_master_for_a_slot_is_a_gauge_too(service, monkeypatch):
    """redis-py's cluster errors are not RedisError subclasses; the scrape still answers."""
    from redis.exceptions import RedisClusterException

    def no_master(*args, **kwargs):
        raise RedisClusterException("no master for slot")

    monkeypatch.setattr(service.redis, "xlen", no_master)
    monkeypatch.setattr(service.redis, "get", no_master)
    monkeypatch.setattr(service.redis, "mget", no_master)
    assert scrape(service)[("audit_redis_up", ())] == 0


def test_status_reads_streams_consumers_workers_tenants(service, drain):
    Producer(redis=service.redis, settings=service.settings).xadd(
        [event(tenant="acme"), event(tenant="acme"), event(tenant="beta")]
    )
    drain(name="w-1")
    status = read_status(service.redis, service.key_names, "redis://u:pw@h:1/0")
    data = orjson.loads(orjson.dumps(status.to_dict()))
    assert data["redis"] == "redis://u:***@h:1/0"
    [stream] = [s for s in data["streams"] if s["name"] == "audit:ingest"]
    assert stream["group"] is True and stream["lag"] == 0 and stream["pending"] == 0
    assert [c["name"] for c in stream["consumers"]] == ["w-1"]
    assert data["tenants"] == [{"name": "acme", "events": 2}, {"name": "beta", "events": 1}]
    assert data["events_stored"] == 3 and data["workers_alive"] == 1
    assert data["dead_letters"] == 0 and data["backlog"] == 0
    assert "durability" in data and "integrity" in data


def test_entries_a_producer_trimmed_before_they_were_stored_are_reported(service, drain):
    """/metrics and status show what a producer account deleted from its own stream."""
    producer = Producer(redis=service.redis, settings=service.settings)
    producer.xadd([event(id=f"t{i}") for i in range(2)])
    drain()  # the group and its counters exist; two stored
    producer.xadd([event(id=f"u{i}") for i in range(4)])
    stream = service.key_names.ingest_streams()[0]
    service.redis.xadd(stream, {"event": b"{}"}, maxlen=1, approximate=False)  # a hostile trim
    drain()
    got = scrape(service)
    assert got[("audit_ingest_deleted_unconsumed_total", ())] == 4
    assert got[("audit_ingest_ahead_seconds", (("stream", stream),))] == 0
    status = read_status(service.redis, service.key_names)
    assert status.to_dict()["deleted_unconsumed"] == 4


def test_an_id_a_producer_put_in_the_future_shows_in_metrics(service, drain):
    stream = service.key_names.ingest_streams()[0]
    ahead_ms = 3_600_000
    future = f"{int(time.time() * 1000) + ahead_ms}-0"
    service.redis.xadd(stream, {"event": b"{}"}, id=future)
    seconds = scrape(service)[("audit_ingest_ahead_seconds", (("stream", stream),))]
    assert ahead_ms / 1000 - 60 < seconds <= ahead_ms / 1000
