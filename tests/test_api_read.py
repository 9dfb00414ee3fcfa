"""GET /v1/events/<id> and GET /v1/events: filters, order, limits, cursors, tenants, seq."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from helpers import assert_problem, event

from collector import postings
from collector import query as query_module
from collector.client import Producer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVICES = ("auth", "billing")
TYPES = ("user.login", "invoice.paid", "user.logout")
ACTORS = ("alice", "bob", "carol")
TARGETS = ("t1", "t2", None)
OUTCOMES = ("success", "failure", "unknown")


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def corpus(tenant: str = "default", n: int = 36, minutes: float = 1) -> list[dict]:
    """``n`` events spread over every filter value, ``minutes`` apart."""
    events = []
    for i in range(n):
        e = event(
            id=f"{tenant}-{i:03d}",
            tenant=tenant,
            service=SERVICES[i % 2],
            type=TYPES[i % 3],
            actor={"id": ACTORS[(i // 2) % 3]},
            outcome=OUTCOMES[(i // 3) % 3],
            occurred_at=at(i * minutes),
        )
        if TARGETS[i % 3]:
            e["target"] = {"id": TARGETS[i % 3]}
        events.append(e)
    return events


@pytest.fixture
def stored(redis_client, settings, drain):
    events = corpus()
    Producer(redis=redis_client, settings=settings).xadd(events)
    drain()
    return events


def matches(e: dict, filters: dict) -> bool:
    for name, value in filters.items():
        if name == "actor_id" and e["actor"]["id"] != value:
            return False
        if name == "target_id" and (e.get("target") or {}).get("id") != value:
            return False
        if name in ("service", "type", "outcome") and e[name] != value:
            return False
        if name == "since" and e["occurred_at"] < value:
            return False
        if name == "until" and e["occurred_at"] >= value:
            return False
    return True


def walk(client, params: dict, limit: int) -> list[str]:
    """Every id the cursors lead to, in order; fails on a page over ``limit``."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/events", query_string=query)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the cursors never ended")


def expect(events: list[dict], filters: dict, order: str = "desc") -> list[str]:
    chosen = [e for e in events if matches(e, filters)]
    chosen.sort(key=lambda e: e["occurred_at"], reverse=order == "desc")
    return [e["id"] for e in chosen]


# -- by id --------------------------------------------------------------------------------
def test_get_by_id_returns_the_stored_event(client, stored):
    response = client.get("/v1/events/default-005")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["id"] == "default-005" and body["tenant"] == "default"
    assert body["occurred_at"] == "2026-03-01T12:05:00.000000Z"
    assert body["seq"] >= 1 and body["schema_version"] == 1 and body["received_at"]


def test_get_by_id_unknown_is_404_problem(client, stored):
    assert_problem(client.get("/v1/events/nope"), 404)


def test_get_by_id_in_another_tenant(client, redis_client, settings, drain):
    Producer(redis=redis_client, settings=settings).xadd(event(id="x1", tenant="acme"))
    drain()
    assert client.get("/v1/events/x1").status_code == 404
    assert client.get("/v1/events/x1?tenant=acme").get_json()["tenant"] == "acme"
    assert client.get("/v1/events/x1?tenant=globex").status_code == 404


@pytest.mark.parametrize("tenant", ["a b", "", "x" * 65, "a/b"])
def test_get_by_id_with_an_invalid_tenant_is_400(client, tenant):
    assert_problem(client.get("/v1/events/x1", query_string={"tenant": tenant}), 400)


# -- filters ------------------------------------------------------------------------------
FILTER_SETS = [
    {},
    {"service": "auth"},
    {"type": "invoice.paid"},
    {"actor_id": "bob"},
    {"target_id": "t2"},
    {"outcome": "failure"},
    {"service": "billing", "type": "user.login"},
    {"service": "auth", "actor_id": "alice", "outcome": "success"},
    {"type": "user.logout", "target_id": "t1", "service": "billing"},
    {"since": at(10)},
    {"until": at(10)},
    {"since": at(5), "until": at(20)},
    {"since": at(5), "until": at(20), "service": "auth", "outcome": "unknown"},
    {"since": at(5.5), "until": at(6.5)},
    {"since": at(20), "until": at(5)},
    {"service": "nobody"},
    {"since": "2026-03-01T13:10:00+01:00"},  # an offset: the same instant as at(10)
]


