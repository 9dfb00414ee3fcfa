"""Compressed bodies: the same bytes back, plain JSON kept working, dictionaries shared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import zstandard
from helpers import event

from collector import compression
from collector.compression import Codec
from collector.events import prepare
from collector.query import Filters
from collector.store import Store
from collector.writer import BatchWriter, Delivery


def _bodies(n: int, start: int = 0) -> list[bytes]:
    """Stored bodies (without their closing brace and seq), as the store receives them."""
    return [
        orjson.dumps(
            {
                "id": f"evt-{i:05d}",
                "tenant": "acme",
                "type": ("user.login", "invoice.paid")[i % 2],
                "service": "billing",
                "actor": {"id": f"user-{i % 37}", "type": "user", "ip": f"10.0.0.{i % 200}"},
                "outcome": "success",
                "data": {"amount": i * 7, "currency": "EUR", "note": "x" * (i % 13)},
                "schema_version": 1,
            }
        )[:-1]
        for i in range(start, start + n)
    ]


def _stored(bodies: list[bytes]) -> list[bytes]:
    return [body + b',"seq":' + str(seq).encode() + b"}" for seq, body in enumerate(bodies, 1)]


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(compression, "TRAIN_AFTER", 200)


def _codec(redis_client, first: list[bytes]) -> Codec:
    return Codec(redis_client, lambda tenant: f"test:{{{tenant}}}:zdict", lambda t, n: first[:n])


def test_bodies_stay_plain_until_the_tenant_has_a_dictionary(redis_client, small):
    first = _stored(_bodies(200))
    codec = _codec(redis_client, first)
    assert codec.encode("acme", b'{"a":1') == b'{"a":1'
    codec.stored("acme", [199])  # not there yet: nothing trained, nothing read
    assert redis_client.get("test:{acme}:zdict") is None
    assert codec.decode("acme", first[0]) == first[0]  # plain JSON is returned as it is


def test_compressed_bodies_read_back_as_the_same_bytes_in_any_process(redis_client, small):
    codec = _codec(redis_client, _stored(_bodies(200)))
    codec.stored("acme", [150, 200])
    assert redis_client.get("test:{acme}:zdict")  # trained once, kept in Redis
    later = _bodies(50, start=200)
    reader = _codec(redis_client, [])  # another process: loads the dictionary from Redis
    for seq, body in enumerate(later, 201):
        encoded = codec.encode("acme", body)
        assert len(encoded) < len(body) / 2
        value = b"z" + str(seq).encode() + b":" + encoded  # what the store script keeps
        expected = body + b',"seq":' + str(seq).encode() + b"}"
        assert reader.decode("acme", value) == expected
        assert orjson.loads(reader.decode("acme", value))["seq"] == seq


def test_the_first_dictionary_stored_wins(redis_client, small):
    one = _codec(redis_client, _stored(_bodies(200)))
    two = _codec(redis_client, _stored(_bodies(200, start=5000)))
    one.stored("acme", [200])
    two.stored("acme", [200])
    body = _bodies(1, start=9)[0]
    value = b"z7:" + two.encode("acme", body)
    assert one.decode("acme", value) == body + b',"seq":7}'


def test_a_missing_dictionary_is_an_error_not_garbage(redis_client, small):
    codec = _codec(redis_client, _stored(_bodies(200)))
    codec.stored("acme", [200])
    value = b"z1:" + codec.encode("acme", _bodies(1)[0])
    redis_client.delete("test:{acme}:zdict")
    with pytest.raises(LookupError):
        _codec(redis_client, []).decode("acme", value)


def test_the_store_compresses_once_trained_and_reads_the_same_bytes(service, monkeypatch):
    monkeypatch.setattr(compression, "TRAIN_AFTER", 60)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    prepared = [
        prepare(
            event(
                id=f"e{i:04d}",
                tenant="acme",
                occurred_at=(t0 + timedelta(seconds=i)).isoformat(),
                data={"amount": i, "currency": "EUR", "note": "n" * (i % 9)},
            ),
            t0,
        )
        for i in range(200)
    ]
    writer = BatchWriter(service.redis, service.settings)
    for i in range(0, 200, 50):  # batches, as a worker stores them
        assert not writer.write([Delivery(p.id, p) for p in prepared[i : i + 50]]).failed
    events_key = service.key_names.events("acme")
    assert service.redis.hget(events_key, "e0000")[:1] == b"{"  # before the dictionary
    assert service.redis.hget(events_key, "e0199")[:1] == b"z"  # after it
    expected = {
        p.id: p.body + b',"seq":' + str(i + 1).encode() + b"}" for i, p in enumerate(prepared)
    }
    assert all(service.store.get_raw("acme", i) == raw for i, raw in expected.items())
    page = service.query.page(Filters(tenant="acme", order="asc"), 1000)
    assert page.items == list(expected.values())
    plain = sum(len(raw) for raw in expected.values())
    stored = sum(len(service.redis.hget(events_key, i)) for i in expected)
    assert stored < plain * 0.7


def test_workers_start_compressing_a_tenant_that_passed_the_threshold(
    client, redis_client, settings, drain, monkeypatch
):
    from collector.client import Producer

    monkeypatch.setattr(compression, "TRAIN_AFTER", 50)
    producer = Producer(redis=redis_client, settings=settings)
    producer.xadd([event(id=f"w{i:03d}", data={"n": i, "unit": "ms"}) for i in range(80)])
    drain()
    producer.xadd([event(id=f"x{i:03d}", data={"n": i, "unit": "ms"}) for i in range(5)])
    drain()
    assert redis_client.hget("audit:t:{default}:events", "x004")[:1] == b"z"
    body = client.get("/v1/events/x004").get_data()
    assert orjson.loads(body)["seq"] == 85 and body.endswith(b',"seq":85}')
    listed = client.get("/v1/events?limit=1").get_json()["items"][0]
    assert listed == orjson.loads(body)


def test_migration_compresses_a_store_written_before_compression(service, monkeypatch):
    monkeypatch.setattr(compression, "TRAIN_AFTER", 10**9)  # today's release: plain JSON
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    prepared = [
        prepare(event(id=f"m{i:03d}", data={"i": i, "why": "migration"}), t0) for i in range(150)
    ]
    writer = BatchWriter(service.redis, service.settings)
    assert not writer.write([Delivery(p.id, p) for p in prepared]).failed
    before = {p.id: service.store.get_raw("default", p.id) for p in prepared}
    monkeypatch.setattr(compression, "TRAIN_AFTER", 100)
    store = Store(service.redis, service.key_names)  # a new process, after upgrading
    assert store.compress_stored("default") == 150
    assert store.compress_stored("default") == 0  # idempotent
    events_key = service.key_names.events("default")
    assert all(service.redis.hget(events_key, i)[:1] == b"z" for i in before)
    assert {i: store.get_raw("default", i) for i in before} == before


def _store_sixty(service, monkeypatch, prefix: str) -> list:
    """60 events stored through the writer, in batches of 20; the last 30 compressed."""
    monkeypatch.setattr(compression, "TRAIN_AFTER", 30)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    prepared = [prepare(event(id=f"{prefix}{i:03d}", data={"i": i}), t0) for i in range(60)]
    writer = BatchWriter(service.redis, service.settings)
    for i in range(0, 60, 20):
        assert not writer.write([Delivery(p.id, p) for p in prepared[i : i + 20]]).failed
    return prepared


def test_many_ids_and_raw_values_decode_to_the_same_bytes(service, monkeypatch):
    prepared = _store_sixty(service, monkeypatch, "g")
    ids = [p.id for p in prepared] + ["missing"]
    many = service.store.get_raw_many("default", ids)
    assert many == [service.store.get_raw("default", i) for i in ids] and many[-1] is None
    raw = service.redis.hget(service.key_names.events("default"), "g059")
    assert raw[:1] == b"z" and service.store.decode("default", raw) == many[59]


def test_listing_by_seq_reads_compressed_bodies_as_the_same_bytes(service, monkeypatch):
    prepared = _store_sixty(service, monkeypatch, "q")
    assert service.redis.hget(service.key_names.events("default"), "q059")[:1] == b"z"
    page = service.query.page(Filters(after_seq=0, order="asc"), 100)
    assert page.items == [service.store.get_raw("default", p.id) for p in prepared]


def test_many_values_decode_at_once_as_each_does_alone(redis_client, small, monkeypatch):
    codec = _codec(redis_client, _stored(_bodies(200)))
    codec.stored("acme", [200])
    later = _bodies(40, start=200)
    values = [
        b"z" + str(seq).encode() + b":" + codec.encode("acme", body)
        for seq, body in enumerate(later, 201)
    ]
    values[3] = b'{"plain":1,"seq":204}'  # stored before the tenant had a dictionary
    expected = [codec.decode("acme", value) for value in values]
    assert codec.decode_many("acme", values) == expected
    assert orjson.loads(expected[0])["seq"] == 201 and expected[3] == values[3]
    corrupt = [*values[:2], values[5][:-3] + b"xyz"]
    with pytest.raises(zstandard.ZstdError):  # as decode() alone: never garbage
        codec.decode_many("acme", corrupt)

    # a frame that says it holds more than a body can be is refused, not decompressed
    monkeypatch.setattr(compression, "MAX_BODY", 100)
    with pytest.raises(zstandard.ZstdError):
        codec.decode_many("acme", values[:2])
