"""Row 16: a forged cursor is a 400, never a page."""

from __future__ import annotations

import base64

import orjson
from helpers import event


def _store_three(client, drain) -> None:
    for n in range(3):
        body = orjson.dumps(event(id=f"e{n}"))
        assert (
            client.post("/v1/events", data=body, content_type="application/json").status_code == 202
        )
    drain()


def _forge(member: str) -> str:
    """A cursor in the shape the service made before cursors were signed."""
    fingerprint = "0" * 16
    payload = orjson.dumps({"v": 1, "f": fingerprint, "m": member})
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def test_a_forged_cursor_is_400(client, drain):
    _store_three(client, drain)
    page = client.get("/v1/events", query_string={"limit": 1}).get_json()
    real = page["next_cursor"]
    assert client.get("/v1/events", query_string={"limit": 1, "cursor": real}).status_code == 200
    payload, _, tag = real.partition(".")
    tampered_payload = (
        base64.urlsafe_b64encode(base64.urlsafe_b64decode(payload + "==").replace(b"e", b"f"))
        .rstrip(b"=")
        .decode()
    )
    for forged in (
        _forge("99999999999999999999|zzz"),
        f"{tampered_payload}.{tag}",
        f"{payload}.{'A' * len(tag)}",
        payload,
    ):
        response = client.get("/v1/events", query_string={"limit": 1, "cursor": forged})
        assert response.status_code == 400, forged
        assert response.mimetype == "application/problem+json"
        assert "cursor" in response.get_json()["errors"]


def test_the_secret_is_shared_by_every_process(redis_client, settings, drain):
    from api import create_app

    first = create_app(settings, redis_client).test_client()
    second = create_app(settings, redis_client).test_client()
    _store_three(first, drain)
    cursor = first.get("/v1/events", query_string={"limit": 1}).get_json()["next_cursor"]
    page = second.get("/v1/events", query_string={"limit": 1, "cursor": cursor})
    assert page.status_code == 200 and len(page.get_json()["items"]) == 1
