"""The v1 event's ``data``: a free-form object, bounded in size and depth."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from helpers import (
    data_of_size,
    event,
    nested_data,
    rejected_at,
    stored,
)

from collector.events import validate
from collector.schema import DATA_MAX_BYTES, DATA_MAX_DEPTH

# ---------------------------------------------------------------------------- data


def test_data_defaults_to_an_empty_object():
    assert validate(event())["data"] == {}
    assert stored(event())["data"] == {}


def test_data_is_free_form_and_kept_as_sent():
    data = {
        "s": "x",
        "n": -1,
        "big": 2**53 - 1,
        "small": -(2**53 - 1),
        "f": 0.1,
        "b": False,
        "null": None,
        "list": [1, "a", None, {"k": []}],
        "ünicode": "日本",
        "": "empty key",
    }
    assert stored(event(data=data))["data"] == data


@pytest.mark.parametrize(
    "data", [{"n": 2**53}, {"n": -(2**53)}, {"deep": [{"n": 2**63 - 1}]}], ids=repr
)
def test_data_integers_beyond_what_jcs_writes_exactly_are_rejected(data):
    # Every verifier must agree on an event's canonical JSON, whose numbers are doubles.
    errors = rejected_at(event(data=data), "data")
    assert "2**53 - 1" in str(errors)


def test_long_digit_strings_in_data_are_fine():
    data = {"card": "12345678901234567890", "f": 1.2345678901234567}
    assert stored(event(data=data))["data"] == data


@pytest.mark.parametrize("value", [[], [{"a": 1}], "x", "{}", 1, True, None], ids=repr)
def test_data_must_be_an_object(value):
    rejected_at(event(data=value), "data")


def test_data_of_exactly_32_kib_serialized_passes():
    assert DATA_MAX_BYTES == 32 * 1024
    data = data_of_size(32 * 1024)
    assert stored(event(data=data))["data"] == data


def test_data_one_byte_over_32_kib_fails():
    assert "32768" in rejected_at(event(data=data_of_size(32 * 1024 + 1)), "data")


def test_data_size_counts_utf8_bytes_not_characters():
    # 16381 characters (mostly the 2-byte "é"): far fewer than 32768, one byte too many
    data = {"k": "é" * 16_380 + "x"}
    assert len(orjson.dumps(data)) == 32 * 1024 + 1
    rejected_at(event(data=data), "data")


def test_data_size_is_measured_compact_not_as_sent():
    # the same object pretty-printed by a producer would be larger; the rule is about the value
    data = {f"k{i}": i for i in range(2_500)}
    assert len(orjson.dumps(data)) <= 32 * 1024
    assert len(orjson.dumps(data, option=orjson.OPT_INDENT_2)) > 32 * 1024
    assert validate(event(data=data))["data"] == data


def test_data_depth_helper_counts_data_as_level_one():
    assert nested_data(1) == {"k": 1}
    assert nested_data(2) == {"k": {"k": 1}}
    assert nested_data(3, arrays=True) == {"k": {"k": [1]}}


DEPTH_10 = [
    pytest.param(nested_data(10), id="objects"),
    pytest.param(nested_data(10, arrays=True), id="arrays-and-objects"),
    pytest.param(nested_data(9, inner={}), id="objects-innermost-empty-object"),
    pytest.param(nested_data(9, inner=[], arrays=True), id="arrays-innermost-empty-array"),
]
DEPTH_11 = [
    pytest.param(nested_data(11), id="objects"),
    pytest.param(nested_data(11, arrays=True), id="arrays-and-objects"),
    pytest.param(nested_data(10, inner={}), id="objects-innermost-empty-object"),
    pytest.param(nested_data(10, inner=[], arrays=True), id="arrays-innermost-empty-array"),
]


@pytest.mark.parametrize("data", DEPTH_10)
def test_data_exactly_10_levels_deep_passes(data):
    assert DATA_MAX_DEPTH == 10
    assert stored(event(data=data))["data"] == data


@pytest.mark.parametrize("data", DEPTH_11)
def test_data_11_levels_deep_fails(data):
    assert "10 levels" in rejected_at(event(data=data), "data")


def arrays_in_data(count: int) -> dict[str, Any]:
    """``data`` holding ``count`` arrays nested in one another: 1 + ``count`` levels."""
    value: Any = []
    for _ in range(count - 1):
        value = [value]
    return {"k": value}


def test_data_arrays_count_as_levels():
    assert validate(event(data=arrays_in_data(9)))["data"] == arrays_in_data(9)
    assert "10 levels" in rejected_at(event(data=arrays_in_data(10)), "data")
    assert "10 levels" in rejected_at(event(data={"k": [[{"k": arrays_in_data(8)}]]}), "data")


def test_data_depth_is_the_deepest_branch_not_the_widest():
    wide = {f"k{i}": nested_data(9) for i in range(50)}  # each branch 1 + 9 levels
    assert validate(event(data=wide))
    wide["last"] = nested_data(10)
    rejected_at(event(data=wide), "data")


def test_data_very_deep_is_rejected():
    rejected_at(event(data=nested_data(500)), "data")


def test_data_very_deep_says_it_is_too_deep():
    assert "levels deep" in rejected_at(event(data=nested_data(500)), "data")
