"""Exports: every event matching a list's filters, as NDJSON or CSV, streamed page by page.

Memory stays constant whatever the export's size: one page of events is held at a
time, and NDJSON writes the stored JSON bytes as they are. The walk is the cursor walk
of ``GET /v1/events``, so each matching event is written exactly once even while new
ones arrive.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from marshmallow import RAISE

from collector.query import Filters, ListQuerySchema, Query, load_args
from collector.schema import Choice

# The SPEC's columns, in its order; `data` is the event's data as compact JSON.
CSV_COLUMNS = (
    "seq",
    "id",
    "type",
    "service",
    "tenant",
    "occurred_at",
    "received_at",
    "actor_id",
    "actor_type",
    "actor_name",
    "actor_ip",
    "target_id",
    "target_type",
    "target_name",
    "outcome",
    "request_id",
    "trace_id",
    "data",
)
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
FORMATS = tuple(MEDIA_TYPES)
# Events fetched per Redis round trip: big enough to amortize it, small enough that a
# page (at most this many times AUDIT_MAX_EVENT_BYTES, ~100 KB typically) is cheap.
PAGE_SIZE = 500


class ExportQuerySchema(ListQuerySchema):
    """Query parameters of ``GET /v1/events/export``: the list's filters and order, and the
    format; no ``limit`` or ``cursor`` (an export is every match)."""

    class Meta:
        unknown = RAISE
        exclude = ("limit", "cursor", "after_seq")

    # Required: /v1/events/export must never answer what looks like a read of the event
    # whose id is "export" with a 200.
    format = Choice(FORMATS, required=True)


EXPORT_QUERY_SCHEMA = ExportQuerySchema()


def parse_export_args(
    args: Mapping[str, Any], default_tenant: str = "default"
) -> tuple[Filters, str]:
    """Validate raw query parameters: (filters, format). Raises BadRequest."""
    loaded = load_args(EXPORT_QUERY_SCHEMA, args)
    return Filters.from_args(loaded, default_tenant), loaded["format"]


def csv_row(event: dict[str, Any]) -> list[Any]:
    """One stored event as the CSV columns' values (absent fields are empty cells)."""
    actor = event.get("actor") or {}
    target = event.get("target") or {}
    return [
        event.get("seq"),
        event.get("id"),
        event.get("type"),
        event.get("service"),
        event.get("tenant"),
        event.get("occurred_at"),
        event.get("received_at"),
        actor.get("id"),
        actor.get("type"),
        actor.get("name"),
        actor.get("ip"),
        target.get("id"),
        target.get("type"),
        target.get("name"),
        event.get("outcome"),
        event.get("request_id"),
        event.get("trace_id"),
        orjson.dumps(event.get("data", {})).decode(),
    ]


def _csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


class Export:
    """An export in progress. The first page is read when it is made, so a bad cursor
    walk or an unreachable Redis fails before the first byte is sent; iterate it for
    the bytes. ``written`` counts the events handed out so far (for progress bars)."""

    def __init__(
        self, query: Query, filters: Filters, fmt: str, page_size: int = PAGE_SIZE
    ) -> None:
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"export format must be one of {', '.join(FORMATS)}")
        self.query = query
        self.filters = filters
        self.format = fmt
        self.page_size = page_size
        self.written = 0
        self._first = query.page(filters, page_size)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def filename(self) -> str:
        return f"audit-{self.filters.tenant}.{self.format}"

    def __iter__(self) -> Iterator[bytes]:
        if self.format == "csv":
            yield _csv_bytes([list(CSV_COLUMNS)])
        page = self._first
        while True:
            if page.items:
                self.written += len(page.items)  # counted as handed out, for progress
                yield self._encode(page.items)
            if page.next_cursor is None:
                return
            page = self.query.page(self.filters, self.page_size, page.next_cursor)

    def _encode(self, items: list[bytes]) -> bytes:
        if self.format == "ndjson":
            return b"\n".join(items) + b"\n"
        return _csv_bytes([csv_row(orjson.loads(raw)) for raw in items])
