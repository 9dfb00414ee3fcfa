"""What is accepted is stored: size limits, exact integers and trusted fields agree
between the API and the worker."""

from __future__ import annotations

import orjson
from helpers import assert_problem, event

from collector.settings import Settings

LIMIT = 2048


def _settings() -> Settings:
    return Settings(auth=False, max_event_bytes=LIMIT)


def _sized(size: int, **fields) -> dict:
    """An event whose JSON (as the producer sends it) is exactly ``size`` bytes."""
    body = event(data={"pad": ""}, **fields)
    base = len(orjson.dumps(body))
    body["data"]["pad"] = "x" * (size - base)
    assert len(orjson.dumps(body)) == size
    return body


def test_accepted_event_at_the_limit_is_stored_not_dead_lettered(redis_client):
    from api import create_app
    from worker import StreamWorker

    settings = _settings()
    client = create_app(settings, redis_client).test_client()
    # id, tenant and occurred_at given: nothing is filled in, the entry is the body
    body = _sized(LIMIT, id="at-limit", tenant="acme", occurred_at="2026-11-28T09:15:00Z")
    response = client.post("/v1/events", data=orjson.dumps(body), content_type="application/json")
    assert response.status_code == 202
    stats = StreamWorker(redis_client, settings, name="w").run_burst()
    assert stats["dead"] == 0 and stats["stored"] == 1
    over = _sized(LIMIT + 1, id="over", tenant="acme", occurred_at="2026-11-28T09:15:00Z")
    response = client.post("/v1/events", data=orjson.dumps(over), content_type="application/json")
    assert response.status_code == 413


def test_body_under_the_limit_but_over_it_once_filled_in_is_413(redis_client):
    from api import create_app

    client = create_app(_settings(), redis_client).test_client()
    response = client.post(
        "/v1/events", data=orjson.dumps(_sized(LIMIT - 10)), content_type="application/json"
    )
    assert_problem(response, 413)
    assert redis_client.xlen("audit:ingest") == 0


def test_a_single_oversized_object_is_refused_before_parsing(client, settings):
    body = b"{" + b" " * settings.max_event_bytes + b"not json"
    response = client.post("/v1/events", data=body, content_type="application/json")
    assert response.status_code == 413


def test_integers_beyond_64_bits_are_refused_not_rounded(client, service, drain):
    body = orjson.dumps(event(id="big")).replace(b'"actor"', b'"data":{"n":1},"actor"')
    body = body.replace(b'{"n":1}', b'{"n":123456789012345678901234567890}')
    response = client.post("/v1/events", data=body, content_type="application/json")
    assert response.status_code == 422  # valid JSON, but not an event we can keep exactly
    assert "64 bits" in response.json["errors"]["_schema"][0]
    # Within 64 bits but past 2**53 - 1: JCS (the leaf of the integrity tree) cannot write
    # it exactly, so two verifiers could disagree on the event: refused too.
    past = body.replace(b"123456789012345678901234567890", b"18446744073709551615")
    response = client.post("/v1/events", data=past, content_type="application/json")
    assert response.status_code == 422
    assert "2**53 - 1" in response.json["errors"]["data"][0]
    fine = body.replace(b"123456789012345678901234567890", b"9007199254740991")
    assert client.post("/v1/events", data=fine, content_type="application/json").status_code == 202
    drain()
    assert service.store.get("default", "big")["data"] == {"n": 9007199254740991}


def test_stream_entry_with_a_huge_integer_is_dead_lettered(service, drain):
    raw = orjson.dumps(event(id="s")).replace(
        b'"actor"', b'"data":{"n":99999999999999999999999},"actor"'
    )
    service.redis.xadd(service.streams.streams[0], {"event": raw})
    assert drain()["dead"] == 1
    [(_, fields)] = service.redis.xrange(service.key_names.dead)
    assert fields[b"reason"] == b"invalid event"
    assert b"64 bits" in fields[b"errors"]


def test_stream_entry_with_an_integer_past_2_53_is_dead_lettered(service, drain):
    raw = orjson.dumps(event(id="s", data={"n": 2**53}))
    service.redis.xadd(service.streams.streams[0], {"event": raw})
    assert drain()["dead"] == 1
    [(_, fields)] = service.redis.xrange(service.key_names.dead)
    assert fields[b"reason"] == b"invalid event"
    assert b"2**53 - 1" in fields[b"errors"]


