"""The v1 event schema (schema version 1): every rule, passing and failing.

Errors are checked by where they are keyed: ``messages[field]`` (``messages[actor][field]``
for nested objects) holds exactly one message, and no other field is blamed. The property
tests at the end generate valid events, check that ``prepare`` keeps them intact, and break
one rule at a time.
"""

from __future__ import annotations

import ipaddress
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import orjson
import pytest
from helpers import event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from collector.events import normalized_input, prepare, uuid7, validate
from collector.schema import DATA_MAX_BYTES, DATA_MAX_DEPTH
from collector.timefmt import format_utc, parse_rfc3339

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
NAME_CHARS = string.ascii_letters + string.digits + "._:-"
TENANT_CHARS = string.ascii_letters + string.digits + "._-"
INPUT_FIELDS = (
    "id",
    "tenant",
    "type",
    "service",
    "occurred_at",
    "actor",
    "target",
    "outcome",
    "request_id",
    "trace_id",
    "data",
)
SERVER_FIELDS = ("received_at", "schema_version", "seq")
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


# ---------------------------------------------------------------------------- helpers


def errors_of(raw: Any) -> dict[str, Any]:
    """The error messages of an event that must be rejected."""
    with pytest.raises(ValidationError) as caught:
        validate(raw)
    messages = caught.value.messages
    assert isinstance(messages, dict)
    return messages


def assert_only_error_at(messages: dict[str, Any], *path: str) -> str:
    """Exactly one field is blamed, at ``path``, with exactly one non-empty message."""
    node: Any = messages
    for key in path:
        assert isinstance(node, dict), messages
        assert set(node) == {key}, f"expected only {path} in {messages}"
        node = node[key]
    assert isinstance(node, list), messages
    assert len(node) == 1, f"expected one message at {path}: {messages}"
    assert isinstance(node[0], str)
    assert node[0].strip()
    return node[0]


def rejected_at(raw: Any, *path: str) -> str:
    """``raw`` is rejected with one message keyed at ``path`` and nothing else; the message."""
    return assert_only_error_at(errors_of(raw), *path)


def stored(raw: Any, received_at: datetime = RECEIVED, **kwargs: Any) -> dict[str, Any]:
    return prepare(raw, received_at, **kwargs).document


def nested_data(levels: int, inner: Any = 1, arrays: bool = False) -> dict[str, Any]:
    """A ``data`` object exactly ``levels`` deep (``data`` itself is level 1).

    With ``arrays`` the levels below the top alternate arrays and objects.
    """
    value = inner
    for depth in range(levels - 1):
        value = [value] if arrays and depth % 2 == 0 else {"k": value}
    return {"k": value}


def data_of_size(size: int, fill: str = "x") -> dict[str, Any]:
    """A ``data`` object whose compact JSON is exactly ``size`` bytes (``fill`` is 1 byte)."""
    data = {"k": fill * (size - len(b'{"k":""}'))}
    assert len(orjson.dumps(data)) == size
    return data


# ---------------------------------------------------------------------------- the minimum


def test_minimal_event_is_valid_and_gets_every_default():
    loaded = validate(event())
    assert loaded == {
        "tenant": "default",
        "type": "user.login",
        "service": "auth",
        "actor": {"id": "alice", "type": "user"},
        "outcome": "success",
        "data": {},
    }


def test_full_event_is_valid_and_kept_as_sent():
    raw = event(
        id="evt-1",
        tenant="acme",
        occurred_at="2026-01-31T12:00:00Z",
        actor={
            "id": "alice",
            "type": "admin",
            "name": "Alice",
            "ip": "203.0.113.7",
            "user_agent": "curl/8",
        },
        target={"id": "invoice-42", "type": "invoice", "name": "Invoice 42"},
        outcome="failure",
        request_id="req-1",
        trace_id="00-abc-def-01",
        data={"amount": 12.5, "tags": ["a", "b"], "nested": {"ok": True, "none": None}},
    )
    loaded = validate(raw)
    assert loaded["occurred_at"] == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert {k: v for k, v in loaded.items() if k != "occurred_at"} == {
        k: v for k, v in raw.items() if k != "occurred_at"
    }


@pytest.mark.parametrize("raw", [[], "event", 1, None, [event()]])
def test_an_event_that_is_not_an_object_is_rejected(raw):
    assert "object" in rejected_at(raw, "_schema")


# ---------------------------------------------------------------------------- id and type