@pytest.mark.parametrize("filters", FILTER_SETS)
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_filters_in_combination_walk_to_exactly_the_matches(
    client, stored, filters, order, monkeypatch
):
    params = {**filters, "order": order}
    want = expect(stored, {k: _utc(k, v) for k, v in filters.items()}, order)
    assert walk(client, params, limit=4) == want
    assert walk(client, params, limit=1000) == want
    monkeypatch.setattr(postings, "BODY_BYTES", 0)  # the second filter on: from the bodies
    assert walk(client, params, limit=4) == want


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_cut_short_by_their_work_budget_still_walk_to_exactly_the_matches(
    client, redis_client, settings, drain, order, monkeypatch
):
    # the same events 97 minutes apart (over two days), and budgets far below the corpus:
    # most pages stop early, short or empty, with a cursor
    stored = corpus(minutes=97)
    Producer(redis=redis_client, settings=settings).xadd(stored)
    drain()
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 2)
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 3)
    monkeypatch.setattr(postings, "MEMBER_BYTES", 1)  # windows of about one member each
    short = 0
    for filters in FILTER_SETS:
        params = {**filters, "order": order}
        want = expect(stored, {k: _utc(k, v) for k, v in filters.items()}, order)
        assert walk(client, params, limit=4) == want
        first = client.get("/v1/events", query_string={**params, "limit": 4}).get_json()
        short += len(first["items"]) < 4 and first["next_cursor"] is not None
    assert short  # the bounded path was taken


def _utc(name: str, value: str) -> str:
    if name not in ("since", "until"):
        return value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def test_since_is_inclusive_and_until_exclusive(client, stored):
    ids = walk(client, {"since": at(3), "until": at(6), "order": "asc"}, 100)
    assert ids == ["default-003", "default-004", "default-005"]


def test_the_default_order_is_newest_first_and_limit_100(client, redis_client, settings, drain):
    Producer(redis=redis_client, settings=settings).xadd(corpus(n=120))
    drain()
    page = client.get("/v1/events").get_json()
    assert len(page["items"]) == 100 and page["next_cursor"]
    assert page["items"][0]["id"] == "default-119"
    times = [item["occurred_at"] for item in page["items"]]
    assert times == sorted(times, reverse=True)


def test_a_filter_matching_nothing_is_an_empty_page(client, stored):
    assert client.get("/v1/events?actor_id=nobody").get_json() == {
        "items": [],
        "next_cursor": None,
    }


# -- bad parameters -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"order": "newest"},
        {"since": "yesterday"},
        {"until": "2026-03-01T12:00:00"},  # no offset
        {"since": "2026-02-30T00:00:00Z"},
        {"tenant": "a b"},
        {"tenant": "x" * 65},
        {"outcome": "maybe"},
        {"type": "has space"},
        {"colour": "blue"},
        {"cursor": "not-a-cursor"},
        {"cursor": "!!!"},
        {"cursor": base64.urlsafe_b64encode(b'{"v": 1}').decode()},
        {"cursor": base64.urlsafe_b64encode(b"[1,2]").decode()},
    ],
)
def test_bad_parameters_are_400_problem(client, query):
    body = assert_problem(client.get("/v1/events", query_string=query), 400)
    assert body["detail"]


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limit_bounds_are_accepted(client, stored, limit):
    page = client.get("/v1/events", query_string={"limit": limit}).get_json()
    assert len(page["items"]) == min(int(limit), len(stored))


def first_cursor(client, params: dict) -> str:
    cursor = client.get("/v1/events", query_string={**params, "limit": 2}).get_json()
    assert cursor["next_cursor"]
    return cursor["next_cursor"]


