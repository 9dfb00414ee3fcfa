"""The shape checks that run before any parser: depth, item count, item size, balance."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import jsonscan
from collector.jsonscan import (
    UNPARSED,
    ItemTooLarge,
    TooDeep,
    TooManyItems,
    Unbalanced,
    array_values,
    could_be_deeper,
    depth,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b"[{}]", 2),
        (b"{[]}", 2),
        (b'{"a":[{"b":{}}]}', 4),
        (b'["[[[[", "]]]]", {"x": "\\"{"}]', 2),  # brackets and escaped quotes in strings
    ],
)
def test_depth_counts_levels_outside_strings(raw: bytes, expected: int) -> None:
    assert depth(raw, 12) == expected


def test_depth_stops_at_the_limit_without_recursing() -> None:
    raw = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(TooDeep):
        depth(raw, 12)
    assert depth(b"[" * 12 + b"]" * 12, 12) == 12
    with pytest.raises(TooDeep):
        depth(b"[" * 13 + b"]" * 13, 12)


@pytest.mark.parametrize("raw", [b"[", b"]", b'{"a":[}', b'[{"a":"x]'])
def test_unbalanced_brackets_are_not_json(raw: bytes) -> None:
    with pytest.raises(Unbalanced):
        depth(raw, 12)


def test_could_be_deeper_is_a_cheap_upper_bound() -> None:
    assert not could_be_deeper(b'{"actor":{"id":"a"},"data":{}}', 12)
    assert could_be_deeper(b"[" * 13, 12)


def array_items(raw: bytes, max_items: int, max_item_bytes: int) -> list[bytes]:
    """The item slices :func:`array_values` finds."""
    return [item for item, _ in array_values(raw, max_items, max_item_bytes)]


def test_array_items_are_the_exact_slices() -> None:
    batch = [{"a": "é" * 3000, "b": [1, {"c": "]},{"}]}, "x,y", 7, {"é": None}]
    raw = orjson.dumps(batch)
    items = array_items(raw, 1000, 65536)
    assert [orjson.loads(item) for item in items] == batch
    pretty = b' [ {"a" : 1} ,\n {"b":2} ] '
    assert array_items(pretty, 10, 100) == [b' {"a" : 1} ', b'\n {"b":2} ']
    assert array_items(b"[ ]", 10, 100) == []


def test_too_many_items_stops_counting_at_the_limit() -> None:
    raw = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    with pytest.raises(TooManyItems):
        array_items(raw, 1000, 65536)


def test_an_item_over_the_size_limit_is_refused_unparsed() -> None:
    raw = orjson.dumps([{"a": "x" * 100}, {"a": "é" * 40_000}])
    with pytest.raises(ItemTooLarge) as info:
        array_items(raw, 1000, 65536)
    assert info.value.index == 1
    # a character cut in two by the first look is not mistaken for the end of the item
    fits = orjson.dumps([{"a": "é" * 20_000}, 1])
    assert len(array_items(fits, 1000, 65536)) == 2


@pytest.mark.parametrize("raw", [b"[1,2", b"[1,2]x", b"{}", b"[1 2]"])
def test_a_malformed_array_is_refused(raw: bytes) -> None:
    with pytest.raises(Unbalanced):
        array_items(raw, 1000, 100)


def test_a_malformed_item_is_refused_with_the_parsers_words() -> None:
    with pytest.raises(Unbalanced, match="invalid literal"):
        array_items(b'[{"a":1},{"a":tru}]', 1000, 100)


def test_an_item_nested_past_orjsons_limit_is_too_deep_not_malformed() -> None:
    raw = b"[" + b"[" * 3000 + b"]" * 3000 + b"]"
    with pytest.raises(TooDeep):
        array_items(raw, 1000, 65536)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(alphabet=st.sampled_from('ab,{}[]"\\é: '), max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6), st.sampled_from([b"", b" ", b"\n  "]))
def test_array_values_are_each_item_and_its_parse(batch, space) -> None:
    """Strings and nested arrays full of "},{" and "]": every item is found whole, and a
    value handed back is the item's own parse (a wrong guess is never taken)."""
    parts = [orjson.dumps(v) for v in batch]
    raw = b"[" + space + (b"," + space).join(parts) + space + b"]"
    found = array_values(raw, 1000, 65536)
    assert [orjson.loads(item) for item, _ in found] == batch
    for (item, value), expected in zip(found, batch, strict=True):
        assert value is UNPARSED or value == expected == orjson.loads(item)


def test_array_values_parse_plain_objects_once() -> None:
    raw = b'[{"a":1}, {"b":{"c":[1,2]}} ,{"d":"x"}]'
    assert array_values(raw, 10, 100) == [
        (b'{"a":1}', {"a": 1}),
        (b' {"b":{"c":[1,2]}} ', {"b": {"c": [1, 2]}}),
        (b'{"d":"x"}', {"d": "x"}),
    ]


def test_array_values_stop_guessing_once_a_guess_is_not_found(monkeypatch) -> None:
    """An object followed by anything but another object has no guessable end within
    the limit: the search scanned up to the limit once, and is not tried again."""
    searches = []
    real = jsonscan._OBJECT_END

    class Counting:
        def search(self, *args):
            searches.append(args[1])
            return real.search(*args)

    monkeypatch.setattr(jsonscan, "_OBJECT_END", Counting())
    raw = b"[" + b",".join([b'{"a":1},2'] * 200) + b"]"
    found = array_values(raw, 1000, 65536)
    assert [orjson.loads(item) for item, _ in found] == [{"a": 1}, 2] * 200
    assert len(searches) == 1


def test_array_values_keep_parses_of_a_bounded_number_of_values(monkeypatch) -> None:
    """The parses handed back live until the batch is validated: past KEEP_VALUES (JSON
    values counted by their separators) the items come back unparsed, to be parsed one
    at a time."""
    monkeypatch.setattr(jsonscan, "KEEP_VALUES", 6)
    raw = orjson.dumps([{"a": 1, "b": 2}] * 5)  # 2 by the count: one "{", one ","
    found = array_values(raw, 1000, 65536)
    assert [value for _, value in found] == [{"a": 1, "b": 2}] * 3 + [UNPARSED] * 2
    assert [orjson.loads(item) for item, _ in found] == [{"a": 1, "b": 2}] * 5
    many = orjson.dumps([{"data": [[]] * 50}, {"a": 1}])  # one item over the budget
    assert [value for _, value in array_values(many, 1000, 65536)] == [UNPARSED] * 2
