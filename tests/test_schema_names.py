"""The v1 event's names: id, type, service, tenant, request_id and trace_id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from helpers import (
    NAME_CHARS,
    TENANT_CHARS,
    event,
    rejected_at,
    stored,
)

from collector.events import uuid7, validate

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
