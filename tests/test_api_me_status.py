"""``GET /v1/me`` (who the key is, for the viewer's sign-in) and ``GET /v1/status`` (admin)."""

from __future__ import annotations

import pytest
from helpers import event

from collector.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(auth=True)


@pytest.fixture
def keys(service):
    return {
        "reader": service.api_keys.create("reader", ("read",), ("acme", "beta")),
        "ops": service.api_keys.create("ops", ("admin",), ("*",)),
    }


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_me_names_the_key_its_scopes_and_tenants(client, keys):
    body = client.get("/v1/me", headers=bearer(keys["reader"])).get_json()
    assert body == {
        "name": "reader",
        "scopes": ["read"],
        "tenants": ["acme", "beta"],
        "all_tenants": False,
        "auth": True,
    }
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers=bearer("at_wrong")).status_code == 401


def test_me_lists_the_tenants_with_events_for_a_key_of_every_tenant(client, keys, drain):
    sent = client.post(
        "/v1/events",
        json=[event(tenant="zeta"), event(tenant="acme")],
        headers=bearer(keys["ops"]),
    )
    assert sent.status_code == 202
    drain()
    body = client.get("/v1/me", headers=bearer(keys["ops"])).get_json()
    assert body["all_tenants"] is True and body["tenants"] == ["acme", "zeta"]


def test_status_is_for_admin_keys_and_shows_backlog_and_workers(client, keys, drain):
    assert client.get("/v1/status", headers=bearer(keys["reader"])).status_code == 403
    client.post("/v1/events", json=[event(), event()], headers=bearer(keys["ops"]))
    before = client.get("/v1/status", headers=bearer(keys["ops"])).get_json()
    assert before["backlog"] == 2 and before["dead_letters"] == 0
    assert before["streams"][0]["stream"] == "audit:ingest"
    assert before["streams"][0]["length"] == 2
    drain(name="w1")
    after = client.get("/v1/status", headers=bearer(keys["ops"])).get_json()
    assert after["backlog"] == 0
    assert after["streams"][0]["lag"] == 0 and after["streams"][0]["pending"] == 0
    assert [w["name"] for w in after["workers"]] == ["w1"]
    assert after["workers_alive"] == 1


def test_with_auth_off_me_is_anonymous_with_every_scope(redis_client):
    from api import create_app

    client = create_app(Settings(auth=False), redis_client).test_client()
    body = client.get("/v1/me").get_json()
    assert body["name"] == "anonymous" and body["auth"] is False
    assert set(body["scopes"]) == {"ingest", "read", "admin"}
