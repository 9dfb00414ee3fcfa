"""Row 13: a page of GET /v1/events stops at a byte budget and hands a next_cursor."""

from __future__ import annotations

import orjson
from helpers import event

from collector import query


def test_a_page_of_large_events_stops_at_the_byte_budget(client, service, drain, monkeypatch):
    monkeypatch.setattr(query, "PAGE_BYTES", 100_000)
    for n in range(12):
        body = orjson.dumps(event(id=f"big-{n:02}", data={"pad": "x" * 30_000}))
        assert (
            client.post("/v1/events", data=body, content_type="application/json").status_code == 202
        )
    drain()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/events", query_string=params)
        assert response.status_code == 200
        assert len(response.data) < 100_000 + 40_000  # the budget, plus at most one event
        page = response.get_json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"big-{n:02}" for n in range(12)]
    assert len(set(seen)) == 12 and pages == 3  # four events of ~30 KB reach 100 KB


def test_small_events_still_fill_the_limit(client, drain):
    for n in range(5):
        body = orjson.dumps(event(id=f"small-{n}"))
        client.post("/v1/events", data=body, content_type="application/json")
    drain()
    page = client.get("/v1/events", query_string={"limit": 3}).get_json()
    assert len(page["items"]) == 3 and page["next_cursor"]
