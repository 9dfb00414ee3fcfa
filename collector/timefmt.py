"""RFC 3339 timestamps: strict parsing, one UTC output format, and the index's sortable form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# RFC 3339 date-time, offset required. Python's fromisoformat alone also takes
# week dates, naive times and other ISO 8601 forms that RFC 3339 does not.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_EPOCH0 = datetime(1, 1, 1, tzinfo=UTC)
SORT_KEY_DIGITS = 18


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset into an aware UTC datetime.

    Raises ValueError with a short message otherwise. Fractions beyond microseconds
    are truncated.
    """
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("Not an RFC 3339 date-time with an offset (e.g. 2026-01-31T12:00:00Z).")
    text = value
    fraction = match.end(1) - match.start(1) if match.start(1) != -1 else 0
    if fraction > 6:  # more than microseconds: fromisoformat would reject it
        text = text[: match.start(1) + 6] + text[match.end(1) :]
    if not text.isupper():  # a lowercase "t" or "z" (or no letter at all: a space, an offset)
        text = text.replace("z", "Z").replace("t", "T")
    try:
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError("Not a valid date-time.") from None
    if parsed.tzinfo is UTC:  # "Z": already what astimezone would make
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset pushes it past year 1 or 9999
        raise ValueError("Not a valid date-time.") from None


def format_utc(moment: datetime) -> str:
    """The one output form: UTC, microseconds, ``Z`` (e.g. ``2026-01-31T12:00:00.000000Z``)."""
    global _last_formatted
    last = _last_formatted
    if last[0] is moment:  # a batch's events share one received_at: formatted once
        return last[1]
    text = _format(moment)
    _last_formatted = (moment, text)
    return text


# (datetime, its format_utc): one tuple, replaced whole, so threads read a matching pair
_last_formatted: tuple[datetime | None, str] = (None, "")


def _format(moment: datetime) -> str:
    # isoformat, unlike strftime("%Y"), pads years below 1000 to four digits
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def format_given(moment: datetime, given: object) -> str:
    """:func:`format_utc` of ``moment``, which :func:`parse_rfc3339` parsed from ``given``.

    A ``given`` already in UTC with an upper-case ``T`` and ``Z`` is re-cut rather than
    formatted (``2026-01-31T12:00:00.5Z`` becomes ``2026-01-31T12:00:00.500000Z``): the
    fraction padded or cut to six digits, as parsing and formatting would (a tenth of
    the worker's time went to formatting timestamps). Anything else is formatted, and
    the one-entry memo of :func:`format_utc` (a batch's ``received_at``) is left alone.
    """
    if type(given) is str and given[-1:] == "Z" and given[10:11] == "T":
        fraction = given[19:-1]
        if not fraction:
            return given[:-1] + ".000000Z"
        if len(fraction) < 7:
            return given[:19] + (fraction + "00000")[:7] + "Z"
        return given[:26] + "Z"
    return _format(moment)


def now_utc() -> datetime:
    return datetime.now(UTC)


def sort_key(moment: datetime) -> str:
    """Fixed-width decimal microseconds since 0001-01-01: sorts like the time itself."""
    delta = moment - _EPOCH0
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return str(micros).zfill(SORT_KEY_DIGITS)
