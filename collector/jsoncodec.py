"""JSON in: orjson for speed, and no silent change of an integer that does not fit 64 bits.

orjson reads such an integer as a float (123456789012345678901234567890 would come back
as 1.2345678901234568e+29): for an audit record that is a silent alteration, so a body
with a run of 20 or more digits is read again exactly, and refused if one is too big.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Digits to "1", everything else to "0": a run of 20 digits is then a plain substring
# search, done in C (a regex over every event cost the worker ~10 us per 1 KB).
_DIGIT_MAP = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_TWENTY_DIGITS = b"1" * 20
_INT64 = (-(2**63), 2**64 - 1)  # orjson writes unsigned 64-bit integers too


class JSONError(ValueError):
    """Not JSON; the message is one line."""


class InexactNumber(JSONError):
    """Valid JSON holding an integer that does not fit in 64 bits (an invalid event, 422)."""


def _exact_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:  # more digits than any 64-bit integer (and int() has a cap)
        raise InexactNumber(f"Integers must fit in 64 bits; {text[:24]}... does not.")
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise InexactNumber(f"Integers must fit in 64 bits; {text[:24]}... does not.")
    return value


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raise :class:`JSONError` if malformed, :class:`InexactNumber` if too big."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JSONError(str(exc).splitlines()[0]) from None
    return exact(raw, value)


def exact(raw: bytes | str, value: Any) -> Any:
    """``value``, orjson's parse of ``raw``, once ``raw`` is known to hold no integer past
    64 bits (which orjson reads as a float); raises :class:`InexactNumber` otherwise."""
    data = raw.encode() if isinstance(raw, str) else raw
    if _TWENTY_DIGITS in data.translate(_DIGIT_MAP):
        json.loads(data, parse_int=_exact_int)
    return value
