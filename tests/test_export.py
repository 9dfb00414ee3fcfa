"""Exports: every match once, in the list's order, NDJSON or CSV with the SPEC's columns."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from helpers import event, store_now

from collector.errors import BadRequest
from collector.events import prepare
from collector.export import CSV_COLUMNS, Export, parse_export_args
from collector.query import Filters
from collector.timefmt import now_utc

SPEC_COLUMNS = (
    "seq, id, type, service, tenant, occurred_at, received_at, actor_id, actor_type, "
    "actor_name, actor_ip, target_id, target_type, target_name, outcome, request_id, "
    "trace_id, data"
)


def _store(service, n: int, **fields) -> None:
    now = now_utc()
    events = [
        prepare(
            event(
                id=f"e{i:04d}",
                occurred_at=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                **fields,
            ),
            now,
        )
        for i in range(n)
    ]
    store_now(service.redis, service.settings, events)


def test_csv_columns_are_the_specs():
    assert ", ".join(CSV_COLUMNS) == SPEC_COLUMNS


def test_ndjson_is_every_match_once_across_pages(service):
    _store(service, 23)
    export = Export(service.query, Filters(order="asc"), "ndjson", page_size=5)
    lines = b"".join(export).splitlines()
    ids = [orjson.loads(line)["id"] for line in lines]
    assert ids == [f"e{i:04d}" for i in range(23)]
    assert export.written == 23


def test_csv_rows_carry_every_column(service):
    _store(
        service,
        3,
        tenant="acme",
        actor={"id": "alice", "name": 'Alice, "A"', "ip": "203.0.113.7"},
        target={"id": "inv-1", "type": "invoice"},
        request_id="req-1",
        data={"amount": 12, "note": "line1\nline2"},
    )
    export = Export(service.query, Filters(tenant="acme"), "csv", page_size=2)
    rows = list(csv.reader(io.StringIO(b"".join(export).decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 4
    first = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert first["id"] == "e0002"  # desc by default
    assert first["seq"] == "3" and first["tenant"] == "acme"
    assert first["actor_name"] == 'Alice, "A"' and first["actor_ip"] == "203.0.113.7"
    assert first["target_type"] == "invoice" and first["trace_id"] == ""
    assert orjson.loads(first["data"]) == {"amount": 12, "note": "line1\nline2"}


def test_an_empty_export_is_just_the_header(service):
    assert (
        b"".join(Export(service.query, Filters(), "csv"))
        == b",".join(c.encode() for c in CSV_COLUMNS) + b"\r\n"
    )
    assert b"".join(Export(service.query, Filters(), "ndjson")) == b""


@pytest.mark.parametrize(
    "args",
    [
        {"format": "xml"},
        {},
        {"limit": "10", "format": "csv"},
        {"cursor": "abc"},
        {"since": "yesterday"},
        {"tenant": "no spaces"},
        {"order": "sideways"},
    ],
)
def test_bad_arguments_are_refused(args):
    with pytest.raises(BadRequest):
        parse_export_args(args)


def test_arguments_take_the_lists_filters():
    filters, fmt = parse_export_args({"type": "user.login", "order": "asc", "format": "csv"})
    assert fmt == "csv" and filters.type == "user.login" and filters.order == "asc"
    with pytest.raises(BadRequest):  # the format is required
        parse_export_args({})