@pytest.mark.parametrize(
    "other",
    [
        {"service": "billing"},
        {"service": "auth", "order": "asc"},
        {"service": "auth", "type": "user.login"},
        {"service": "auth", "since": at(1)},
        {"service": "auth", "tenant": "acme"},
        {},
    ],
)
def test_a_cursor_used_with_other_filters_or_order_is_400(client, stored, other):
    cursor = first_cursor(client, {"service": "auth"})
    response = client.get("/v1/events", query_string={**other, "cursor": cursor, "limit": 2})
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]


def test_a_cursor_may_change_the_limit(client, stored):
    cursor = first_cursor(client, {"service": "auth"})
    response = client.get("/v1/events", query_string={"service": "auth", "cursor": cursor})
    assert response.status_code == 200


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_a_walk_sees_every_event_once_while_new_ones_arrive(
    client, redis_client, settings, drain, order
):
    producer = Producer(redis=redis_client, settings=settings)
    producer.xadd(corpus(n=20))
    drain()
    seen: list[str] = []
    cursor = None
    fresh = itertools.count(100)
    while True:
        query = {"order": order, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/events", query_string=query).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # newer, older and same-instant events land between pages
        i = next(fresh)
        producer.xadd(
            [
                event(id=f"new-{i}", occurred_at=at(1000 + i)),
                event(id=f"old-{i}", occurred_at=at(-1000 - i)),
                event(id=f"mid-{i}", occurred_at=at(10)),
            ]
        )
        drain()
    assert len(seen) == len(set(seen))
    assert {f"default-{i:03d}" for i in range(20)} <= set(seen)


def test_ties_on_occurred_at_are_walked_exactly_once(client, redis_client, settings, drain):
    Producer(redis=redis_client, settings=settings).xadd(
        [event(id=f"tie-{i:02d}", occurred_at=at(0)) for i in range(25)]
    )
    drain()
    for order in ("asc", "desc"):
        ids = walk(client, {"order": order}, limit=4)
        assert sorted(ids) == [f"tie-{i:02d}" for i in range(25)]


# -- tenants and seq ----------------------------------------------------------------------
def test_tenants_are_kept_apart(client, redis_client, settings, drain):
    producer = Producer(redis=redis_client, settings=settings)
    producer.xadd(corpus("acme", 7) + corpus("globex", 5) + [event(id="d0")])
    drain()
    for tenant, count in (("acme", 7), ("globex", 5)):
        items = walk(client, {"tenant": tenant}, limit=1000)
        assert len(items) == count and all(i.startswith(tenant) for i in items)
    assert walk(client, {}, limit=1000) == ["d0"]
    # the same id in two tenants is two events
    producer.xadd([event(id="same", tenant="acme"), event(id="same", tenant="globex")])
    drain()
    assert client.get("/v1/events/same?tenant=acme").get_json()["tenant"] == "acme"
    assert client.get("/v1/events/same?tenant=globex").get_json()["tenant"] == "globex"


def test_seq_is_dense_per_tenant(client, drain):
    for i in range(6):
        batch = [event(tenant="acme"), event(tenant="globex"), event(tenant="acme", id=f"a{i}")]
        batch.append(event(tenant="acme", id=f"a{i}"))  # a duplicate takes no seq
        assert client.post("/v1/events", json=batch).status_code == 202
    drain()
    for tenant, count in (("acme", 12), ("globex", 6)):
        items = client.get("/v1/events", query_string={"tenant": tenant}).get_json()["items"]
        assert sorted(item["seq"] for item in items) == list(range(1, count + 1))


def test_pages_are_json_with_stored_events(client, stored):
    raw = client.get("/v1/events?limit=2").get_data()
    page = orjson.loads(raw)
    assert [item["id"] for item in page["items"]] == ["default-035", "default-034"]
    assert page["items"][0]["actor"] == {"id": ACTORS[(35 // 2) % 3], "type": "user"}
