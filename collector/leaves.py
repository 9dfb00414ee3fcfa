"""The leaves of a tenant's Merkle tree: RFC 8785 (JCS) canonical JSON of each stored event.

``rfc8785`` is the definition. It is pure Python (about 100 µs per event here), too slow
for a million-event verify, so orjson writes the document where its sorted-keys output
is provably the same bytes, and ``rfc8785`` writes the parts where it is not:

- JCS and orjson escape every code point alike (``tests/test_leaves.py`` checks all of them);
- they sort keys alike unless a key holds a code point at or above U+D800 (JCS sorts by
  UTF-16 code units, orjson by code points): such a document is written by ``rfc8785``;
- they write integers alike inside JCS's exact range ``±(2**53 - 1)``; a bigger one
  sends the document to ``rfc8785`` (which refuses it);
- they write floats differently: each float is written by ``rfc8785`` and embedded in
  orjson's output as it is (``orjson.Fragment``).

The schema rejects integers outside ``±(2**53 - 1)`` in ``data``, so every stored event
has a leaf that any two JCS implementations agree on. A stored document that is not JSON
or cannot be canonicalized (only a tampered one can be) has its raw bytes as its leaf.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import rfc8785

from collector.merkle import leaf_hash

MAX_SAFE_INTEGER = 2**53 - 1
_HIGH_KEY = "\ud800"  # keys with a code point at or above this sort differently in UTF-16


def _prepare(value: Any) -> bool:
    """Make a parsed JSON object or array ready for orjson, in place: each float becomes
    its JCS text (written by rfc8785). False if only rfc8785 can write the whole value."""
    # One pass, exact type checks, scalars never pushed: this runs a million times in a
    # verify. Replacing a value while iterating a dict's items is safe (same keys).
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            keys = "".join(item)
            if not keys.isascii() and max(keys) >= _HIGH_KEY:
                return False
            pairs: Any = item.items()
        else:
            pairs = enumerate(item)
        for key, child in pairs:
            kind = type(child)
            if kind is str or kind is bool or child is None:
                continue
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is int:
                if not -MAX_SAFE_INTEGER <= child <= MAX_SAFE_INTEGER:
                    return False
            elif kind is float:
                item[key] = orjson.Fragment(rfc8785.dumps(child))
            else:
                return False  # not a JSON value: rfc8785 says what is wrong with it
    return True


def _container(value: Any) -> bool:
    return type(value) is dict or type(value) is list


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of a JSON value; raises ``rfc8785.CanonicalizationError``."""
    owned = copy.deepcopy(value)
    if _container(owned) and _prepare(owned):
        return orjson.dumps(owned, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def leaf_of(stored: bytes) -> bytes:
    """The leaf bytes of one stored event (its JSON as Redis holds it)."""
    try:
        value = orjson.loads(stored)
        if _container(value) and _prepare(value):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return rfc8785.dumps(orjson.loads(stored))
    except (orjson.JSONDecodeError, rfc8785.CanonicalizationError):
        return stored


def leaf_hash_of(stored: bytes) -> bytes:
    """The RFC 9162 leaf hash of one stored event."""
    return leaf_hash(leaf_of(stored))