GOOD_NAMES = ["a", "Z", "0", "user.login", "invoice:paid", "a_b-c.d:e", "x" * 128, NAME_CHARS]
BAD_NAMES = [
    "",
    "x" * 129,
    "a b",
    " a",
    "a/b",
    "a\\b",
    "a,b",
    "a\n",
    "a\t",
    "é",
    "user.lögin",
    "日本",
    "a\u200b",
    "٣",
    42,
    1.5,
    True,
    None,
    ["a"],
    {"a": 1},
]


@pytest.mark.parametrize("field", ["id", "type"])
@pytest.mark.parametrize("value", GOOD_NAMES)
def test_id_and_type_accept_1_to_128_of_the_allowed_characters(field, value):
    assert validate(event(**{field: value}))[field] == value


@pytest.mark.parametrize("field", ["id", "type"])
@pytest.mark.parametrize("value", BAD_NAMES, ids=repr)
def test_id_and_type_reject_anything_else(field, value):
    rejected_at(event(**{field: value}), field)


def test_type_is_required():
    raw = event()
    del raw["type"]
    assert "Missing" in rejected_at(raw, "type")


def test_id_is_optional_on_input():
    assert "id" not in validate(event())


def test_prepare_generates_a_uuid7_id_when_absent():
    doc = stored(event())
    assert uuid.UUID(doc["id"]).version == 7
    assert str(uuid.UUID(doc["id"])) == doc["id"]
    assert validate(event(id=doc["id"]))["id"] == doc["id"]


def test_prepare_generates_a_new_id_for_every_event_without_one():
    assert stored(event())["id"] != stored(event())["id"]


def test_prepare_keeps_a_given_id_over_the_default_id():
    assert stored(event(id="mine"), default_id="derived")["id"] == "mine"
    assert stored(event(), default_id="derived")["id"] == "derived"


def test_generated_ids_are_time_ordered():
    ids = [uuid7(ms) for ms in (1, 2, 1_000, 1_700_000_000_000, 1_700_000_000_001, 2**48 - 1)]
    assert ids == sorted(ids)
    assert uuid7(1_000, b"a") < uuid7(1_001, b"a")


def test_uuid7_layout_and_determinism():
    value = uuid.UUID(uuid7(0x0123_4567_89AB, b"seed"))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0123_4567_89AB
    assert uuid7(5, b"seed") == uuid7(5, b"seed")
    assert uuid7(5, b"seed") != uuid7(5, b"other")


def test_generated_ids_carry_the_current_time():
    before = int(datetime.now(UTC).timestamp() * 1000)
    generated = uuid.UUID(stored(event())["id"])
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= generated.int >> 80 <= after


# ---------------------------------------------------------------------------- service


@pytest.mark.parametrize(
    "value", ["a", "auth-service", "billing service", "サービス", " ", "x" * 128]
)
def test_service_accepts_1_to_128_characters(value):
    assert validate(event(service=value))["service"] == value


@pytest.mark.parametrize("value", ["", "x" * 129, "é" * 129, 1, None, ["auth"]], ids=repr)
def test_service_rejects_empty_too_long_and_non_strings(value):
    rejected_at(event(service=value), "service")


def test_service_is_required():
    raw = event()
    del raw["service"]
    assert "Missing" in rejected_at(raw, "service")


# ---------------------------------------------------------------------------- tenant


@pytest.mark.parametrize("value", ["a", "acme", "ACME.eu_west-1", "0", "t" * 64, TENANT_CHARS[1:]])
def test_tenant_accepts_1_to_64_of_the_allowed_characters(value):
    assert validate(event(tenant=value))["tenant"] == value


@pytest.mark.parametrize(
    "value",
    ["", "t" * 65, "a:b", "acme:eu", "a b", "a/b", "a*", "é", "acmé", "a\n", 1, None, ["acme"]],
    ids=repr,
)
def test_tenant_rejects_anything_else_including_a_colon(value):
    rejected_at(event(tenant=value), "tenant")


def test_tenant_defaults_to_default():
    assert validate(event())["tenant"] == "default"
    assert stored(event())["tenant"] == "default"


