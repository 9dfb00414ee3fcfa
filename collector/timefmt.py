"""RFC 3339 timestamps: strict parsing, one UTC output format, and the index's sortable form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# RFC 3339 date-time, offset required. Python's fromisoformat alone also takes
# week dates, naive times and other ISO 8601 forms that RFC 3339 does not.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_EPOCH0 = datetime(1, 1, 1, tzinfo=UTC)
SORT_KEY_DIGITS = 18


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset into an aware UTC datetime.

    Raises ValueError with a short message otherwise. Fractions beyond microseconds
    are truncated.
    """
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("Not an RFC 3339 date-time with an offset (e.g. 2026-01-31T12:00:00Z).")
    text = value
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        if end - dot > 7:  # more than microseconds: fromisoformat would reject it
            text = text[: dot + 7] + text[end:]
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # overflow: an offset pushes it past year 1 or 9999
        raise ValueError("Not a valid date-time.") from None


def format_utc(moment: datetime) -> str:
    """The one output form: UTC, microseconds, ``Z`` (e.g. ``2026-01-31T12:00:00.000000Z``)."""
    # isoformat, unlike strftime("%Y"), pads years below 1000 to four digits
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def now_utc() -> datetime:
    return datetime.now(UTC)


def sort_key(moment: datetime) -> str:
    """Fixed-width decimal microseconds since 0001-01-01: sorts like the time itself."""
    delta = moment - _EPOCH0
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return str(micros).zfill(SORT_KEY_DIGITS)
