"""The shape checks that run before any parser: depth, item count, item size, balance."""

from __future__ import annotations

import orjson
import pytest

from collector.jsonscan import (
    ItemTooLarge,
    TooDeep,
    TooManyItems,
    Unbalanced,
    array_items,
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
