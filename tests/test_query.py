"""Queries straight on the core: combined filters, time windows, order, cursor walks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from helpers import event

from collector import query as query_module
from collector import scripts
from collector.errors import BadRequest
from collector.events import prepare
from collector.query import Filters
from collector.timefmt import format_utc
from collector.writer import BatchWriter, Delivery

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _store(service, n: int, start: int = 0, **fields) -> None:
    events = []
    for i in range(start, start + n):
        ev = event(
            id=f"e{i:04d}",
            occurred_at=format_utc(T0 + timedelta(seconds=i)),
            service=f"svc{i % 3}",
            outcome=("success", "failure")[i % 2],
            target={"id": f"t{i % 5}"},
            **fields,
        )
        events.append(prepare(ev, T0))
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
class ScriptSpy:
    """Records, per query-script call, the budget given and the members it examined."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[int, int]] = []
        self.recording = True
        real = scripts.run

        def run(client, call):
            result = real(client, call)
            if call.script == "query" and self.recording:
                self.calls.append((int(call.args[4]), int(result[2])))
            return result

        monkeypatch.setattr(scripts, "run", run)


def _store_disjoint(service, n: int = 60) -> None:
    """Type ``a`` always succeeds and is the older half; ``b`` is the newer half, all failures."""
    events = []
    for i in range(n):
        kind, outcome = ("a", "success") if i < n // 2 else ("b", "failure")
        ev = event(
            id=f"e{i:04d}",
            type=kind,
            outcome=outcome,
            occurred_at=format_utc(T0 + timedelta(seconds=i)),
        )
        events.append(prepare(ev, T0))
    writer = BatchWriter(service.redis, service.settings)
    assert not writer.write([Delivery(e.id, e) for e in events]).failed


def test_a_page_stops_at_its_budget_and_resumes_where_it_stopped(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 5)
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 4)  # members examined that do not match
    _store(service, 60)
    spy = ScriptSpy(monkeypatch)
    filters = Filters(service="svc0", target_id="t0")  # e0000, e0015, e0030, e0045
    pages = []
    cursor = None
    while True:
        page = service.query.page(filters, 10, cursor)
        pages.append([orjson.loads(raw)["id"] for raw in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [i for page in pages for i in page] == ["e0045", "e0030", "e0015", "e0000"]
    assert any(len(p) < 10 for p in pages[:-1])  # short pages with a cursor: the bounded path
    assert all(examined <= budget <= 5 for budget, examined in spy.calls)


def test_no_common_event_is_answered_in_bounded_empty_pages(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 4)
    monkeypatch.setattr(query_module, "PAGE_BUDGET", 8)
    _store_disjoint(service)
    for order in ("desc", "asc"):
        filters = Filters(type="a", outcome="success", service="auth", actor_id="alice")
        assert len(_walk(service, filters, 7)) == 30  # the sets do meet: all of type a
        filters = Filters(type="b", outcome="success", order=order)
        spy = ScriptSpy(monkeypatch)
        page = service.query.page(filters, 10)
        spy.recording = False
        assert page.items == []
        assert sum(examined for _, examined in spy.calls) <= 8
        assert _walk(service, filters, 10) == []


def test_a_filter_with_nothing_left_in_the_range_ends_the_walk_early(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 5)
    _store_disjoint(service)
    spy = ScriptSpy(monkeypatch)
    # newest first: type a (the 30 older events, all successes) is walked from its newest
    # member; after the first call, outcome=failure (the 30 newer events) has nothing left
    page = service.query.page(Filters(type="a", outcome="failure"), 10)
    assert page.items == [] and page.next_cursor is None
    assert len(spy.calls) == 2 and sum(examined for _, examined in spy.calls) == 5


def test_success_has_no_set_and_is_answered_by_excluding_the_other_outcomes(service, monkeypatch):
    _store(service, 60)  # odd i fail, even i succeed
    sets = {k.decode() for k in service.redis.scan_iter(match="audit:t:*:ix:outcome:*")}
    assert sets == {"audit:t:{default}:ix:outcome:failure"}
    got = _walk(service, Filters(outcome="success", target_id="t0"), 4)
    assert got == [f"e{i:04d}" for i in reversed(range(60)) if i % 2 == 0 and i % 5 == 0]
    assert len(_walk(service, Filters(outcome="success"), 7)) == 30


def test_a_page_makes_no_call_after_its_time_budget(service, monkeypatch):
    monkeypatch.setattr(query_module, "SCAN_BUDGET", 3)
    monkeypatch.setattr(query_module, "PAGE_TIME_BUDGET_S", 0.0)
    _store(service, 60)
    spy = ScriptSpy(monkeypatch)
    page = service.query.page(Filters(service="svc0", target_id="t0"), 10)
    assert len(spy.calls) == 1 and page.next_cursor is not None
    spy.recording = False
    got = _walk(service, Filters(service="svc0", target_id="t0"), 10)
    assert got == ["e0045", "e0030", "e0015", "e0000"]
