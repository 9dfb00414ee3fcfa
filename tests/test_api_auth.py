"""Access control with AUDIT_AUTH on: 401, 403, 404 across tenants, revocation, open routes."""

from __future__ import annotations

import pytest
from helpers import assert_problem, event

from collector.apikeys import CACHE_TTL_S
from collector.client import Producer
from collector.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(auth=True)


@pytest.fixture
def keys(service):
    """name -> 'Authorization' headers, for a few typical keys."""
    made = {
        "ingest_acme": service.api_keys.create("ingest-acme", ("ingest",), ("acme",)),
        "read_acme": service.api_keys.create("read-acme", ("read",), ("acme",)),
        "read_two": service.api_keys.create("read-two", ("read",), ("acme", "globex")),
        "ingest_any": service.api_keys.create("ingest-any", ("ingest",), ("*",)),
        "admin": service.api_keys.create("admin", ("admin",), ("*",)),
    }
    return {name: {"Authorization": f"Bearer {secret}"} for name, secret in made.items()}


@pytest.fixture
def stored(redis_client, settings, drain):
    Producer(redis=redis_client, settings=settings).xadd(
        [event(id="a1", tenant="acme"), event(id="g1", tenant="globex"), event(id="d1")]
    )
    drain()


def assert_401(response):
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def assert_403(response):
    assert_problem(response, 403)


ROUTES = [
    ("POST", "/v1/events"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/a1"),
    ("POST", "/event"),
    ("GET", "/event/a1"),
    ("GET", "/events"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer at_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "at_no_scheme"],
)
def test_no_or_unknown_key_is_401(client, method, path, authorization):
    headers = {"X-Client-ID": "c"}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = event() if path == "/v1/events" else {"event_type": "a"}
    response = client.open(path, method=method, headers=headers, json=body)
    assert_401(response)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_probes_and_docs_need_no_key(client, path):
    assert client.get(path).status_code == 200


def test_the_scheme_is_case_insensitive(client, keys, stored):
    secret = keys["read_acme"]["Authorization"].split(" ", 1)[1]
    response = client.get("/v1/events/a1", headers={"Authorization": f"bearer {secret}"})
    assert response.status_code == 200


def test_a_key_without_the_scope_is_403(client, keys, stored):
    assert_403(client.post("/v1/events", json=event(), headers=keys["read_acme"]))
    assert_403(client.get("/v1/events", headers=keys["ingest_acme"]))
    assert_403(client.get("/v1/events/a1", headers=keys["ingest_acme"]))
    legacy_post = {"X-Client-ID": "c", **keys["read_acme"]}
    assert_403(client.post("/event", json={"event_type": "a"}, headers=legacy_post))


def test_admin_has_every_scope(client, keys, stored):
    assert client.get("/v1/events?tenant=globex", headers=keys["admin"]).status_code == 200
    assert client.post("/v1/events", json=event(), headers=keys["admin"]).status_code == 202


def test_a_read_key_sees_only_its_tenants(client, keys, stored):
    acme = keys["read_acme"]
    items = client.get("/v1/events", headers=acme).get_json()["items"]
    assert [item["id"] for item in items] == ["a1"]  # its one tenant is the default
    assert client.get("/v1/events/a1", headers=acme).status_code == 200
    assert_403(client.get("/v1/events?tenant=globex", headers=acme))
    assert_403(client.get("/v1/events?tenant=default", headers=acme))
    by_id = client.get("/v1/events/g1?tenant=globex", headers=acme)
    assert_problem(by_id, 404)
    assert client.get("/v1/events/d1?tenant=default", headers=acme).status_code == 404


def test_a_key_with_several_tenants_names_one(client, keys, stored):
    two = keys["read_two"]
    assert client.get("/v1/events?tenant=globex", headers=two).get_json()["items"][0]["id"] == "g1"
    # no tenant named: "default", which this key may not read
    assert_403(client.get("/v1/events", headers=two))
    assert client.get("/v1/events/a1?tenant=acme", headers=two).status_code == 200


def test_legacy_reads_are_scoped_to_the_key(client, keys, stored):
    headers = {"X-Client-ID": "c", **keys["read_acme"]}
    assert [e["event_id"] for e in client.get("/events", headers=headers).get_json()] == ["a1"]
    assert client.get("/event/a1", headers=headers).status_code == 200
    assert client.get("/event/g1", headers=headers).get_json() == {"error": "Event not found"}


def test_an_ingest_key_writes_only_into_its_tenants(client, keys, service, drain):
    ingest = keys["ingest_acme"]
    accepted = client.post("/v1/events", json=event(id="n1"), headers=ingest)
    assert accepted.status_code == 202
    named = client.post("/v1/events", json=event(id="n2", tenant="acme"), headers=ingest)
    assert named.status_code == 202
    assert_403(client.post("/v1/events", json=event(id="n3", tenant="globex"), headers=ingest))
    mixed = [event(id="n4", tenant="acme"), event(id="n5", tenant="globex")]
    assert_403(client.post("/v1/events", json=mixed, headers=ingest))
    legacy = client.post(
        "/event", json={"event_type": "old"}, headers={"X-Client-ID": "c", **ingest}
    )
    assert legacy.status_code == 201
    drain()
    assert service.store.get("acme", "n1") is not None  # no tenant: the key's one tenant
    assert service.store.get("acme", legacy.get_json()["event_id"]) is not None
    assert service.store.count("acme") == 3
    assert service.store.count("globex") == 0


def test_a_key_for_every_tenant_defaults_to_default(client, keys, service, drain):
    response = client.post("/v1/events", json=event(id="w1"), headers=keys["ingest_any"])
    assert response.status_code == 202
    drain()
    assert service.store.get("default", "w1") is not None


def test_a_revoked_key_stops_working_once_the_cache_expires(app, client, keys, service, stored):
    now = [1000.0]
    app.extensions["audit"].api_keys.clock = lambda: now[0]
    headers = keys["read_acme"]
    assert client.get("/v1/events/a1", headers=headers).status_code == 200
    service.api_keys.revoke("read-acme")  # another process (the CLI) revokes it
    now[0] += CACHE_TTL_S
    assert_401(client.get("/v1/events/a1", headers=headers))
    assert CACHE_TTL_S <= 5  # a revoked key stops working everywhere within 5 seconds


def test_revoking_in_this_process_takes_effect_at_once(app, client, keys, stored):
    headers = keys["read_acme"]
    assert client.get("/v1/events/a1", headers=headers).status_code == 200
    app.extensions["audit"].api_keys.revoke("read-acme")
    assert_401(client.get("/v1/events/a1", headers=headers))


def test_keys_are_stored_as_digests_only(redis_client, keys):
    secrets = [h["Authorization"].split(" ", 1)[1] for h in keys.values()]
    for key in redis_client.scan_iter():
        blob = repr(redis_client.dump(key))
        assert not any(secret in blob for secret in secrets)
