"""Queries straight on the core: combined filters, time windows, order, cursor walks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from helpers import event

from collector import postings, scripts
from collector import query as query_module
from collector.errors import BadRequest
from collector.events import prepare
from collector.query import Filters
from collector.timefmt import format_utc
from collector.writer import BatchWriter, Delivery

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=30)  # received then: events up to a month after T0 are not future


def _store(service, n: int, start: int = 0, step=timedelta(seconds=1), **fields) -> None:
    """Event ``i`` occurs ``i`` steps after T0; received a month after T0 (so not future)."""
    events = []
    for i in range(start, start + n):
        ev = event(
            id=f"e{i:04d}",
            occurred_at=format_utc(T0 + i * step),
            service=f"svc{i % 3}",
            outcome=("success", "failure")[i % 2],
            target={"id": f"t{i % 5}"},
            **fields,
        )
        events.append(prepare(ev, LATER))
    writer = BatchWriter(service.redis, service.settings)
    assert not writer.write([Delivery(e.id, e) for e in events]).failed


def _walk(service, filters: Filters, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = service.query.page(filters, limit, cursor)
        seen += [orjson.loads(raw)["id"] for raw in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_combined_filters_match_a_plain_python_filter(service):
    _store(service, 120)
    got = _walk(service, Filters(service="svc1", outcome="failure", target_id="t3"), 7)
    expected = [
        f"e{i:04d}" for i in reversed(range(120)) if i % 3 == 1 and i % 2 == 1 and i % 5 == 3
    ]
    assert got == expected and got


def test_time_window_is_inclusive_then_exclusive_in_both_orders(service):
    _store(service, 20)
    window = {"since": T0 + timedelta(seconds=5), "until": T0 + timedelta(seconds=10)}
    asc = _walk(service, Filters(order="asc", **window), 2)
    assert asc == [f"e{i:04d}" for i in range(5, 10)]
    assert _walk(service, Filters(order="desc", **window), 3) == asc[::-1]


def test_cursor_walk_sees_each_event_once_while_events_arrive(service):
    _store(service, 50)
    filters = Filters(order="asc")
    seen, cursor, extra = [], None, 50
    while True:
        page = service.query.page(filters, 10, cursor)
        seen += [orjson.loads(raw)["id"] for raw in page.items]
        _store(service, 3, start=extra)  # newer events arrive between pages
        extra += 3
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert set(f"e{i:04d}" for i in range(50)) <= set(seen)


def test_sparse_filter_crosses_the_scan_budget(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 7)
    _store(service, 60)
    got = _walk(service, Filters(service="svc0", target_id="t0"), 2)
    assert got == [f"e{i:04d}" for i in reversed(range(60)) if i % 15 == 0]


def test_cursor_for_other_filters_or_order_is_refused(service):
    _store(service, 5)
    page = service.query.page(Filters(), 2)
    with pytest.raises(BadRequest):
        service.query.page(Filters(order="asc"), 2, page.next_cursor)
    with pytest.raises(BadRequest):
        service.query.page(Filters(service="svc0"), 2, page.next_cursor)
    with pytest.raises(BadRequest):
        service.query.page(Filters(), 2, "not-a-cursor")


def test_exact_page_end_has_no_next_cursor(service):
    _store(service, 4)
    page = service.query.page(Filters(), 4)
    assert len(page.items) == 4 and page.next_cursor is None


# -- bounded work per call and per page ----------------------------------------------------
class WalkSpy:
    """Records each posting-list walk's budget and what it examined (members and windows)."""

    def __init__(self, monkeypatch) -> None:
        self.walks: list[tuple[int, int]] = []
        real = postings.PostingWalk.run

        def run(walk, want, budget, seconds):
            result = real(walk, want, budget, seconds)
            self.walks.append((budget, walk.examined))
            return result

        monkeypatch.setattr(postings.PostingWalk, "run", run)


