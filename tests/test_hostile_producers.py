"""Rows 1, 2 and 8: a producer account cannot erase or block what others sent, and
cannot steal ids silently."""

from __future__ import annotations

import orjson
import pytest
from helpers import event

from collector.keys import GROUP
from collector.stream_watch import deleted_unconsumed_total


def _post(client, body, **headers):
    return client.post(
        "/v1/events", data=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _direct_streams(service) -> list[str]:
    return service.key_names.ingest_streams()


def test_http_events_survive_a_producer_trimming_its_stream(client, service, drain):
    """Row 1: XADD MAXLEN 0 on every stream a producer may write loses none of the 202s."""
    ids = [_post(client, event(id=f"http-{n}")).get_json()["id"] for n in range(20)]
    for stream in _direct_streams(service):
        service.redis.xadd(stream, {"event": b"{}"}, maxlen=0, approximate=False)
    drain()
    for event_id in ids:
        assert service.store.get("default", event_id) is not None, event_id


def test_a_trimmed_direct_stream_is_counted(service, drain):
    service.streams.ensure_groups()
    [stream] = _direct_streams(service)
    for n in range(5):
        service.redis.xadd(stream, {"event": orjson.dumps(event(id=f"d{n}"))})
    last = {"event": orjson.dumps(event(id="last"))}
    service.redis.xadd(stream, last, maxlen=1, approximate=False)
    drain()
    assert deleted_unconsumed_total(service.redis, service.key_names) == 5
    assert service.store.get("default", "last") is not None


def test_a_far_future_id_on_a_direct_stream_does_not_stop_http_ingest(client, service, drain):
    """Row 2: the last possible id on the producers' stream; HTTP ingest goes on."""
    service.streams.ensure_groups()
    for stream in _direct_streams(service):
        service.redis.xadd(stream, {"event": b"{}"}, id="18446744073709551615-18446744073709551615")
    response = _post(client, event(id="after"))
    assert response.status_code == 202
    drain()
    assert service.store.get("default", "after") is not None


def test_every_stored_event_says_who_ingested_it(client, service, drain):
    _post(client, event(id="over-http"))
    [stream] = _direct_streams(service)
    forged = event(id="over-stream")
    service.redis.xadd(stream, {"event": orjson.dumps(forged), "ingested_by": b"someone-else"})
    drain()
    assert service.store.get("default", "over-http")["ingested_by"] == "anonymous"
    assert service.store.get("default", "over-stream")["ingested_by"] == f"stream:{stream}"


def test_a_conflicting_duplicate_is_dead_lettered_not_dropped(client, service, drain):
    """Row 8: another producer pre-claims an id with other content: the real event is a
    visible conflict, not a silent duplicate."""
    [stream] = _direct_streams(service)
    squatter = event(id="invoice-1", type="invoice.void")
    service.redis.xadd(stream, {"event": orjson.dumps(squatter)})
    drain()
    assert _post(client, event(id="invoice-1", type="invoice.paid")).status_code == 202
    stats = drain()
    assert stats["dead"] == 1
    [(_, letter)] = service.redis.xrange(service.key_names.dead)
    assert letter[b"reason"] == b"conflict"
    assert service.store.get("default", "invoice-1")["type"] == "invoice.void"
    # the same content again is a plain duplicate: nothing dead-lettered
    service.redis.xadd(stream, {"event": orjson.dumps(squatter)})
    assert drain()["dead"] == 0
    assert service.redis.xlen(service.key_names.dead) == 1


def test_occurred_at_is_compared_only_when_both_carry_one(service, drain):
    [stream] = _direct_streams(service)
    service.redis.xadd(stream, {"event": orjson.dumps(event(id="e1"))})
    drain()
    later = event(id="e1", occurred_at="2026-01-01T00:00:00Z")
    service.redis.xadd(stream, {"event": orjson.dumps(later)})
    assert drain()["dead"] == 0


@pytest.mark.parametrize("field", ["received_at", "legacy", "seed"])
def test_direct_producers_cannot_set_server_fields(service, drain, field):
    [stream] = _direct_streams(service)
    value = b"2000-01-01T00:00:00Z" if field == "received_at" else b'{"user_id": "x"}'
    service.redis.xadd(stream, {"event": orjson.dumps(event(id="f")), field: value})
    drain()
    stored = service.store.get("default", "f")
    assert stored["received_at"] != "2000-01-01T00:00:00.000000Z"
    assert "legacy" not in stored and "seed" not in stored
    assert GROUP  # the group exists for every stream the worker read


@pytest.mark.real
def test_status_reports_deletions_far_future_ids_and_conflicts(redis_server, monkeypatch, capsys):
    import redis

    from cli import main
    from collector.service import AuditService
    from collector.settings import Settings
    from worker import StreamWorker

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    settings = Settings(auth=False)
    svc = AuditService(client, settings)
    svc.streams.ensure_groups()
    [stream] = svc.key_names.ingest_streams()
    for n in range(3):
        client.xadd(stream, {"event": orjson.dumps(event(id=f"s{n}"))})
    client.xadd(stream, {"event": b"{}"}, maxlen=0, approximate=False)
    client.xadd(stream, {"event": orjson.dumps(event(id="future"))}, id="99999999999999-0")
    StreamWorker(client, settings, name="w").run_burst()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"stream {stream}: 4 entries deleted before they were stored" in out
    assert "ahead of the clock" in out
    assert "deleted before consumption (all ingest streams): 4" in out
