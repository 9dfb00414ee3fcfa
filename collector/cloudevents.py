"""CloudEvents 1.0 to v1 events (structured, batched and binary HTTP modes).

| CloudEvents | audit-trail |
| --- | --- |
| id, type | id, type |
| source | service |
| time | occurred_at |
| subject | target.id |
| authid, authtype (Auth Context extension) | actor.id (required), actor.type |
| traceparent (Distributed Tracing extension) | trace_id |
| tenant (extension) | tenant |
| data (a JSON object) | data |

``datacontenttype`` must be JSON when present; ``dataschema`` and ``tracestate`` are
accepted and not stored. Any other attribute is rejected like an unknown field.
:class:`CloudEventSchema` is the single source for this check and for the OpenAPI
document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import unquote

from marshmallow import RAISE, Schema, ValidationError, fields, validates

from collector.schema import (
    EVENT_ID_RULE,
    NAME_PATTERN,
    TENANT_PATTERN,
    TENANT_RULE,
    Data,
    Pattern,
    Text,
    Timestamp,
)


class Headers(Protocol):
    """What is read of request headers: a dict, or Werkzeug's Headers (which iterates pairs)."""

    def keys(self) -> Iterable[str]: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


SPECVERSION = "1.0"
CE_PREFIX = "ce-"
_MAPPED = {
    "id": "id",
    "type": "type",
    "source": "service",
    "time": "occurred_at",
    "traceparent": "trace_id",
    "tenant": "tenant",
    "data": "data",
}
# v1 field -> the CloudEvents attribute to name in an error.
_ERROR_NAMES = {v: k for k, v in _MAPPED.items()} | {"target": "subject", "actor": "authid"}


def _is_json_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class CloudEventSchema(Schema):
    """A CloudEvent 1.0 in structured mode, with the attributes audit-trail takes."""

    class Meta:
        unknown = RAISE
        ordered = True

    specversion = Pattern(
        re.compile(re.escape(SPECVERSION)),
        repr(SPECVERSION),
        required=True,
        metadata={"enum": [SPECVERSION]},
    )
    id = Pattern(NAME_PATTERN, EVENT_ID_RULE, required=True, metadata={"example": "ce-1"})
    source = Text(max_len=128, required=True, metadata={"example": "billing"})
    type = Pattern(NAME_PATTERN, EVENT_ID_RULE, required=True, metadata={"example": "invoice.paid"})
    time = Timestamp(metadata={"example": "2026-11-28T09:15:00Z"})
    subject = Text(metadata={"description": "The target's id.", "example": "invoice-42"})
    authid = Text(required=True, metadata={"description": "The actor's id.", "example": "alice"})
    authtype = Text(max_len=128, metadata={"description": "The actor's type.", "example": "user"})
    traceparent = Text(max_len=128, metadata={"description": "Stored as trace_id."})
    tracestate = fields.String(metadata={"description": "Accepted, not stored."})
    tenant = Pattern(TENANT_PATTERN, TENANT_RULE, metadata={"example": "acme"})
    datacontenttype = fields.String(
        metadata={"enum": ["application/json"], "description": "A JSON media type when present."}
    )
    dataschema = fields.String(metadata={"description": "Accepted, not stored."})
    data = Data(metadata={"example": {"amount": 1200}})

    @validates("datacontenttype")
    def _json_data(self, value: str, **_: Any) -> None:
        if not _is_json_type(value):
            raise ValidationError("Must be a JSON media type (data must be a JSON object).")


CLOUDEVENT_SCHEMA = CloudEventSchema()


def to_event(ce: Any) -> dict[str, Any]:
    """Map one structured-mode CloudEvent to a v1 event. Raises ValidationError.

    Errors are keyed by the CloudEvents attribute; an unknown attribute is an error.
    """
    if not isinstance(ce, dict):
        raise ValidationError({"_schema": ["A CloudEvent must be a JSON object."]})
    errors = CLOUDEVENT_SCHEMA.validate(ce)
    if errors:
        raise ValidationError(errors)
    event: dict[str, Any] = {v1: ce[name] for name, v1 in _MAPPED.items() if name in ce}
    event["actor"] = {"id": ce["authid"]}
    if "authtype" in ce:
        event["actor"]["type"] = ce["authtype"]
    if "subject" in ce:
        event["target"] = {"id": ce["subject"]}
    return event


def rename_errors(messages: Any) -> Any:
    """Key v1 validation errors by the CloudEvents attribute the client sent."""
    if not isinstance(messages, dict):
        return messages
    return {_ERROR_NAMES.get(k, k): v for k, v in messages.items()}


def is_binary(headers: Headers) -> bool:
    """Whether a request is a binary-mode CloudEvent (it has a ``ce-specversion`` header)."""
    return any(name.lower() == CE_PREFIX + "specversion" for name in headers.keys())  # noqa: SIM118 (werkzeug Headers iterate as pairs)


def from_binary(headers: Headers, data: Any, has_data: bool = True) -> dict[str, Any]:
    """Rebuild a structured CloudEvent from binary mode: ``ce-*`` headers and the body.

    Header values are percent-decoded, as the HTTP binding requires.
    """
    ce: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(CE_PREFIX):
            ce[lowered[len(CE_PREFIX) :]] = unquote(value)
    if has_data:
        ce["data"] = data
    return ce