# ---------------------------------------------------------------------------- occurred_at


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00+00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00-00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T14:30:00+02:30", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T07:00:00-05:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-01T01:00:00+23:59", datetime(2025, 12, 31, 1, 1, tzinfo=UTC)),
        ("2026-01-31t12:00:00z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00.5Z", datetime(2026, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123Z", datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123456Z", datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T23:59:59+01:00", datetime(2024, 2, 29, 22, 59, 59, tzinfo=UTC)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
    ],
)
def test_occurred_at_accepts_rfc3339_with_an_offset_and_converts_to_utc(value, utc):
    loaded = validate(event(occurred_at=value))["occurred_at"]
    assert loaded == utc
    assert loaded.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31T12:00:00",  # no offset
        "2026-01-31T12:00:00.123",  # no offset
        "2026-01-01",  # date only
        "2026-W05-6",  # week date
        "2026-W05-6T12:00:00Z",  # week date with a time
        "2026-W05",
        "2026-031T12:00:00Z",  # ordinal date
        "20260131T120000Z",  # ISO 8601 basic format
        "2026-01-31T12:00Z",  # no seconds
        "2026-01-31T12Z",
        "2026-01-31T12:00:00+0100",  # offset without a colon
        "2026-01-31T12:00:00+01",  # offset without minutes
        "2026-01-31T12:00:00 Z",
        "2026-01-31T12:00:00.Z",  # a dot without digits
        "2026-01-31T12:00:00,5Z",  # a comma fraction
        "2026-01-31_12:00:00Z",
        "12:00:00Z",  # time only
        "2026-13-01T12:00:00Z",  # month 13
        "2026-02-30T12:00:00Z",  # no such day
        "2025-02-29T12:00:00Z",  # not a leap year
        "2026-01-31T25:00:00Z",  # hour 25
        "2026-01-31T12:60:00Z",  # minute 60
        "2026-01-31T12:00:00+24:00",  # offset out of range
        "0000-01-01T00:00:00Z",  # year 0
        "26-01-31T12:00:00Z",
        "+2026-01-31T12:00:00Z",
        " 2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00Z ",
        "2026-01-31T12:00:00Z\n",
        "٢٠٢٦-01-31T12:00:00Z",  # non-ASCII digits
        "yesterday",
        "",
        1769860800,
        1769860800.5,
        None,
        {"date": "2026-01-31"},
    ],
    ids=repr,
)
def test_occurred_at_rejects_anything_but_rfc3339_with_an_offset(value):
    rejected_at(event(occurred_at=value), "occurred_at")


@pytest.mark.parametrize(
    "value", ["2026-01-31T12:00:00+05:60", "2026-01-31T12:00:00+05:99", "2026-01-31T12:00:00-00:75"]
)
def test_occurred_at_rejects_offset_minutes_over_59(value):
    rejected_at(event(occurred_at=value), "occurred_at")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_occurred_at_out_of_range_in_utc_is_a_validation_error(value):
    rejected_at(event(occurred_at=value), "occurred_at")


def test_occurred_at_latest_instant_is_accepted():
    assert stored(event(occurred_at="9999-12-31T23:59:59.999999Z"))["occurred_at"] == (
        "9999-12-31T23:59:59.999999Z"
    )


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "1000-01-01T00:30:00+01:00"]
)
def test_occurred_at_before_year_1000_is_stored_as_rfc3339(value):
    doc = stored(event(occurred_at=value))
    assert parse_rfc3339(doc["occurred_at"]) == parse_rfc3339(value)


@pytest.mark.parametrize(
    ("value", "stored_as"),
    [
        ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00.000000Z"),
        ("2026-01-31T14:00:00+02:00", "2026-01-31T12:00:00.000000Z"),
        ("2026-01-31T00:15:00.250-11:45", "2026-01-31T12:00:00.250000Z"),
        ("2026-01-01T00:00:00.001+00:01", "2025-12-31T23:59:00.001000Z"),
    ],
)
def test_occurred_at_is_stored_in_utc_to_the_microsecond(value, stored_as):
    assert stored(event(occurred_at=value))["occurred_at"] == stored_as


@pytest.mark.parametrize(
    ("value", "stored_as"),
    [
        ("2026-01-31T12:00:00.1234567Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T12:00:00.123456789Z", "2026-01-31T12:00:00.123456Z"),
        ("2026-01-31T12:00:00.9999999Z", "2026-01-31T12:00:00.999999Z"),  # not rounded up
        ("2026-01-31T13:00:00.0000019+01:00", "2026-01-31T12:00:00.000001Z"),
        ("2026-01-31T12:00:00." + "7" * 40 + "Z", "2026-01-31T12:00:00.777777Z"),
    ],
)
def test_occurred_at_fractions_beyond_microseconds_are_truncated(value, stored_as):
    assert stored(event(occurred_at=value))["occurred_at"] == stored_as


