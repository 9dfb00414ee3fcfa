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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

SPECVERSION = "1.0"
_MAPPED = {
    "id": "id",
    "type": "type",
    "source": "service",
    "time": "occurred_at",
    "traceparent": "trace_id",
    "tenant": "tenant",
    "data": "data",
}
_ACCEPTED_UNSTORED = {"specversion", "datacontenttype", "dataschema", "tracestate"}
_KNOWN = set(_MAPPED) | _ACCEPTED_UNSTORED | {"subject", "authid", "authtype"}
# v1 field -> the CloudEvents attribute to name in an error.
_ERROR_NAMES = {v: k for k, v in _MAPPED.items()} | {"target": "subject", "actor": "authid"}


def _is_json_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def to_event(ce: Any) -> dict[str, Any]:
    """Map one structured-mode CloudEvent to a v1 event. Raises ValidationError."""
    if not isinstance(ce, dict):
        raise ValidationError({"_schema": ["A CloudEvent must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    for name in ce:
        if name not in _KNOWN:
            errors[name] = ["Unknown field."]
    if ce.get("specversion") != SPECVERSION:
        errors["specversion"] = [f"Must be {SPECVERSION!r}."]
    for required in ("id", "source", "type", "authid"):
        if required not in ce:
            errors[required] = ["Missing data for required field."]
    content_type = ce.get("datacontenttype")
    if content_type is not None and not (
        isinstance(content_type, str) and _is_json_type(content_type)
    ):
        errors["datacontenttype"] = ["Must be a JSON media type (data must be a JSON object)."]
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


def from_binary(headers: Mapping[str, str], data: Any) -> dict[str, Any]:
    """Rebuild a structured CloudEvent from binary mode: ``ce-*`` headers and the body."""
    ce: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-"):
            ce[lowered[3:]] = value
    ce["data"] = data
    return ce
