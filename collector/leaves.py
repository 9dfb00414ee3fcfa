"""The leaves of a tenant's Merkle tree: RFC 8785 (JCS) canonical JSON of each stored event.

``rfc8785`` is the definition. It is pure Python (about 100 µs per event here), too slow
for a million-event verify, so where orjson's sorted-keys output is provably the same
bytes, orjson writes it:

- JCS and orjson escape every code point alike (``tests/test_leaves.py`` checks all of them);
- they sort keys alike unless a key holds a code point at or above U+D800 (JCS sorts by
  UTF-16 code units, orjson by code points), so such a document goes to ``rfc8785``;
- they write integers alike inside JCS's exact range ``±(2**53 - 1)``, and floats
  differently, so a document with a float (or a bigger integer) goes to ``rfc8785``.

The schema rejects integers outside ``±(2**53 - 1)`` in ``data``, so every stored event
has a leaf that any two JCS implementations agree on. A stored document that is not JSON
or cannot be canonicalized (only a tampered one can be) has its raw bytes as its leaf.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

from collector.merkle import leaf_hash

MAX_SAFE_INTEGER = 2**53 - 1
_HIGH_KEY = "\ud800"  # keys with a code point at or above this sort differently in UTF-16


def _orjson_is_jcs(value: Any) -> bool:
    """Whether orjson's sorted-keys output of ``value`` is its JCS form."""
    # Exact type checks, strings first: this runs once per leaf, a million times in a verify.
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            continue
        if kind is dict:
            for key in item:
                if not key.isascii() and max(key) >= _HIGH_KEY:
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is not bool and item is not None:
            return False  # a float, or anything else orjson and JCS may write differently
    return True


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of a JSON value; raises ``rfc8785.CanonicalizationError``."""
    if _orjson_is_jcs(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def leaf_of(stored: bytes) -> bytes:
    """The leaf bytes of one stored event (its JSON as Redis holds it)."""
    try:
        return canonical(orjson.loads(stored))
    except (orjson.JSONDecodeError, rfc8785.CanonicalizationError):
        return stored


def leaf_hash_of(stored: bytes) -> bytes:
    """The RFC 9162 leaf hash of one stored event."""
    return leaf_hash(leaf_of(stored))
