"""POST /v1/events: the 202 bodies, batches all or nothing, and every error class in order.

Order of checks: 413 size, then 415 content type, then 400 JSON,
then 422 event. Every error is problem+json; no error is HTML or a stack trace.
"""

from __future__ import annotations

import socket

import orjson
import pytest
import redis
from helpers import assert_problem, event

from api import create_app
from collector.client import Producer
from collector.connection import connect
from collector.settings import Settings


def post_json(client, payload, **kwargs):
    return client.post(
        "/v1/events", data=orjson.dumps(payload), content_type="application/json", **kwargs
    )


def small_app(redis_client, **overrides):
    """An app with small limits so the 413s are cheap to reach."""
    settings = Settings(auth=False, **{"max_event_bytes": 1024, "max_batch": 3, **overrides})
    return create_app(settings, redis_client).test_client()


# -- success ------------------------------------------------------------------------------
def test_one_event_is_202_with_its_id_and_readable(client, service, drain):
    response = post_json(client, event(id="e-1", tenant="acme"))
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    assert response.get_json() == {"id": "e-1", "status": "accepted"}
    drain()
    stored = client.get("/v1/events/e-1?tenant=acme").get_json()
    assert stored["type"] == "user.login" and stored["seq"] == 1


def test_an_event_without_id_gets_one_and_is_stored_under_it(client, drain):
    body = post_json(client, event()).get_json()
    assert set(body) == {"id", "status"} and body["status"] == "accepted"
    drain()
    assert client.get(f"/v1/events/{body['id']}").get_json()["id"] == body["id"]


def test_a_batch_is_202_with_the_ids_in_order(client, service, drain):
    response = post_json(client, [event(id="b1"), event(), event(id="b3")])
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"accepted", "ids"}
    assert body["accepted"] == 3 and body["ids"][0] == "b1" and body["ids"][2] == "b3"
    drain()
    assert service.store.count("default") == 3


def test_a_batch_lands_as_one_entry_per_event_in_order_with_the_shared_fields(client, redis_client):
    post_json(client, [event(id=f"o{i}", tenant="acme") for i in range(5)])
    entries = redis_client.xrange("audit:ingest")
    assert [orjson.loads(f[b"event"])["id"] for _, f in entries] == [f"o{i}" for i in range(5)]
    assert len({f[b"received_at"] for _, f in entries}) == 1


def test_a_batch_over_several_partitions_lands_on_each_tenants_stream(redis_client):
    app = create_app(Settings(auth=False, partitions=4), redis_client)
    tenants = ["acme", "globex", "initech", "umbrella", "acme"]
    body = [event(id=f"p{i}", tenant=t) for i, t in enumerate(tenants)]
    assert post_json(app.test_client(), body).status_code == 202
    on_streams = sum(redis_client.xlen(f"audit:ingest:{{{k}}}") for k in range(4))
    assert on_streams == 5