def test_occurred_at_defaults_to_received_at():
    doc = stored(event())
    assert doc["occurred_at"] == doc["received_at"] == "2026-03-01T12:00:00.123456Z"


def test_received_at_is_stored_in_utc():
    local = RECEIVED.astimezone(timezone(timedelta(hours=5, minutes=30)))
    doc = stored(event(), received_at=local)
    assert doc["received_at"] == doc["occurred_at"] == "2026-03-01T12:00:00.123456Z"


# ---------------------------------------------------------------------------- actor


def test_actor_is_required():
    raw = event()
    del raw["actor"]
    assert "Missing" in rejected_at(raw, "actor")


@pytest.mark.parametrize("value", ["alice", None, 1, ["alice"], []], ids=repr)
def test_actor_must_be_an_object(value):
    messages = errors_of(event(actor=value))
    assert set(messages) == {"actor"}


def test_actor_id_is_required():
    assert "Missing" in rejected_at(event(actor={"type": "user"}), "actor", "id")
    assert "Missing" in rejected_at(event(actor={}), "actor", "id")


@pytest.mark.parametrize("value", ["alice", "a", "user:42", "Alice Smith", "x" * 1000])
def test_actor_id_accepts_a_string(value):
    assert validate(event(actor={"id": value}))["actor"]["id"] == value


@pytest.mark.parametrize("value", ["", 42, None, True, ["alice"], {"id": "alice"}], ids=repr)
def test_actor_id_rejects_non_strings_and_empty(value):
    rejected_at(event(actor={"id": value}), "actor", "id")


def test_actor_type_defaults_to_user():
    assert validate(event(actor={"id": "a"}))["actor"] == {"id": "a", "type": "user"}
    assert stored(event(actor={"id": "a"}))["actor"] == {"id": "a", "type": "user"}


@pytest.mark.parametrize("value", ["service", "admin", "api-key"])
def test_actor_type_keeps_the_given_type(value):
    assert validate(event(actor={"id": "a", "type": value}))["actor"]["type"] == value


@pytest.mark.parametrize("value", ["", 1, None, ["user"]], ids=repr)
def test_actor_type_rejects_non_strings_and_empty(value):
    rejected_at(event(actor={"id": "a", "type": value}), "actor", "type")


def test_actor_name_and_user_agent_are_kept():
    actor = {"id": "a", "type": "user", "name": "Alice Ünicode", "user_agent": "Mozilla/5.0 (X11)"}
    assert validate(event(actor=actor))["actor"] == actor


@pytest.mark.parametrize("field", ["name", "user_agent"])
@pytest.mark.parametrize("value", [1, None, ["x"], {"x": 1}], ids=repr)
def test_actor_name_and_user_agent_must_be_strings(field, value):
    rejected_at(event(actor={"id": "a", field: value}), "actor", field)


@pytest.mark.parametrize(
    "value",
    [
        "203.0.113.7",
        "0.0.0.0",
        "255.255.255.255",
        "127.0.0.1",
        "::",
        "::1",
        "2001:db8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "fe80::1",
        "::ffff:192.0.2.1",
        "2001:DB8::A",
    ],
)
def test_actor_ip_accepts_ipv4_and_ipv6_kept_as_sent(value):
    assert validate(event(actor={"id": "a", "ip": value}))["actor"]["ip"] == value
    assert stored(event(actor={"id": "a", "ip": value}))["actor"]["ip"] == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.4/24",
        "1.2.3.4:80",
        " 1.2.3.4",
        "localhost",
        "example.com",
        "2001:db8::g",
        "2001:db8:::1",
        "1::2::3",
        "[::1]",
        None,
        ["1.2.3.4"],
    ],
    ids=repr,
)
def test_actor_ip_rejects_anything_but_an_address(value):
    rejected_at(event(actor={"id": "a", "ip": value}), "actor", "ip")


@pytest.mark.parametrize("value", [3232235777, 1, True], ids=repr)
def test_actor_ip_rejects_numbers(value):
    rejected_at(event(actor={"id": "a", "ip": value}), "actor", "ip")


@pytest.mark.parametrize("field", ["email", "ID", "role", "received_at", ""])
def test_actor_unknown_fields_are_rejected(field):
    assert "Unknown" in rejected_at(event(actor={"id": "a", field: "x"}), "actor", field)


# ---------------------------------------------------------------------------- target


def test_target_is_optional():
    assert "target" not in validate(event())
    assert "target" not in stored(event())


