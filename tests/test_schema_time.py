"""The v1 event's times: occurred_at (RFC 3339 with an offset, stored in UTC) and received_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from helpers import (
    RECEIVED,
    event,
    rejected_at,
    stored,
)

from collector.events import validate
from collector.timefmt import parse_rfc3339

# ---------------------------------------------------------------------------- occurred_at


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00+00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00-00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T14:30:00+02:30", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T07:00:00-05:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-01T01:00:00+23:59", datetime(2025, 12, 31, 1, 1, tzinfo=UTC)),
        ("2026-01-31t12:00:00z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00.5Z", datetime(2026, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123Z", datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123456Z", datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T23:59:59+01:00", datetime(2024, 2, 29, 22, 59, 59, tzinfo=UTC)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
    ],
)
def test_occurred_at_accepts_rfc3339_with_an_offset_and_converts_to_utc(value, utc):
    loaded = validate(event(occurred_at=value))["occurred_at"]
    assert loaded == utc
    assert loaded.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31T12:00:00",  # no offset
        "2026-01-31T12:00:00.123",  # no offset
        "2026-01-01",  # date only
        "2026-W05-6",  # week date
        "2026-W05-6T12:00:00Z",  # week date with a time
        "2026-W05",
        "2026-031T12:00:00Z",  # ordinal date
        "20260131T120000Z",  # ISO 8601 basic format
        "2026-01-31T12:00Z",  # no seconds
        "2026-01-31T12Z",
        "2026-01-31T12:00:00+0100",  # offset without a colon
        "2026-01-31T12:00:00+01",  # offset without minutes
        "2026-01-31T12:00:00 Z",
        "2026-01-31T12:00:00.Z",  # a dot without digits
        "2026-01-31T12:00:00,5Z",  # a comma fraction
        "2026-01-31_12:00:00Z",
        "12:00:00Z",  # time only
        "2026-13-01T12:00:00Z",  # month 13
        "2026-02-30T12:00:00Z",  # no such day
        "2025-02-29T12:00:00Z",  # not a leap year
        "2026-01-31T25:00:00Z",  # hour 25
        "2026-01-31T12:60:00Z",  # minute 60
        "2026-01-31T12:00:00+24:00",  # offset out of range
        "0000-01-01T00:00:00Z",  # year 0
        "26-01-31T12:00:00Z",
        "+2026-01-31T12:00:00Z",
        " 2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00Z ",
        "2026-01-31T12:00:00Z\n",
        "٢٠٢٦-01-31T12:00:00Z",  # non-ASCII digits
        "yesterday",
        "",
        1769860800,
        1769860800.5,
        None,
        {"date": "2026-01-31"},
    ],
    ids=repr,
)
def test_occurred_at_rejects_anything_but_rfc3339_with_an_offset(value):
    rejected_at(event(occurred_at=value), "occurred_at")


@pytest.mark.parametrize(
    "value", ["2026-01-31T12:00:00+05:60", "2026-01-31T12:00:00+05:99", "2026-01-31T12:00:00-00:75"]
)
def test_occurred_at_rejects_offset_minutes_over_59(value):
    rejected_at(event(occurred_at=value), "occurred_at")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_occurred_at_out_of_range_in_utc_is_a_validation_error(value):
    rejected_at(event(occurred_at=value), "occurred_at")


def test_occurred_at_latest_instant_is_accepted():
    assert stored(event(occurred_at="9999-12-31T23:59:59.999999Z"))["occurred_at"] == (
        "9999-12-31T23:59:59.999999Z"
    )


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "1000-01-01T00:30:00+01:00"]
)
def test_occurred_at_before_year_1000_is_stored_as_rfc3339(value):
    doc = stored(event(occurred_at=value))
    assert parse_rfc3339(doc["occurred_at"]) == parse_rfc3339(value)


@pytest.mark.parametrize(
    ("value", "stored_as"),
    [
        ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00.000000Z"),
        ("2026-01-31T14:00:00+02:00", "2026-01-31T12:00:00.000000Z"),
        ("2026-01-31T00:15:00.250-11:45", "2026-01-31T12:00:00.250000Z"),
        ("2026-01-01T00:00:00.001+00:01", "2025-12-31T23:59:00.001000Z"),
    ],
)
def test_occurred_at_is_stored_in_utc_to_the_microsecond(value, stored_as):
    assert stored(event(occurred_at=value))["occurred_at"] == stored_as


@pytest.mark.parametrize(
    ("value", "stored_as"),
    [
        ("2026-01-31T12:00:00.1234567Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T12:00:00.123456789Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T12:00:00.9999999Z", "2026-01-31T12:00:00.999999Z"),  # not rounded up
        ("2026-01-31T13:00:00.0000019+01:00", "2026-01-31T12:00:00.000001Z"),
        ("2026-01-31T12:00:00." + "7" * 40 + "Z", "2026-01-31T12:00:00.777777Z"),
    ],
)
def test_occurred_at_fractions_beyond_microseconds_are_truncated(value, stored_as):
    assert stored(event(occurred_at=value))["occurred_at"] == stored_as


def test_occurred_at_defaults_to_received_at():
    doc = stored(event())
    assert doc["occurred_at"] == doc["received_at"] == "2026-03-01T12:00:00.123456Z"


def test_received_at_is_stored_in_utc():
    local = RECEIVED.astimezone(timezone(timedelta(hours=5, minutes=30)))
    doc = stored(event(), received_at=local)
    assert doc["received_at"] == doc["occurred_at"] == "2026-03-01T12:00:00.123456Z"