def test_content_type_parameters_are_fine(client):
    response = client.post(
        "/v1/events",
        data=orjson.dumps(event()),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202


def test_the_same_id_twice_is_stored_once(client, service, drain):
    post_json(client, event(id="dup"))
    post_json(client, event(id="dup"))
    drain()
    assert service.store.count("default") == 1


def test_received_at_and_utc_occurred_at_are_set(client, drain):
    post_json(client, event(id="tz", occurred_at="2026-01-31T12:00:00+02:00"))
    drain()
    stored = client.get("/v1/events/tz").get_json()
    assert stored["occurred_at"].startswith("2026-01-31T10:00:00.000")
    assert stored["occurred_at"].endswith("Z") and stored["received_at"].endswith("Z")
    assert stored["schema_version"] == 1


# -- all or nothing -----------------------------------------------------------------------
def test_one_bad_event_rejects_the_whole_batch(client, service, drain):
    response = post_json(client, [event(id="ok1"), event(type="bad type!"), event(id="ok2")])
    body = assert_problem(response, 422)
    assert list(body["errors"]) == ["1"]
    assert "type" in body["errors"]["1"]
    drain()
    assert service.store.count("default") == 0


def test_batch_errors_name_every_bad_event_by_index_then_field(client):
    body = assert_problem(post_json(client, [event(service=""), event(), {"type": "x"}]), 422)
    assert set(body["errors"]) == {"0", "2"}
    assert set(body["errors"]["2"]) == {"service", "actor"}


def test_an_empty_batch_is_422(client):
    assert_problem(post_json(client, []), 422)


# -- 422 keyed by field ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"service": None}, ("service",)),
        ({"type": "has space"}, ("type",)),
        ({"actor": {"id": "a", "ip": "999.1.1.1"}}, ("actor", "ip")),
        ({"actor": {"id": "a", "shoe_size": 9}}, ("actor", "shoe_size")),
        ({"outcome": "maybe"}, ("outcome",)),
        ({"occurred_at": "2026-01-31T12:00:00"}, ("occurred_at",)),
        ({"tenant": "a b"}, ("tenant",)),
        ({"bogus": 1}, ("bogus",)),
        ({"data": []}, ("data",)),
        ({"data": {"a": "x" * (33 * 1024)}}, ("data",)),
    ],
)
def test_an_invalid_event_is_422_keyed_by_field(client, overrides, path):
    payload = event(**overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    errors = assert_problem(post_json(client, payload), 422)["errors"]
    for part in path:
        errors = errors[part]
    assert errors


def test_data_nested_past_ten_levels_is_422(client):
    deep: dict = {}
    inner = deep
    for _ in range(10):
        inner["x"] = {}
        inner = inner["x"]
    assert "data" in assert_problem(post_json(client, event(data=deep)), 422)["errors"]


@pytest.mark.parametrize("body", [b"42", b'"text"', b"null", b"[1, 2]"])
def test_json_that_is_not_an_event_is_422(client, body):
    assert_problem(client.post("/v1/events", data=body, content_type="application/json"), 422)


# -- 400, 415 -----------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"{", b"{'single': 'quotes'}", b"", b"\xff\xfe"])
def test_malformed_json_is_400(client, body):
    response = client.post("/v1/events", data=body, content_type="application/json")
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_non_json_content_type_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/events", data=orjson.dumps(event()), headers=headers)
    assert_problem(response, 415)


def test_415_comes_before_400(client):
    assert_problem(client.post("/v1/events", data=b"{", content_type="text/plain"), 415)


def test_400_comes_before_422(client):
    body = b'{"type": "not valid!", "bogus": 1,'
    assert_problem(client.post("/v1/events", data=body, content_type="application/json"), 400)


# -- 413 ----------------------------------------------------------------------------------
def big_event(size: int) -> dict:
    return event(data={"blob": "x" * size})


def test_one_event_over_the_event_limit_is_413(redis_client):
    client = small_app(redis_client)
    assert_problem(post_json(client, big_event(1100)), 413)


def test_a_batch_with_one_event_over_the_limit_is_413(redis_client):
    client = small_app(redis_client)
    assert_problem(post_json(client, [event(), big_event(1100)]), 413)


def test_a_batch_over_the_count_limit_is_413(redis_client):
    client = small_app(redis_client)
    assert_problem(post_json(client, [event()] * 4), 413)
    assert post_json(client, [event()] * 3).status_code == 202


def test_a_body_over_max_batch_times_the_event_limit_is_413(redis_client):
    client = small_app(redis_client)
    assert_problem(post_json(client, [big_event(900)] * 4), 413)


def test_size_is_checked_before_content_type(redis_client):
    client = small_app(redis_client)
    body = orjson.dumps(big_event(1100))
    assert_problem(client.post("/v1/events", data=body, content_type="text/plain"), 413)
    batch = orjson.dumps([event(), big_event(1100)])
    assert_problem(client.post("/v1/events", data=batch, content_type="text/plain"), 413)
    assert_problem(client.post("/v1/events", data=orjson.dumps([event()] * 4)), 413)


def test_the_default_limits_accept_a_full_size_batch_of_small_events(client):
    assert post_json(client, [event()] * 1000).status_code == 202
    assert_problem(post_json(client, [event()] * 1001), 413)


# -- 503 ----------------------------------------------------------------------------------
def test_a_backlog_over_the_limit_is_503_with_retry_after(redis_client):
    settings = Settings(auth=False, max_backlog=2)
    Producer(redis=redis_client, settings=settings).xadd([event(), event(), event()])
    client = create_app(settings, redis_client).test_client()
    response = post_json(client, event())
    body = assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    assert "AUDIT_MAX_BACKLOG" in body["detail"]


@pytest.fixture
def dead_redis():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = connect(f"redis://127.0.0.1:{port}/0")  # nothing listens there
    yield client
    client.close()


@pytest.mark.parametrize("auth", [False, True])
def test_redis_unreachable_is_503_with_retry_after(dead_redis, auth):
    client = create_app(Settings(auth=auth), dead_redis).test_client()
    headers = {"Authorization": "Bearer at_x"} if auth else {}
    for response in (
        post_json(client, event(), headers=headers),
        client.get("/v1/events", headers=headers),
        client.get("/v1/events/x", headers=headers),
        client.post("/event", json={"event_type": "a"}, headers={"X-Client-ID": "c", **headers}),
    ):
        assert_problem(response, 503)
        assert response.headers["Retry-After"]
    assert_problem(client.get("/readyz"), 503)
    assert client.get("/healthz").status_code == 200


# -- 404, 405, 500 ------------------------------------------------------------------------
def test_an_unknown_route_is_404_problem(client):
    assert_problem(client.get("/v2/nothing"), 404)
    assert_problem(client.post("/nothing", data=b"<html>"), 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_on_events_are_405_problem(client, method):
    response = client.open("/v1/events", method=method, data=b"{}")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"] and "GET" in response.headers["Allow"]
    assert_problem(client.open("/v1/events/x", method=method), 405)


def test_a_crash_is_500_problem_without_a_stack_trace(redis_client, settings):
    app = create_app(settings, redis_client)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"


# -- odd values the schema must refuse cleanly (regressions found by fuzzing) ----------------
@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": {}},
        {"outcome": ["success"]},
        {"actor": {"id": "a", "ip": True}},
        {"actor": {"id": "a", "ip": 3232235777}},
        {"occurred_at": "0001-01-01T00:00:00+05:00"},
        {"occurred_at": "9999-12-31T23:59:59-05:00"},
    ],
)
def test_odd_values_are_422_never_500_or_accepted(client, overrides):
    assert_problem(post_json(client, event(**overrides)), 422)


def test_a_time_filter_out_of_range_is_400(client):
    assert_problem(client.get("/v1/events?since=0001-01-01T00:00:00%2B05:00"), 400)


def test_years_before_1000_read_back_as_rfc3339(client, drain):
    post_json(client, event(id="old", occurred_at="0999-01-01T00:00:00Z"))
    drain()
    assert client.get("/v1/events/old").get_json()["occurred_at"].startswith("0999-01-01T")


@pytest.mark.fake
def test_a_slot_without_a_master_is_503_never_500(fake_redis, monkeypatch):
    """RedisCluster's own errors are no RedisErrors; ingest and reads still answer 503."""
    app = create_app(Settings(auth=False), fake_redis)
    service = app.extensions["audit"]

    def no_master(*args, **kwargs):
        raise redis.exceptions.SlotNotCoveredError("Slot 1234 is not covered by the cluster")

    monkeypatch.setattr(service.streams, "add", no_master)
    monkeypatch.setattr(service.store, "get_raw", no_master)
    client = app.test_client()
    for answer in (client.post("/v1/events", json=event()), client.get("/v1/events/x?tenant=a")):
        assert answer.status_code == 503, answer.get_json()
        assert answer.headers["Retry-After"]