def test_target_with_every_field_is_kept():
    target = {"id": "invoice-42", "type": "invoice", "name": "Invoice #42"}
    assert validate(event(target=target))["target"] == target
    assert stored(event(target=target))["target"] == target


def test_target_id_alone_is_enough_and_gets_no_defaults():
    assert stored(event(target={"id": "t"}))["target"] == {"id": "t"}


def test_target_id_is_required():
    assert "Missing" in rejected_at(event(target={}), "target", "id")
    assert "Missing" in rejected_at(event(target={"type": "invoice"}), "target", "id")


@pytest.mark.parametrize("field", ["id", "type", "name"])
@pytest.mark.parametrize("value", [1, None, ["x"]], ids=repr)
def test_target_fields_must_be_strings(field, value):
    target = {"id": "t", field: value}
    rejected_at(event(target=target), "target", field)


@pytest.mark.parametrize("field", ["ip", "owner", "Id"])
def test_target_unknown_fields_are_rejected(field):
    assert "Unknown" in rejected_at(event(target={"id": "t", field: "x"}), "target", field)


@pytest.mark.parametrize("value", ["invoice-42", None, 42, ["t"]], ids=repr)
def test_target_must_be_an_object(value):
    messages = errors_of(event(target=value))
    assert set(messages) == {"target"}


# ---------------------------------------------------------------------------- outcome


@pytest.mark.parametrize("value", ["success", "failure", "unknown"])
def test_outcome_accepts_the_three_values(value):
    assert validate(event(outcome=value))["outcome"] == value


def test_outcome_defaults_to_success():
    assert stored(event())["outcome"] == "success"


@pytest.mark.parametrize(
    "value", ["", "ok", "Success", "FAILURE", "success ", "error", 1, 0.5, True], ids=repr
)
def test_outcome_rejects_anything_else(value):
    assert "success" in rejected_at(event(outcome=value), "outcome")


def test_outcome_rejects_null():
    rejected_at(event(outcome=None), "outcome")


@pytest.mark.parametrize("value", [["success"], {"success": True}], ids=repr)
def test_outcome_rejects_arrays_and_objects(value):
    rejected_at(event(outcome=value), "outcome")


# ---------------------------------------------------------------------------- request_id, trace_id


@pytest.mark.parametrize("field", ["request_id", "trace_id"])
@pytest.mark.parametrize(
    "value", ["r", "req-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x" * 128]
)
def test_correlation_ids_accept_up_to_128_characters(field, value):
    assert stored(event(**{field: value}))[field] == value


@pytest.mark.parametrize("field", ["request_id", "trace_id"])
@pytest.mark.parametrize("value", ["x" * 129, "é" * 129, 1, None, ["r"]], ids=repr)
def test_correlation_ids_reject_over_128_characters_and_non_strings(field, value):
    rejected_at(event(**{field: value}), field)


@pytest.mark.parametrize("field", ["request_id", "trace_id"])
def test_correlation_ids_are_optional(field):
    assert field not in stored(event())


# ---------------------------------------------------------------------------- data


def test_data_defaults_to_an_empty_object():
    assert validate(event())["data"] == {}
    assert stored(event())["data"] == {}


def test_data_is_free_form_and_kept_as_sent():
    data = {
        "s": "x",
        "n": -1,
        "big": 2**63 - 1,
        "f": 0.1,
        "b": False,
        "null": None,
        "list": [1, "a", None, {"k": []}],
        "ünicode": "日本",
        "": "empty key",
    }
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


# ------------------------------------------------------------------ unknown and server-set


@pytest.mark.parametrize(
    "field", ["foo", "event_type", "Type", "ID", "actor_id", "timestamp", "source", "seed", ""]
)
def test_unknown_top_level_fields_are_rejected(field):
    assert "Unknown" in rejected_at(event(**{field: "x"}), field)


@pytest.mark.parametrize(
    ("field", "value"),
    [("received_at", "2026-01-31T12:00:00Z"), ("schema_version", 1), ("seq", 7)],
)
def test_server_set_fields_are_rejected_on_input(field, value):
    rejected_at(event(**{field: value}), field)


def test_server_set_fields_are_set_by_prepare():
    doc = stored(event())
    assert doc["received_at"] == format_utc(RECEIVED)
    assert doc["schema_version"] == 1
    assert "seq" not in doc  # the store adds it


# ---------------------------------------------------------------------------- error shape


