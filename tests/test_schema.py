"""The v1 event as a whole: the minimum, unknown and server-set fields, the error shape.

Errors are checked by where they are keyed: ``messages[field]`` (``messages[actor][field]``
for nested objects) holds exactly one message, and no other field is blamed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from helpers import (
    INPUT_FIELDS,
    RECEIVED,
    errors_of,
    event,
    rejected_at,
    stored,
)
from marshmallow import ValidationError

from collector.events import normalized_input, prepare, validate
from collector.timefmt import format_utc

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
    assert set(messages) == {*INPUT_FIELDS, "bogus"} - {"trace_id"}  # trace_id, absent, is valid
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
