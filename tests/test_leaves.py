"""Leaves are RFC 8785 canonical JSON: the orjson fast path writes rfc8785's bytes exactly."""

from __future__ import annotations

import orjson
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import merkle
from collector.leaves import MAX_SAFE_INTEGER, _prepare, canonical, leaf_hash_of, leaf_of


def test_every_code_point_is_escaped_as_jcs_does():
    # In blocks, so a million code points take a moment: a string per block, key and value.
    for start in range(0, 0x110000, 0x800):
        chars = "".join(chr(c) for c in range(start, start + 0x800) if not 0xD800 <= c <= 0xDFFF)
        value = {"k": chars, "list": [chars]}
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(value), hex(start)


def test_keys_that_sort_differently_in_utf16_take_the_rfc8785_path():
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert not _prepare(value)
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical(value).index(b"\xf0\x9f\x98\x80") < canonical(value).index(b"\xee\x80\x80")


def test_orjson_writes_a_float_only_where_it_writes_it_as_jcs_does():
    # Whole floats and exponents differ ("100.0", "1e+16"); the rest is the same text.
    floats = [100.0, -0.0, 1e15, 1e16, 1e20, 1e21, 5e-324, 1e-7, 1.5e-7, 0.1, 2.5, 0.00001]
    for f in floats:
        for value in ([f], {"k": f}, {"a": [1, {"b": f}], "z": "e-1"}):
            assert canonical(value) == rfc8785.dumps(value), value
    # Text that looks like such a number is text: orjson's output stands.
    value = {"v": "v1.0]", "id": "a6a3e-6513", "n": "1e+16", "l": "de-DE"}
    assert canonical(value) == rfc8785.dumps(value)


def test_floats_are_written_by_rfc8785_and_unsafe_integers_refused_by_it():
    value = {"a": 1.0, "b": 1e21, "c": [1e-7, {"d": -0.0}]}
    assert canonical(value) == b'{"a":1,"b":1e+21,"c":[1e-7,{"d":0}]}' == rfc8785.dumps(value)
    assert _prepare({"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER, "t": True, "l": [None]})
    assert not _prepare({"n": [MAX_SAFE_INTEGER + 1]})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_is_rfc8785(value):
    try:
        want = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return  # integers beyond JCS's range: the schema keeps them out of stored events
    assert canonical(value) == want


def test_a_leaf_is_the_canonical_form_of_the_stored_json():
    stored = b'{"id":"e1","seq":3,"data":{"b":1.50,"a":"x"},"tenant":"default"}'
    assert leaf_of(stored) == b'{"data":{"a":"x","b":1.5},"id":"e1","seq":3,"tenant":"default"}'
    assert leaf_hash_of(stored) == merkle.leaf_hash(leaf_of(stored))


def test_a_stored_document_that_is_not_canonical_json_is_its_own_leaf():
    assert leaf_of(b'{"id": "e1", "seq": 3') == b'{"id": "e1", "seq": 3'
    assert leaf_of(b'{"n": 9007199254740993}') == b'{"n": 9007199254740993}'