def test_errors_are_keyed_by_field_one_message_each_nested_for_actor_and_target():
    raw = {
        "id": "bad id",
        "type": "",
        "tenant": "a:b",
        "occurred_at": "2026-01-01",
        "actor": {"id": 1, "ip": "nope", "extra": 1},
        "target": {"name": "x"},
        "outcome": "maybe",
        "request_id": "x" * 129,
        "data": [],
        "bogus": 1,
    }
    messages = errors_of(raw)
    assert set(messages) == {
        "id",
        "type",
        "tenant",
        "service",
        "occurred_at",
        "actor",
        "target",
        "outcome",
        "request_id",
        "data",
        "bogus",
    }
    assert set(messages["actor"]) == {"id", "ip", "extra"}
    assert set(messages["target"]) == {"id"}
    leaves = [
        *(v for k, v in messages.items() if k not in ("actor", "target")),
        *messages["actor"].values(),
        *messages["target"].values(),
    ]
    for leaf in leaves:
        assert isinstance(leaf, list)
        assert len(leaf) == 1
        assert isinstance(leaf[0], str)
        assert leaf[0]


def test_error_messages_name_the_rule():
    assert "A-Z a-z 0-9 . _ : -" in rejected_at(event(id="a b"), "id")
    assert "A-Z a-z 0-9 . _ -" in rejected_at(event(tenant="a:b"), "tenant")
    assert "RFC 3339" in rejected_at(event(occurred_at="2026-01-01"), "occurred_at")
    assert "IP" in rejected_at(event(actor={"id": "a", "ip": "x"}), "actor", "ip")
    assert "128" in rejected_at(event(trace_id="x" * 129), "trace_id")


def test_prepare_raises_the_same_validation_error():
    with pytest.raises(ValidationError) as caught:
        prepare(event(tenant="a:b", actor={"id": "a", "x": 1}), RECEIVED)
    assert set(caught.value.messages) == {"tenant", "actor"}


# ---------------------------------------------------------------------------- normalized_input


def test_normalized_input_fills_id_tenant_and_occurred_at():
    out = normalized_input(event(), RECEIVED, default_tenant="acme")
    assert out["tenant"] == "acme"
    assert uuid.UUID(out["id"]).version == 7
    assert out["occurred_at"] == format_utc(RECEIVED)
    assert validate(out)["tenant"] == "acme"


def test_normalized_input_keeps_what_the_producer_sent():
    raw = event(id="e1", tenant="t1", occurred_at="2026-01-31T14:00:00+02:00", data={"a": 1})
    out = normalized_input(raw, RECEIVED, default_tenant="acme")
    assert out == raw
    assert stored(out)["occurred_at"] == "2026-01-31T12:00:00.000000Z"


def test_normalized_input_rejects_invalid_events():
    with pytest.raises(ValidationError) as caught:
        normalized_input(event(outcome="maybe"), RECEIVED)
    assert set(caught.value.messages) == {"outcome"}


# ---------------------------------------------------------------------------- property tests

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

safe_text = st.characters(exclude_categories=("Cs",))  # JSON strings: no lone surrogates
names = st.text(NAME_CHARS, min_size=1, max_size=128)
tenants = st.text(TENANT_CHARS, min_size=1, max_size=64)


def texts(min_size: int = 1, max_size: int = 64) -> st.SearchStrategy[str]:
    return st.text(safe_text, min_size=min_size, max_size=max_size)


ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
actors = st.fixed_dictionaries(
    {"id": texts()},
    optional={
        "type": texts(max_size=128),
        "name": texts(),
        "ip": ips,
        "user_agent": texts(min_size=0, max_size=200),
    },
)
targets = st.fixed_dictionaries(
    {"id": texts()}, optional={"type": texts(max_size=128), "name": texts()}
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(min_size=0, max_size=20),
)
json_keys = texts(min_size=0, max_size=10)


@cache
def json_values(levels: int) -> st.SearchStrategy[Any]:
    """JSON values at most ``levels`` deep (a scalar is 0 levels, a container 1 + its items)."""
    if levels == 0:
        return json_leaves
    inner = json_values(levels - 1)
    return st.one_of(
        json_leaves,
        st.lists(inner, max_size=3),
        st.dictionaries(json_keys, inner, max_size=3),
    )