class ScriptSpy:
    """Records, per time-index script call, the budget given and the members it examined."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[int, int]] = []
        real = scripts.run

        def run(client, call):
            result = real(client, call)
            if call.script == "query":
                self.calls.append((int(call.args[4]), int(result[2])))
            return result

        monkeypatch.setattr(scripts, "run", run)


def _store_hourly(service, n: int = 60, **fields) -> None:
    """Event ``i`` occurs at hour ``i`` (so every event is in a bucket of its own)."""
    _store(service, n, step=timedelta(hours=1), **fields)


def _store_disjoint(service, n: int = 60) -> None:
    """Type ``a`` always succeeds and is the older half; ``b`` is the newer half, all
    failures; one event an hour."""
    events = []
    for i in range(n):
        kind, outcome = ("a", "success") if i < n // 2 else ("b", "failure")
        ev = event(
            id=f"e{i:04d}",
            type=kind,
            outcome=outcome,
            occurred_at=format_utc(T0 + timedelta(hours=i)),
        )
        events.append(prepare(ev, LATER))
    writer = BatchWriter(service.redis, service.settings)
    assert not writer.write([Delivery(e.id, e) for e in events]).failed


def _small_windows(monkeypatch) -> None:
    """Windows planned for about one member each, so that a walk takes many."""
    monkeypatch.setattr(postings, "MEMBER_BYTES", 1)


class WindowSpy:
    """Records every window a posting-list walk reads: (hours it spans, whether it found)."""

    def __init__(self, monkeypatch) -> None:
        self.windows: list[tuple[int, bool]] = []
        real = postings.PostingWalk._window

        def window(walk, w_lo, w_hi):
            result = real(walk, w_lo, w_hi)
            self.windows.append(((w_hi - w_lo) // postings.HOUR_US, bool(result[0])))
            return result

        monkeypatch.setattr(postings.PostingWalk, "_window", window)


def test_a_page_stops_at_its_budget_and_resumes_where_it_stopped(service, monkeypatch):
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 4)  # members examined that do not match
    _small_windows(monkeypatch)
    _store_hourly(service, 60)
    spy = WalkSpy(monkeypatch)
    filters = Filters(service="svc0", target_id="t0")  # e0000, e0015, e0030, e0045
    for order in ("desc", "asc"):
        pages = []
        cursor = None
        while True:
            page = service.query.page(replace(filters, order=order), 10, cursor)
            pages.append([orjson.loads(raw)["id"] for raw in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        expected = ["e0045", "e0030", "e0015", "e0000"]
        assert [i for page in pages for i in page] == expected[:: 1 if order == "desc" else -1]
        assert any(len(p) < 10 for p in pages[:-1])  # short pages with a cursor: the bounded path
    # a walk stops once past its budget: by at most one window (a week of one event an hour)
    assert all(examined <= budget + 2 * 24 * 7 for budget, examined in spy.walks)


def test_no_common_event_is_answered_in_bounded_empty_pages(service, monkeypatch):
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 8)
    _small_windows(monkeypatch)
    _store_disjoint(service)
    for order in ("desc", "asc"):
        filters = Filters(type="a", outcome="success", service="auth", actor_id="alice")
        assert len(_walk(service, replace(filters, order=order), 7)) == 30  # all of type a
        filters = Filters(type="b", outcome="success", order=order)
        spy = WalkSpy(monkeypatch)
        page = service.query.page(filters, 10)
        assert page.items == [] and spy.walks[0][1] <= 8 + 24 * 7
        # newest first, one-member windows of type b pass the budget: cut short
        # (oldest first, the windows before type b's first event hold no list of it)
        assert order == "asc" or page.next_cursor is not None
        assert _walk(service, filters, 10) == []


def test_a_filter_value_with_no_list_reads_no_list(service, monkeypatch):
    _store_disjoint(service)
    reads: list[list[str]] = []
    real = service.redis.mget

    def mget(keys, *args):
        reads.append(list(keys))
        return real(keys, *args)

    monkeypatch.setattr(service.redis, "mget", mget)
    assert _walk(service, Filters(type="a", service="nobody"), 10) == []
    assert reads == []  # sized with STRLEN: a window with a missing list fetches nothing


def test_success_has_no_list_and_is_answered_by_excluding_the_other_outcomes(service):
    _store(service, 60)  # odd i fail, even i succeed
    lists = {k.decode() for k in service.redis.scan_iter(match="audit:t:*:pl:outcome:*")}
    assert lists and all(":failure" in k for k in lists)
    assert not list(service.redis.scan_iter(match="audit:t:*:ix:outcome:*"))
    got = _walk(service, Filters(outcome="success", target_id="t0"), 4)
    assert got == [f"e{i:04d}" for i in reversed(range(60)) if i % 2 == 0 and i % 5 == 0]
    assert len(_walk(service, Filters(outcome="success"), 7)) == 30
    assert len(_walk(service, Filters(outcome="success", order="asc"), 7)) == 30


def test_success_alone_walks_the_time_index_in_bounded_steps(service, monkeypatch):
    monkeypatch.setattr(postings, "TIME_CHUNK", 3)
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 2)
    outcomes = ["failure"] * 30 + ["success", "failure", "success", "failure"]
    events = [
        prepare(
            event(id=f"e{i:04d}", outcome=o, occurred_at=format_utc(T0 + timedelta(seconds=i))), T0
        )
        for i, o in enumerate(outcomes)
    ]
    assert (
        not BatchWriter(service.redis, service.settings)
        .write([Delivery(e.id, e) for e in events])
        .failed
    )
    assert _walk(service, Filters(outcome="success", order="asc"), 10) == ["e0030", "e0032"]
    page = service.query.page(Filters(outcome="success", order="asc"), 10)
    assert page.items == [] and page.next_cursor is not None  # 30 failures first: cut short


def test_a_page_stops_after_its_time_budget(service, monkeypatch):
    monkeypatch.setattr(query_module, "PAGE_TIME_BUDGET_S", 0.0)
    _small_windows(monkeypatch)
    _store_hourly(service, 60)
    page = service.query.page(Filters(service="svc0", target_id="t0"), 10)
    assert page.items == [] and page.next_cursor is not None  # hour 59 holds no match
    got = _walk(service, Filters(service="svc0", target_id="t0"), 10)
    assert got == ["e0045", "e0030", "e0015", "e0000"]


def test_the_time_index_script_examines_at_most_its_budget(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 3)
    _store(service, 20)
    spy = ScriptSpy(monkeypatch)
    assert len(_walk(service, Filters(), 7)) == 20
    assert spy.calls and all(examined <= budget == 3 for budget, examined in spy.calls)


@pytest.mark.parametrize("body_bytes", [postings.BODY_BYTES, 0])
def test_filters_spread_over_days_walk_to_exactly_the_matches(service, monkeypatch, body_bytes):
    # body_bytes 0: every filter but the walked one is checked on the events' bodies
    monkeypatch.setattr(postings, "BODY_BYTES", body_bytes)
    by_bodies = []
    real = postings.PostingWalk._kept_by_bodies

    def kept_by_bodies(walk, members, pair):
        by_bodies.append(pair)
        return real(walk, members, pair)

    monkeypatch.setattr(postings.PostingWalk, "_kept_by_bodies", kept_by_bodies)
    fetched: list[list[bytes]] = []
    real_get = service.query.store.get_raw_many

    def get_raw_many(tenant, ids, **kwargs):
        fetched.append(list(ids))
        return real_get(tenant, ids, **kwargs)

    monkeypatch.setattr(service.query.store, "get_raw_many", get_raw_many)
    real_page = service.query.page

    def page(*args, **kwargs):
        fetched.clear()
        result = real_page(*args, **kwargs)
        ids = [i for batch in fetched for i in batch]
        assert len(ids) == len(set(ids))  # a body a page checked a filter on is read once
        return result

    monkeypatch.setattr(service.query, "page", page)
    _store_hourly(service, 120)  # five days: the actor and target lists are daily
    for order in ("desc", "asc"):
        for filters, keep in [
            (Filters(target_id="t3"), lambda i: i % 5 == 3),
            (Filters(service="svc1", outcome="failure"), lambda i: i % 3 == 1 and i % 2),
            (Filters(outcome="success", target_id="t1"), lambda i: i % 2 == 0 and i % 5 == 1),
            (Filters(service="svc2", target_id="t4"), lambda i: i % 3 == 2 and i % 5 == 4),
        ]:
            expected = [f"e{i:04d}" for i in reversed(range(120)) if keep(i)]
            got = _walk(service, replace(filters, order=order), 3)
            assert got == (expected if order == "desc" else expected[::-1])
        window = {"since": T0 + timedelta(hours=30), "until": T0 + timedelta(hours=80)}
        got = _walk(service, Filters(target_id="t2", order=order, **window), 2)
        expected = [f"e{i:04d}" for i in reversed(range(30, 80)) if i % 5 == 2]
        assert got == (expected if order == "desc" else expected[::-1])
    assert bool(by_bodies) == (body_bytes == 0)


def test_windows_narrowed_to_their_byte_budget_give_the_same_walk(service, monkeypatch):
    _store_hourly(service, 120)
    filters = Filters(service="svc1", outcome="failure")
    wide = _walk(service, filters, 7)
    monkeypatch.setattr(postings, "WINDOW_BYTES", 1)  # under one member: one-hour windows
    spy = WindowSpy(monkeypatch)
    assert _walk(service, filters, 7) == wide and len(wide) == 20
    assert max(hours for hours, found in spy.windows if found) == 1


def test_a_sparse_value_is_read_in_few_windows(service, monkeypatch):
    _store_hourly(service, 24 * 20, type="rare")  # 20 days; target t3 on every fifth hour
    spy = WindowSpy(monkeypatch)
    page = service.query.page(Filters(target_id="t3"), 100)
    assert len(page.items) == 96 and page.next_cursor is None
    assert len(spy.windows) == 1  # sized with STRLEN: the 20 days of daily lists at once


def test_an_event_decades_older_than_the_rest_is_reached_over_the_gap(service, monkeypatch):
    # a producer's clock (or a hostile one) can put one event 36 years back: the walk jumps
    # the empty years through the time index instead of reading them a week at a time
    monkeypatch.setattr(query_module, "PAGE_TIME_BUDGET_S", 60.0)  # count windows, not ms
    _store_hourly(service, 30)
    old = event(id="ancient", occurred_at="1990-01-01T00:00:00Z", service="svc0")
    old["target"] = {"id": "t0"}
    writer = BatchWriter(service.redis, service.settings)
    assert not writer.write([Delivery("ancient", prepare(old, LATER))]).failed
    spy = WindowSpy(monkeypatch)
    filters = Filters(service="svc0", target_id="t0")  # e0000, e0015, and the ancient one
    for order in ("desc", "asc"):
        spy.windows.clear()
        got = _walk(service, replace(filters, order=order), 10)
        expected = ["e0015", "e0000", "ancient"]
        assert got == (expected if order == "desc" else expected[::-1])
        assert len(spy.windows) < 20  # 36 years a week at a time would be ~1,900 windows
