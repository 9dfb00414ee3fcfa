"""The v1 event's actor, target and outcome."""

from __future__ import annotations

import pytest
from helpers import (
    errors_of,
    event,
    rejected_at,
    stored,
)

from collector.events import validate

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
