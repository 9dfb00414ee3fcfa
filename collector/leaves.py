"""The leaves of a tenant's Merkle tree: RFC 8785 (JCS) canonical JSON of each stored event.

``rfc8785`` is the definition. It is pure Python (about 100 µs per event here), too slow
for a million-event verify, so orjson writes the document where its sorted-keys output
is provably the same bytes, and ``rfc8785`` writes the parts where it is not:

- JCS and orjson escape every code point alike (``tests/test_leaves.py`` checks all of them);
- they sort keys alike unless a key holds a code point at or above U+D800 (JCS sorts by
  UTF-16 code units, orjson by code points): such a document is written by ``rfc8785``;
- they write integers alike inside JCS's exact range ``±(2**53 - 1)``, which orjson
  enforces itself (``OPT_STRICT_INTEGER``); a bigger one sends the document to
  ``rfc8785`` (which refuses it);
- they write a float alike unless orjson writes it with an exponent or as a whole
  number (``1e+16``, ``100.0``; JCS: ``10000000000000000``, ``100``).

So orjson's sorted output is the leaf when it shows no such float and no code point at
or above U+E000 (both checked on its bytes, in C). Otherwise each float is written by
``rfc8785`` and embedded in orjson's output as it is (``orjson.Fragment``), after a walk
of the document in Python.

The schema rejects integers outside ``±(2**53 - 1)`` in ``data``, so every stored event
has a leaf that any two JCS implementations agree on. A stored document that is not JSON
or cannot be canonicalized (only a tampered one can be) has its raw bytes as its leaf.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import rfc8785

from collector.merkle import leaf_hash

MAX_SAFE_INTEGER = 2**53 - 1
_HIGH_KEY = "\ud800"  # keys with a code point at or above this sort differently in UTF-16
_SORTED = orjson.OPT_SORT_KEYS
_SORTED_STRICT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# How orjson ends a whole float ("100.0"), which JCS writes as "100". Found inside strings
# too ("v1.0]"): the walk then decides, at a little more cost.
_WHOLE_FLOAT = re.compile(rb"\.0[]},]")
# UTF-8 lead bytes of U+E000 and above (the keys JCS sorts apart), in values too.
_HIGH_BYTES = re.compile(rb"[\xee-\xff]")
_DIGITS = frozenset(b"0123456789")
_VALUE_ENDS = (b",", b"}", b"]")


def _prepare(value: Any) -> bool:
    """Make a parsed JSON object or array ready for orjson, in place: each float becomes
    its JCS text (written by rfc8785). False if only rfc8785 can write the whole value."""
    # One pass, exact type checks first, scalars never pushed. Replacing a value while
    # iterating a dict's items is safe (same keys). A dict subclass (the schema's ``data``)
    # is written by orjson as a dict, so it is walked as one.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
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
            elif isinstance(child, dict | list):
                stack.append(child)
            else:
                return False  # not a JSON value: rfc8785 says what is wrong with it
    return True


def _container(value: Any) -> bool:
    return type(value) is dict or type(value) is list


def _jcs_by_orjson(value: Any) -> bytes | None:
    """orjson's sorted output of a JSON container, if it is provably JCS's (else None)."""
    try:
        out = orjson.dumps(value, option=_SORTED_STRICT)
    except orjson.JSONEncodeError:
        return None
    if (
        _WHOLE_FLOAT.search(out)
        or _exponent(out, b"e-")
        or _exponent(out, b"e+")
        or (not out.isascii() and _HIGH_BYTES.search(out))
    ):
        return None
    return out


def _exponent(out: bytes, sign: bytes) -> bool:
    """Whether ``out`` may hold a number orjson wrote with an exponent ("1e+16", "5e-324"):
    a digit, ``sign``, digits, then the end of a value. Cheaper than a regex that starts
    with a digit class: "e-" is rare enough in text."""
    at = out.find(sign)
    while at > 0:
        if out[at - 1] in _DIGITS:
            end = at + 2
            while end < len(out) and out[end] in _DIGITS:
                end += 1
            if end > at + 2 and out[end : end + 1] in _VALUE_ENDS:
                return True
        at = out.find(sign, at + 2)
    return False


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of a JSON value; raises ``rfc8785.CanonicalizationError``."""
    if not _container(value):
        return rfc8785.dumps(value)
    fast = _jcs_by_orjson(value)
    if fast is not None:
        return fast
    owned = copy.deepcopy(value)
    if _prepare(owned):
        return orjson.dumps(owned, option=_SORTED)
    return rfc8785.dumps(value)


def leaf_of(stored: bytes) -> bytes:
    """The leaf bytes of one stored event (its JSON as Redis holds it)."""
    try:
        value = orjson.loads(stored)
        if _container(value):
            fast = _jcs_by_orjson(value)
            if fast is not None:
                return fast
            if _prepare(value):
                return orjson.dumps(value, option=_SORTED)
        return rfc8785.dumps(orjson.loads(stored))
    except (orjson.JSONDecodeError, rfc8785.CanonicalizationError):
        return stored


def leaf_hash_of(stored: bytes) -> bytes:
    """The RFC 9162 leaf hash of one stored event."""
    return leaf_hash(leaf_of(stored))
