"""The legacy routes (POST /event, GET /event/<id>, GET /events) and their old format."""

from __future__ import annotations

import orjson
import pytest
from helpers import assert_problem, event

from collector.client import Producer

CLIENT = {"X-Client-ID": "client123"}
LEGACY_KEYS = {
    "event_id",
    "event_type",
    "created_at",
    "client_id",
    "user_id",
    "request_method",
    "status",
    "entity_json",
}


def post_legacy(client, body, headers=CLIENT, raw: bytes | None = None):
    data = raw if raw is not None else orjson.dumps(body)
    return client.post("/event", data=data, headers=headers, content_type="application/json")


def test_the_postman_sequence(client, drain):
    """The old API's own collection: add events, read one, list all (newest first)."""
    first = {
        "event_type": "USER_LOGIN",
        "user_id": "user1",
        "request_method": "POST",
        "status": 200,
        "entity_json": {"key": "value"},
    }
    created = post_legacy(client, first)
    assert created.status_code == 201
    assert created.mimetype == "application/json"
    body = created.get_json()
    assert set(body) == {"message", "event_id"}
    assert body["message"] == "Audit Log Event added successfully."
    event_id = body["event_id"]

    second = post_legacy(client, {"event_type": "USER_LOGOUT", "user_id": "user1", "status": 403})
    assert second.status_code == 201
    drain()

    read = client.get(f"/event/{event_id}", headers=CLIENT)
    assert read.status_code == 200
    view = read.get_json()
    assert set(view) == LEGACY_KEYS
    assert view == {
        "event_id": event_id,
        "event_type": "USER_LOGIN",
        "created_at": view["created_at"],
        "client_id": "client123",
        "user_id": "user1",
        "request_method": "POST",
        "status": 200,
        "entity_json": {"key": "value"},
    }
    assert view["created_at"].endswith("Z") and "T" in view["created_at"]

    listed = client.get("/events", headers=CLIENT)
    assert listed.status_code == 200
    items = listed.get_json()
    assert isinstance(items, list) and len(items) == 2
    assert items[1] == view
    assert items[0]["event_type"] == "USER_LOGOUT" and items[0]["status"] == 403
    assert items[0]["request_method"] is None and items[0]["entity_json"] is None

    missing = client.get("/event/does-not-exist", headers=CLIENT)
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "Event not found"}


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/event"), ("GET", "/event/x"), ("GET", "/events")]
)
@pytest.mark.parametrize("headers", [{}, {"X-Client-ID": ""}])
def test_every_route_requires_the_client_id(client, method, path, headers):
    response = client.open(
        path, method=method, headers=headers, json={"event_type": "a"} if method == "POST" else None
    )
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": "Client ID is required"}


@pytest.mark.parametrize("body", [{}, {"event_type": ""}, {"event_type": None}, {"user_id": "u"}])
def test_event_type_is_required(client, body):
    response = post_legacy(client, body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "event_type is required"}


@pytest.mark.parametrize("event_type", ["has space", "x" * 129, "a/b", 42, ["x"]])
def test_an_event_type_v1_would_reject_is_invalid(client, event_type):
    response = post_legacy(client, {"event_type": event_type})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Invalid event_type"}


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[1, 2]", b'"text"', b""])
def test_invalid_json_is_the_legacy_error(client, raw):
    response = post_legacy(client, None, raw=raw)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid JSON provided."
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize(
    "field",
    [
        {"status": "200"},
        {"status": 2**53},  # kept in the stored event: within what its canonical JSON writes
        {"user_id": 7},
        {"request_method": 1},
        {"entity_json": [1]},
    ],
)
def test_fields_of_the_wrong_type_are_invalid_json(client, field):
    response = post_legacy(client, {"event_type": "x", **field})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid JSON provided."


def test_unknown_fields_are_ignored_as_in_the_old_api(client):
    assert post_legacy(client, {"event_type": "x", "colour": "blue"}).status_code == 201


def test_an_event_posted_the_old_way_reads_back_exactly(client, drain):
    sent = {
        "event_type": "invoice.paid",
        "user_id": "42",
        "request_method": "PATCH",
        "status": 500,
        "entity_json": {"nested": {"list": [1, 2, None]}, "n": 1.5},
    }
    event_id = post_legacy(client, sent).get_json()["event_id"]
    drain()
    view = client.get(f"/event/{event_id}", headers={"X-Client-ID": "someone-else"}).get_json()
    assert {k: view[k] for k in sent} == sent
    assert view["client_id"] == "client123" and view["event_id"] == event_id


def test_absent_old_fields_read_back_null(client, drain):
    event_id = post_legacy(client, {"event_type": "bare"}).get_json()["event_id"]
    drain()
    view = client.get(f"/event/{event_id}", headers=CLIENT).get_json()
    assert view["user_id"] is None and view["request_method"] is None
    assert view["status"] is None and view["entity_json"] is None


def test_the_old_way_maps_onto_v1(client, drain):
    with_user = post_legacy(client, {"event_type": "a", "user_id": "u1", "status": 404})
    without_user = post_legacy(client, {"event_type": "b", "status": 201, "entity_json": {"k": 1}})
    drain()
    one = client.get(f"/v1/events/{with_user.get_json()['event_id']}").get_json()
    assert one["type"] == "a" and one["service"] == "client123"
    assert one["actor"] == {"id": "u1", "type": "user"}
    assert one["outcome"] == "failure" and one["tenant"] == "default"
    two = client.get(f"/v1/events/{without_user.get_json()['event_id']}").get_json()
    assert two["actor"] == {"id": "client123", "type": "service"}
    assert two["outcome"] == "success" and two["data"] == {"k": 1}


def test_v1_events_read_back_the_old_way(client, drain):
    v1 = event(id="v1-a", service="billing", occurred_at="2026-01-02T03:04:05+01:00", data={"a": 1})
    v1["actor"] = {"id": "alice", "type": "user"}
    assert client.post("/v1/events", json=v1).status_code == 202
    drain()
    stored = client.get("/v1/events/v1-a").get_json()
    view = client.get("/event/v1-a", headers=CLIENT).get_json()
    assert view == {
        "event_id": "v1-a",
        "event_type": "user.login",
        "created_at": stored["occurred_at"],
        "client_id": "billing",
        "user_id": None,
        "request_method": None,
        "status": None,
        "entity_json": {"a": 1},
    }
    assert view["created_at"].startswith("2026-01-02T02:04:05")


def test_get_events_is_newest_first_and_at_most_1000(client, redis_client, settings, drain):
    events = [
        event(id=f"e{i:04d}", occurred_at=f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(1005)
    ]
    Producer(redis=redis_client, settings=settings).xadd(events)
    drain()
    items = client.get("/events", headers=CLIENT).get_json()
    assert len(items) == 1000
    assert items[0]["event_id"] == "e1004" and items[-1]["event_id"] == "e0005"
    times = [item["created_at"] for item in items]
    assert times == sorted(times, reverse=True)


def test_legacy_routes_use_the_v1_size_limit_and_problem_errors_elsewhere(client):
    assert_problem(client.put("/event", headers=CLIENT), 405)