def test_stream_legacy_fields_are_checked_and_reads_stay_up(service, drain, client):
    stream = service.streams.streams[0]
    service.redis.xadd(stream, {"event": orjson.dumps(event(id="s1")), "legacy": "[1,2]"})
    service.redis.xadd(
        stream,
        {"event": orjson.dumps(event(id="s2")), "legacy": '{"user_id":{"deep":1},"status":"x"}'},
    )
    # "seed", the field's former name: entries added before an upgrade still carry it
    service.redis.xadd(
        stream, {"event": orjson.dumps(event(id="s3")), "seed": '{"user_id":"7","status":201}'}
    )
    stats = drain()
    assert stats["dead"] == 2 and stats["stored"] == 1
    reasons = [f[b"reason"] for _, f in service.redis.xrange(service.key_names.dead)]
    assert reasons == [b"invalid legacy fields", b"invalid legacy fields"]
    listed = client.get("/events", headers={"X-Client-ID": "c"})
    assert listed.status_code == 200
    assert [e["user_id"] for e in listed.json] == ["7"]


def test_legacy_post_over_the_limit_is_413_not_a_lost_201(redis_client):
    from api import create_app

    client = create_app(_settings(), redis_client).test_client()
    response = client.post(
        "/event",
        headers={"X-Client-ID": "legacy"},
        json={"event_type": "user.login", "entity_json": {"p": "x" * LIMIT}},
    )
    assert response.status_code == 413
    assert response.json["error"] == "Event too large"
    response = client.post(
        "/event",
        headers={"X-Client-ID": "legacy"},
        json={"event_type": "user.login", "user_id": "u" * 1025},
    )
    assert response.status_code == 400
    assert response.json["error"] == "Invalid JSON provided."


def test_a_repeated_query_parameter_is_400_not_the_first_one(client):
    response = client.get("/v1/events?tenant=acme&tenant=beta")
    assert response.status_code == 400
    assert response.json["errors"] == {"tenant": ["Given more than once."]}


def test_backlog_limit_counts_what_this_process_added_since_it_looked(redis_client):
    from api import create_app

    client = create_app(Settings(auth=False, max_backlog=3), redis_client).test_client()
    codes = [client.post("/v1/events", json=event()).status_code for _ in range(6)]
    assert codes[:4] == [202, 202, 202, 202]  # 0, 1, 2, 3 waiting: not over 3 yet
    assert codes[4:] == [503, 503]


def test_producer_without_settings_reads_the_environment(fake_redis, monkeypatch):
    from collector.client import Producer

    monkeypatch.setenv("AUDIT_STREAM_PARTITIONS", "3")
    [entry_id] = Producer(redis=fake_redis).xadd(event(tenant="acme"))
    assert sum(fake_redis.xlen(f"audit:ingest:{{{k}}}") for k in range(3)) == 1
    assert fake_redis.xlen("audit:ingest") == 0 and entry_id


def test_long_digit_strings_and_64_bit_integers_pass_the_exactness_check():
    from collector import jsoncodec

    raw = b'{"card":"12345678901234567890123456","n":-9223372036854775808,"f":1.5e300}'
    assert jsoncodec.loads(raw) == {
        "card": "12345678901234567890123456",
        "n": -9223372036854775808,
        "f": 1.5e300,
    }


def test_integer_beyond_64_bits_in_a_content_type_error_is_still_415(client):
    body = b'{"type":"a.b","service":"s","actor":{"id":"u"},"data":{"n":18446744073709551616}}'
    assert client.post("/v1/events", data=body, content_type="text/plain").status_code == 415


def test_legacy_status_must_fit_64_bits_and_big_legacy_bodies_are_413_unparsed(redis_client):
    from api import create_app

    client = create_app(_settings(), redis_client).test_client()
    headers = {"X-Client-ID": "legacy"}
    response = client.post(
        "/event", headers=headers, json={"event_type": "k.x", "status": 919982205885223796736}
    )
    assert response.status_code == 400 and response.json["error"] == "Invalid JSON provided."
    body = b'{"event_type":"k.x","entity_json":{"x":"' + b"y" * LIMIT + b'"}}'
    response = client.post("/event", headers=headers, data=body, content_type="application/json")
    assert response.status_code == 413 and response.json["error"] == "Event too large"


def test_options_is_a_bare_204_never_html(client):
    response = client.options("/v1/events")
    assert response.status_code == 204
    assert "html" not in (response.content_type or "")
    assert "POST" in response.headers["Allow"]
