"""collector.timefmt: strict RFC 3339 in, one UTC form out, and the sortable index key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.timefmt import (
    SORT_KEY_DIGITS,
    format_given,
    format_utc,
    parse_rfc3339,
    sort_key,
)

# No time-based health checks: the machines are shared, and a slow generator is not a bug.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
moments = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
    timezones=st.just(UTC),
)


def test_parse_returns_an_aware_utc_datetime():
    parsed = parse_rfc3339("2026-01-31T14:00:00.5+02:00")
    assert parsed == datetime(2026, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-01-31T12:00:00", "2026-01-31", "2026-W05-6", "", None, 1])
def test_parse_rejects_non_rfc3339_with_value_error(value):
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(value)


@pytest.mark.parametrize("value", ["2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z"])
def test_parse_rejects_impossible_dates_with_value_error(value):
    with pytest.raises(ValueError, match="valid date-time"):
        parse_rfc3339(value)


def test_parse_truncates_fractions_beyond_microseconds():
    assert parse_rfc3339("2026-01-31T12:00:00.9999999999Z").microsecond == 999999


def test_format_is_utc_with_microseconds_and_z():
    local = datetime(2026, 1, 31, 14, 0, 0, 1000, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(local) == "2026-01-31T12:00:00.001000Z"


def test_sort_key_is_fixed_width_microseconds_since_year_1():
    moment = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    key = sort_key(moment)
    assert len(key) == SORT_KEY_DIGITS
    assert key.isdigit()
    assert datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(key)) == moment


@PROPERTY
@given(moments)
def test_property_format_then_parse_is_the_same_instant(moment):
    assert parse_rfc3339(format_utc(moment)) == moment


@PROPERTY
@given(
    moments.filter(lambda m: 1000 < m.year < 9999),  # shifting stays within years 1-9999
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_property_offsets_do_not_change_the_instant(moment, minutes):
    shifted = moment.astimezone(timezone(timedelta(minutes=minutes)))
    text = shifted.isoformat()
    assert parse_rfc3339(text) == moment


@PROPERTY
@given(moments, moments)
def test_property_sort_keys_sort_like_the_times(a, b):
    assert (sort_key(a) < sort_key(b)) == (a < b)
    assert (sort_key(a) == sort_key(b)) == (a == b)


@PROPERTY
@given(
    moments,
    st.sampled_from(["T", "t", " "]),
    st.text("0123456789", max_size=12),
    st.sampled_from(["Z", "z", "+00:00", "-07:30", "+14:00"]),
)
def test_format_given_is_format_utc_of_what_was_parsed(moment, separator, digits, offset):
    """The re-cut of a given text must be the formatted parse, whatever the text's form
    (fails if a fraction is rounded, padded wrong, or a non-UTC text is re-cut)."""
    text = moment.strftime("%Y-%m-%d") + separator + moment.strftime("%H:%M:%S")
    text += ("." + digits if digits else "") + offset
    try:
        parsed = parse_rfc3339(text)
    except ValueError:  # an offset that pushes the moment past year 9999
        return
    assert format_given(parsed, text) == format_utc(parsed)


@pytest.mark.parametrize(
    ("given", "formatted"),
    [
        ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00.000000Z"),
        ("2026-01-31T12:00:00.5Z", "2026-01-31T12:00:00.500000Z"),
        ("2026-01-31T12:00:00.123456Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T12:00:00.1234569Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T14:00:00.5+02:00", "2026-01-31T12:00:00.500000Z"),
    ],
)
def test_format_given_examples(given, formatted):
    assert format_given(parse_rfc3339(given), given) == formatted


def test_format_given_leaves_the_received_at_memo_alone():
    received = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    text = format_utc(received)
    format_given(datetime(2026, 1, 31, 14, 0, tzinfo=UTC), None)
    assert format_utc(received) is text
