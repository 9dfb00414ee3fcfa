"""The proof of concept's format, mapped onto v1 both ways.

In: ``event_type`` is ``type``, ``X-Client-ID`` is ``service``, ``user_id`` is the actor
(a ``service`` actor named by the client id when absent), ``status`` sets ``outcome``
(below 400 success, 400 and up failure), an object ``entity_json`` is ``data``.
The body's fields must have the old API's documented types (``user_id`` and
``request_method`` strings, ``status`` an integer, ``entity_json`` an object, any of
them null), else ``400 {"error": "Invalid JSON provided.", "message": ...}``. The
old API's own values are kept verbatim in the stored event's ``legacy`` object, so an
event posted the old way reads back exactly (absent fields read back null).

Out: ``event_id`` is ``id``, ``created_at`` is ``occurred_at``, ``client_id`` is
``service``, ``entity_json`` is ``data``; ``user_id``, ``request_method`` and ``status``
come from ``legacy``, so they are null for events recorded through v1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from marshmallow.validate import Range

from collector.errors import PayloadTooLarge
from collector.events import normalized_input
from collector.http_input import encode_within_limit
from collector.leaves import MAX_SAFE_INTEGER
from collector.schema import NAME_PATTERN, Text, is_valid_event_id
from collector.settings import Settings

MAX_LIST = 1000


class LegacyError(Exception):
    """A request the old API answered with ``{"error": ...}`` (400, or 413 when too large)."""

    def __init__(self, error: str, message: str | None = None, status: int = 400) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, str] = {"error": error}
        if message is not None:
            self.body["message"] = message


@dataclass(frozen=True)
class LegacySubmission:
    """A ``POST /event`` decoded: the v1 event, the old API's own fields, the event's JSON."""

    event: dict[str, Any]
    fields: dict[str, Any]
    encoded: bytes


def decode(
    body: bytes,
    client_id: str | None,
    settings: Settings,
    received_at: datetime,
    default_tenant: str,
    authorize: Callable[[str], None],
) -> LegacySubmission:
    """Check and decode a ``POST /event`` body in the old API's order. Raises LegacyError.

    ``authorize`` is called with the event's tenant once it is known, before the
    stored size is checked.
    """
    limit = settings.max_event_bytes
    if len(body) > limit:  # refused before it is parsed, like one v1 event
        message = f"The body is {len(body)} bytes, over the limit of {limit}."
        raise LegacyError("Event too large", message, status=413)
    event, legacy = from_request(client_id, body)
    try:
        normalized = normalized_input(event, received_at, default_tenant)
    except ValidationError as exc:
        raise LegacyError("Invalid event", flatten(exc.messages)) from None
    authorize(normalized["tenant"])
    try:
        encoded, _ = encode_within_limit([normalized, legacy], settings)
    except PayloadTooLarge as exc:
        raise LegacyError("Event too large", exc.detail, status=413) from None
    return LegacySubmission(normalized, legacy, encoded)


def _outcome(status: int | None) -> str:
    return "success" if status is None or status < 400 else "failure"


class LegacyPostSchema(Schema):
    """The old API's ``POST /event`` body: validates it and documents it (unknown fields ignored).

    Lengths match :class:`collector.schema.LegacyFieldsSchema`, which the worker applies
    to the stored ``legacy`` object, so nothing accepted here is refused there.
    """

    class Meta:
        unknown = EXCLUDE

    event_type = fields.String(
        required=True,
        metadata={"example": "user.login", "pattern": f"^{NAME_PATTERN.pattern}$"},
    )
    user_id = Text(min_len=0, max_len=1024, allow_none=True, metadata={"example": "42"})
    request_method = Text(min_len=0, max_len=64, allow_none=True, metadata={"example": "POST"})
    status = fields.Integer(
        strict=True,
        allow_none=True,
        # kept in the stored event, so within the integers its canonical JSON writes exactly
        validate=Range(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
        metadata={"example": 200},
    )
    entity_json = fields.Dict(allow_none=True, metadata={"example": {"invoice": 7}})


LEGACY_POST_SCHEMA = LegacyPostSchema()


def _check_types(payload: dict[str, Any]) -> None:
    """The old API's documented types (any field may be null), else ``Invalid JSON provided.``."""
    if isinstance(payload.get("status"), bool):  # JSON true is no status code
        raise LegacyError("Invalid JSON provided.", "status: Not a valid integer.")
    try:
        LEGACY_POST_SCHEMA.load(payload)
    except ValidationError as exc:
        name, messages = next(iter(exc.messages.items()))  # type: ignore[union-attr]
        raise LegacyError("Invalid JSON provided.", f"{name}: {' '.join(messages)}") from None


def from_request(client_id: str | None, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The v1 event and the legacy fields for ``POST /event``. Raises LegacyError."""
    if not client_id:
        raise LegacyError("Client ID is required")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LegacyError("Invalid JSON provided.", str(exc).splitlines()[0]) from None
    if not isinstance(payload, dict):
        raise LegacyError("Invalid JSON provided.", "The body must be a JSON object.")
    event_type = payload.get("event_type")
    if event_type is None or event_type == "":
        raise LegacyError("event_type is required")
    if not is_valid_event_id(event_type):
        raise LegacyError("Invalid event_type")
    _check_types(payload)
    user_id = payload.get("user_id")
    entity = payload.get("entity_json")
    legacy = {
        "user_id": user_id,
        "request_method": payload.get("request_method"),
        "status": payload.get("status"),
    }
    if not isinstance(entity, dict):
        legacy["entity_json"] = entity  # not an object: kept here, data stays {}
    actor = (
        {"id": str(user_id), "type": "user"}
        if user_id not in (None, "")
        else {"id": client_id, "type": "service"}
    )
    event = {
        "type": event_type,
        "service": client_id,
        "actor": actor,
        "outcome": _outcome(legacy["status"]),
        "data": entity if isinstance(entity, dict) else {},
    }
    return event, legacy


def flatten(messages: Any, prefix: str = "") -> str:
    """Validation messages as one line: ``actor.id: Missing data...; data: Must be...``."""
    if isinstance(messages, dict):
        parts = [flatten(v, f"{prefix}{k}.") for k, v in messages.items()]
        return "; ".join(p for p in parts if p)
    if isinstance(messages, list):
        return f"{prefix[:-1]}: {' '.join(map(str, messages))}"
    return f"{prefix[:-1]}: {messages}"


def to_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored event in the old API's response shape."""
    # events stored before the rename keep their old API fields under "seed"
    legacy = doc.get("legacy", doc.get("seed"))
    if not isinstance(legacy, dict):
        legacy = {}
    return {
        "event_id": doc["id"],
        "event_type": doc["type"],
        "created_at": doc["occurred_at"],
        "client_id": doc["service"],
        "user_id": legacy.get("user_id"),
        "request_method": legacy.get("request_method"),
        "status": legacy.get("status"),
        "entity_json": legacy["entity_json"] if "entity_json" in legacy else doc.get("data"),
    }
