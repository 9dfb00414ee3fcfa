"""JSON in: orjson for speed, and no silent change of an integer that does not fit 64 bits.

orjson reads such an integer as a float (123456789012345678901234567890 would come back
as 1.2345678901234568e+29): for an audit record that is a silent alteration, so a body
with a run of 20 or more digits is read again exactly, and refused if one is too big.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{20,}")
_INT64 = (-(2**63), 2**64 - 1)  # orjson writes unsigned 64-bit integers too


class JSONError(ValueError):
    """Not JSON, or JSON this product cannot keep exactly; the message is one line."""


def _exact_int(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise JSONError(f"integer {text[:24]}... does not fit in 64 bits")
    return value


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raise :class:`JSONError` for malformed input or an out-of-range integer."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JSONError(str(exc).splitlines()[0]) from None
    data = raw.encode() if isinstance(raw, str) else raw
    if _LONG_DIGITS.search(data):
        json.loads(data, parse_int=_exact_int)
    return value
