"""Queries straight on the core: combined filters, time windows, order, cursor walks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from helpers import event

from collector import query as query_module
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