datas = st.dictionaries(json_keys, json_values(DATA_MAX_DEPTH - 1), max_size=5)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 date-time with an offset, and the UTC instant it means (micro-truncated)."""
    local = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    digits = draw(st.integers(min_value=0, max_value=9))
    micro = f"{local.microsecond:06d}"
    if digits <= 6:
        fraction = micro[:digits]
        local = local.replace(microsecond=int(fraction.ljust(6, "0")))
    else:
        fraction = micro + draw(st.text("0123456789", min_size=digits - 6, max_size=digits - 6))
    offset = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    if offset == 0:
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        sign = "+" if offset > 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    sep = draw(st.sampled_from("Tt"))
    text = local.strftime("%Y-%m-%d") + sep + local.strftime("%H:%M:%S")
    text += ("." + fraction if fraction else "") + zone
    return text, (local - timedelta(minutes=offset)).replace(tzinfo=UTC)


@st.composite
def valid_events(draw: st.DrawFn) -> tuple[dict[str, Any], datetime | None]:
    """A valid event within every rule, and the UTC instant of its ``occurred_at`` if any."""
    raw: dict[str, Any] = {
        "type": draw(names),
        "service": draw(texts(max_size=128)),
        "actor": draw(actors),
    }
    instant = None
    optional = {
        "id": names,
        "tenant": tenants,
        "target": targets,
        "outcome": st.sampled_from(["success", "failure", "unknown"]),
        "request_id": texts(max_size=128),
        "trace_id": texts(max_size=128),
        "data": datas,
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            raw[field] = draw(strategy)
    if draw(st.booleans()):
        raw["occurred_at"], instant = draw(timestamps())
    return raw, instant


received_ats = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@PROPERTY
@given(valid_events(), received_ats)
def test_property_valid_events_prepare_and_round_trip(case, received_at):
    raw, instant = case
    prepared = prepare(raw, received_at)
    doc = prepared.document

    # every input field is kept, defaults are filled, the server adds its fields and no others
    expected_fields = set(raw) | {"id", "tenant", "occurred_at", "outcome", "data"}
    assert set(doc) == expected_fields | {"received_at", "schema_version"}
    for field in ("type", "service", "target", "request_id", "trace_id", "id", "tenant"):
        if field in raw:
            assert doc[field] == raw[field]
    assert doc["actor"] == {"type": "user", **raw["actor"]}
    assert doc["outcome"] == raw.get("outcome", "success")
    assert doc["data"] == raw.get("data", {})
    assert doc["tenant"] == raw.get("tenant", "default")
    if "id" not in raw:
        assert uuid.UUID(doc["id"]).version == 7
    assert doc["schema_version"] == 1
    assert doc["received_at"] == format_utc(received_at)

    # occurred_at: the same instant, in UTC, or received_at when absent
    assert doc["occurred_at"].endswith("Z")
    assert parse_rfc3339(doc["occurred_at"]) == (instant or received_at)
    assert prepared.tenant == doc["tenant"]
    assert prepared.id == doc["id"]

    # the stored input fields validate again, and preparing them again changes nothing
    again = {k: v for k, v in doc.items() if k in INPUT_FIELDS}
    assert set(again) == set(doc) - {"received_at", "schema_version"}
    assert validate(again)["occurred_at"] == parse_rfc3339(doc["occurred_at"])
    assert prepare(again, received_at).document == doc


@PROPERTY
@given(valid_events(), received_ats)
def test_property_normalized_input_is_what_prepare_stores(case, received_at):
    raw, _ = case
    out = normalized_input(raw, received_at)
    assert {k: v for k, v in out.items() if k in raw} == raw
    doc = prepare(out, received_at).document
    assert doc["id"] == out["id"]
    assert doc["tenant"] == raw.get("tenant", "default")
    assert doc == prepare(raw, received_at, default_id=out["id"]).document


def with_bad_char(valid: st.SearchStrategy[str], allowed: str) -> st.SearchStrategy[str]:
    """A valid name with one character outside ``allowed`` inserted somewhere."""
    bad = st.characters(exclude_categories=("Cs",)).filter(lambda c: c not in allowed)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        name = draw(valid)[:-1] or ""
        at = draw(st.integers(min_value=0, max_value=len(name)))
        return name[:at] + draw(bad) + name[at:]

    return build()


def not_an_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return True
    return False


non_strings = st.one_of(
    st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
)
MISSING = object()
KNOWN_TOP = set(INPUT_FIELDS)

# (path, strategy of bad values; MISSING deletes the field)
BREAKERS: list[tuple[tuple[str, ...], st.SearchStrategy[Any]]] = [
    (("id",), st.one_of(with_bad_char(names, NAME_CHARS), st.just(""), non_strings)),
    (("id",), st.text(NAME_CHARS, min_size=129, max_size=300)),
    (("type",), st.one_of(with_bad_char(names, NAME_CHARS), st.just(""), non_strings)),
    (("type",), st.one_of(st.text(NAME_CHARS, min_size=129, max_size=300), st.just(MISSING))),
    (("service",), st.one_of(st.just(""), texts(129, 300), non_strings, st.just(MISSING))),
    (("tenant",), st.one_of(with_bad_char(tenants, TENANT_CHARS), st.just(""), non_strings)),
    (("tenant",), st.text(TENANT_CHARS, min_size=65, max_size=200)),
    (("tenant",), tenants.map(lambda t: t[:63] + ":")),
    (
        ("occurred_at",),
        st.one_of(
            timestamps().map(lambda c: c[0].rstrip("Zz")[:19]),  # no offset
            timestamps().map(lambda c: c[0][:10]),  # date only
            st.dates().map(lambda d: d.strftime("%G-W%V-%u")),  # week date
            st.dates().map(lambda d: d.strftime("%G-W%V-%uT12:00:00Z")),
            texts(0, 30).filter(lambda s: not s[:4].isdigit()),
            non_strings,
        ),
    ),
    (("actor",), st.one_of(st.just(MISSING), texts(), non_strings)),
    (("actor", "id"), st.one_of(st.just(MISSING), st.just(""), non_strings)),
    (("actor", "ip"), st.one_of(texts(0, 20).filter(not_an_ip), ips.map(lambda ip: ip + "/1"))),
    (("actor", "type"), st.one_of(st.just(""), non_strings)),
    (("target", "id"), st.one_of(st.just(MISSING), st.just(""), non_strings)),
    (("target", "name"), non_strings),
    (
        ("outcome",),
        st.one_of(texts(0, 10), st.integers(), st.booleans(), st.none()).filter(
            lambda v: v not in ("success", "failure", "unknown")
        ),
    ),
    (("request_id",), st.one_of(texts(129, 300), non_strings)),
    (("trace_id",), st.one_of(texts(129, 300), non_strings)),
    (
        ("data",),
        st.one_of(
            st.lists(json_leaves, max_size=3),
            json_leaves,
            st.integers(min_value=11, max_value=40).map(nested_data),
            st.integers(min_value=32 * 1024 + 1, max_value=40_000).map(data_of_size),
        ),
    ),
]


@st.composite
def broken_events(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A valid event with exactly one rule broken, and the path of the field that breaks it."""
    raw, _ = draw(valid_events())
    raw = orjson.loads(orjson.dumps(raw))  # a deep copy
    kind = draw(st.sampled_from(["field", "unknown", "unknown-nested", "server-set"]))
    if kind == "unknown":
        key = draw(texts(0, 20).filter(lambda k: k not in KNOWN_TOP))
        raw[key] = draw(json_leaves)
        return raw, (key,)
    if kind == "unknown-nested":
        parent = draw(st.sampled_from(["actor", "target"]))
        allowed = {"id", "type", "name", "ip", "user_agent"} if parent == "actor" else set()
        allowed = allowed or {"id", "type", "name"}
        key = draw(texts(0, 20).filter(lambda k: k not in allowed))
        raw.setdefault(parent, {"id": "t"})[key] = draw(json_leaves)
        return raw, (parent, key)
    if kind == "server-set":
        key = draw(st.sampled_from(SERVER_FIELDS))
        raw[key] = draw(st.one_of(st.integers(), timestamps().map(lambda c: c[0])))
        return raw, (key,)
    path, values = draw(st.sampled_from(BREAKERS))
    value = draw(values)
    if len(path) == 2:
        parent = raw.setdefault(path[0], {"id": "t"})
        if value is MISSING:
            parent.pop(path[1], None)
        else:
            parent[path[1]] = value
    elif value is MISSING:
        raw.pop(path[0], None)
    else:
        raw[path[0]] = value
    return raw, path


@PROPERTY
@given(broken_events())
def test_property_one_broken_rule_is_rejected_and_keyed_by_its_field(case):
    raw, path = case
    messages = errors_of(raw)
    if path == ("actor",) and isinstance(messages.get("actor"), dict):
        path = ("actor", "_schema")  # a non-object actor: one message under actor._schema
    assert_only_error_at(messages, *path)
    with pytest.raises(ValidationError):
        prepare(raw, RECEIVED)
