"""Persistence-order reads: ``GET /v1/events?after_seq=N`` and the live tail (SSE)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
from browser import LiveService
from helpers import event, wait_for

import api.tail
import collector.sequence
from collector.keys import KeyNames
from collector.settings import Settings


def stored_events(client, drain, events: list[dict[str, Any]]) -> None:
    assert client.post("/v1/events", json=events).status_code == 202
    drain()


def late_and_early(n: int) -> list[dict[str, Any]]:
    """Events whose occurred_at goes backwards as their seq goes up."""
    return [
        event(
            id=f"e{i:03d}",
            tenant="acme",
            service="billing" if i % 2 else "auth",
            occurred_at=f"2026-11-{28 - i // 24:02d}T{23 - i % 24:02d}:00:00Z",
        )
        for i in range(n)
    ]


def listing(client, **params: Any) -> Any:
    return client.get("/v1/events?" + urlencode({"tenant": "acme", **params}))


def walk(client, **params: Any) -> list[dict[str, Any]]:
    """Every item, following next_cursor."""
    items, cursor = [], None
    while True:
        page = listing(client, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# -- after_seq ---------------------------------------------------------------------------
def test_after_seq_lists_in_persistence_order_whatever_occurred_at_says(client, drain):
    stored_events(client, drain, late_and_early(30))
    everything = walk(client, after_seq=0, order="asc", limit=7)
    assert [e["seq"] for e in everything] == list(range(1, 31))
    # occurred_at goes backwards: a time-ordered poller would miss the late ones
    assert everything[-1]["occurred_at"] < everything[0]["occurred_at"]
    later = walk(client, after_seq=20, order="asc")
    assert [e["seq"] for e in later] == list(range(21, 31))
    # order=asc is implied; the other filters combine
    billing = walk(client, after_seq=5, service="billing", limit=4)
    assert [e["seq"] for e in billing] == [s for s in range(6, 31) if s % 2 == 0]
    assert listing(client, after_seq=30, order="asc").get_json() == {
        "items": [],
        "next_cursor": None,
    }


def test_after_seq_rejects_desc_a_bad_number_and_a_foreign_cursor(client, drain):
    stored_events(client, drain, late_and_early(5))
    assert listing(client, after_seq=0, order="desc").status_code == 400
    assert listing(client, after_seq=-1, order="asc").status_code == 400
    assert listing(client, after_seq="x", order="asc").status_code == 400
    by_time = listing(client, limit=2).get_json()["next_cursor"]
    assert listing(client, after_seq=0, cursor=by_time).status_code == 400
    by_seq = listing(client, after_seq=0, limit=2).get_json()["next_cursor"]
    assert listing(client, after_seq=1, limit=2, cursor=by_seq).status_code == 400
    assert listing(client, limit=2, cursor=by_seq).status_code == 400


def test_a_sparse_filter_hands_back_a_short_page_and_a_cursor(client, drain, monkeypatch):
    stored_events(client, drain, late_and_early(40))
    monkeypatch.setattr(collector.sequence, "SCAN_BUDGET", 8)
    monkeypatch.setattr(collector.sequence, "BATCH", 4)
    first = listing(client, after_seq=0, service="billing", limit=100).get_json()
    assert 0 < len(first["items"]) < 20 and first["next_cursor"]
    found = walk(client, after_seq=0, service="billing", limit=100)
    assert [e["seq"] for e in found] == list(range(2, 41, 2))


def test_each_store_call_leaves_one_small_signal(redis_client, client, drain):
    stored_events(client, drain, late_and_early(12))
    signal = KeyNames().tail_signal("acme")
    assert redis_client.xlen(signal) == 1
    (entry_id, fields), *_ = redis_client.xrange(signal)
    assert fields == {b"seq": b"12"}
    stored_events(client, drain, late_and_early(3))  # duplicates only: no signal
    assert redis_client.xrange(signal)[0][0] == entry_id


# -- the tail over HTTP ------------------------------------------------------------------
class SSE:
    """A minimal text/event-stream reader over a real socket."""

    def __init__(self, base: str, query: dict[str, Any], headers: dict[str, str] | None = None):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.conn.request("GET", "/v1/events/tail?" + urlencode(query), headers=headers or {})
        self.response = self.conn.getresponse()

    def next(self) -> dict[str, Any]:
        """The next message ({"id", "data"}) or comment ({"comment"})."""
        fields: dict[str, Any] = {}
        while True:
            raw = self.response.readline()
            assert raw, "the server ended the stream"
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(": ")
            fields[name] = orjson.loads(value) if name == "data" else value

    def events(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < n:
            message = self.next()
            if "data" in message:
                assert int(message["id"]) == message["data"]["seq"]
                out.append(message["data"])
        return out

    def close(self) -> None:
        self.response.close()
        self.conn.close()


def serve(redis_client, max_tails: int) -> Iterator[LiveService]:
    service = LiveService(redis_client, Settings(auth=False, max_tails=max_tails))
    yield service
    service.close()


@pytest.fixture
def live(redis_client) -> Iterator[LiveService]:
    yield from serve(redis_client, max_tails=10)


@pytest.fixture
def live_two(redis_client) -> Iterator[LiveService]:
    """A process that serves two tails at most."""
    yield from serve(redis_client, max_tails=2)


def test_the_tail_sends_new_matching_events_and_resumes_with_no_gap_or_duplicate(live):
    live.add(late_and_early(4))  # seq 1-4 exist before the tail starts
    tail = SSE(live.url, {"tenant": "acme", "service": "billing"})
    assert tail.response.status == 200
    assert tail.response.getheader("Content-Type").startswith("text/event-stream")
    assert tail.next() == {"comment": "tail of acme after seq 4"}
    batch = [event(id=f"n{i}", tenant="acme", service=["billing", "auth"][i % 2]) for i in range(6)]
    live.add(batch)
    got = tail.events(3)
    assert [e["id"] for e in got] == ["n0", "n2", "n4"]
    assert [e["seq"] for e in got] == [5, 7, 9]
    tail.close()
    # stored while nobody listened: Last-Event-ID picks up right after the last one seen
    live.add([event(id=f"m{i}", tenant="acme", service="billing") for i in range(3)])
    again = SSE(live.url, {"tenant": "acme", "service": "billing"}, {"Last-Event-ID": "9"})
    assert again.next() == {"comment": "tail of acme after seq 9"}
    assert [e["id"] for e in again.events(3)] == ["m0", "m1", "m2"]
    again.close()
    # after_seq does the same for clients that cannot set headers
    from_start = SSE(live.url, {"tenant": "acme", "after_seq": 0})
    assert [e["seq"] for e in from_start.events(13)] == list(range(1, 14))
    from_start.close()


def test_an_idle_tail_sends_a_comment_line_on_time(live, monkeypatch):
    monkeypatch.setattr(api.tail, "HEARTBEAT_S", 0.2)
    tail = SSE(live.url, {"tenant": "acme"})
    assert tail.next()["comment"].startswith("tail of acme")
    assert tail.next() == {"comment": "keep-alive"}
    tail.close()


def test_bad_tail_requests_are_400(live):
    client = live.client
    assert client.get("/v1/events/tail?limit=5").status_code == 400
    assert client.get("/v1/events/tail?tenant=bad%20name").status_code == 400
    answer = client.get("/v1/events/tail", headers={"Last-Event-ID": "seven"})
    assert answer.status_code == 400
    assert answer.get_json()["errors"] == {
        "Last-Event-ID": ["Last-Event-ID must be the seq of the last event received."]
    }


def test_tails_past_the_bound_are_503_until_one_closes(live_two):
    live = live_two
    first = SSE(live.url, {"tenant": "acme"})
    second = SSE(live.url, {"tenant": "acme"})
    assert first.next()["comment"] and second.next()["comment"]
    third = SSE(live.url, {"tenant": "acme"})
    assert third.response.status == 503
    assert third.response.getheader("Retry-After") == "5"
    assert "AUDIT_MAX_TAILS" in orjson.loads(third.response.read())["detail"]
    third.close()
    first.close()
    # the server sees the closed socket on its next write: an event makes one happen

    def reopened() -> bool:
        live.add([event(tenant="acme")])
        attempt = SSE(live.url, {"tenant": "acme"})
        status = attempt.response.status
        attempt.close()
        return status == 200

    wait_for(reopened, timeout=20)
    second.close()


@pytest.mark.real
def test_an_idle_tail_holds_one_blocked_read_and_polls_nothing(redis_server):
    import redis

    client = redis.Redis(port=redis_server.port, db=3, socket_timeout=10)
    client.flushdb()
    live = LiveService(client, Settings(auth=False))
    try:
        tail = SSE(live.url, {"tenant": "acme"})
        assert tail.next()["comment"].startswith("tail of acme")

        def blocked() -> list[int]:
            return [
                c["id"]
                for c in client.client_list()
                if c["db"] == "3" and c["cmd"] == "xread" and "b" in c["flags"]
            ]

        (reader,) = wait_for(blocked)
        before = client.info("commandstats")
        time.sleep(1.0)  # an idle second: nothing may happen in it
        after = client.info("commandstats")
        for command in ("cmdstat_zrangebyscore", "cmdstat_hmget", "cmdstat_get"):
            assert after.get(command) == before.get(command), command
        assert blocked() == [reader]  # the same read, still waiting
        live.add([event(tenant="acme")])
        assert tail.events(1)[0]["seq"] == 1
        tail.close()
    finally:
        live.close()
        client.close()


def test_a_key_revoked_while_its_tail_is_open_ends_the_tail(redis_client, monkeypatch):
    monkeypatch.setattr(api.tail, "BLOCK_MS", 100)  # the check runs between blocked reads
    live = LiveService(redis_client, Settings(auth=True))
    try:
        keys = live.app.extensions["audit"].api_keys
        secret = keys.create("watcher", ("read",), ("acme",))
        tail = SSE(live.url, {"tenant": "acme"}, {"Authorization": f"Bearer {secret}"})
        assert tail.next()["comment"].startswith("tail of acme")
        other = SSE(live.url, {"tenant": "globex"}, {"Authorization": f"Bearer {secret}"})
        assert other.response.status == 403
        other.close()
        keys.revoke("watcher")
        rest = iter(tail.response.readline, b"")  # until the server ends the stream
        assert [line for line in rest if line.strip()] == []
        tail.close()
    finally:
        live.close()
