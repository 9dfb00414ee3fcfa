"""The proof of concept's format, mapped onto v1 both ways.

In: ``event_type`` is ``type``, ``X-Client-ID`` is ``service``, ``user_id`` is the actor
(a ``service`` actor named by the client id when absent), ``status`` sets ``outcome``
(below 400 success, 400 and up failure), an object ``entity_json`` is ``data``.
The body's fields must have the seed's documented types (``user_id`` and
``request_method`` strings, ``status`` an integer, ``entity_json`` an object, any of
them null), else ``400 {"error": "Invalid JSON provided.", "message": ...}``. The
seed's own values are kept verbatim in the stored event's ``seed`` object, so an
event posted the old way reads back exactly (absent fields read back null).

Out: ``event_id`` is ``id``, ``created_at`` is ``occurred_at``, ``client_id`` is
``service``, ``entity_json`` is ``data``; ``user_id``, ``request_method`` and ``status``
come from ``seed``, so they are null for events recorded through v1.
"""

from __future__ import annotations

from typing import Any

import orjson

from collector.schema import is_valid_event_id

MAX_LIST = 1000


class SeedError(Exception):
    """A request the seed answered with ``400 {"error": ...}``."""

    def __init__(self, error: str, message: str | None = None) -> None:
        super().__init__(error)
        self.body: dict[str, str] = {"error": error}
        if message is not None:
            self.body["message"] = message


def _outcome(status: int | None) -> str:
    return "success" if status is None or status < 400 else "failure"


# The seed's documented body types; null is always allowed.
_TYPES: dict[str, tuple[type, ...]] = {
    "user_id": (str,),
    "request_method": (str,),
    "status": (int,),
    "entity_json": (dict,),
}
_TYPE_NAMES = {"user_id": "a string", "request_method": "a string", "status": "an integer"}


def _check_types(payload: dict[str, Any]) -> None:
    for name, types in _TYPES.items():
        value = payload.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            kind = _TYPE_NAMES.get(name, "a JSON object")
            raise SeedError("Invalid JSON provided.", f"{name} must be {kind} or null.")


def from_request(client_id: str | None, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The v1 event and the seed fields for ``POST /event``. Raises SeedError."""
    if not client_id:
        raise SeedError("Client ID is required")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SeedError("Invalid JSON provided.", str(exc).splitlines()[0]) from None
    if not isinstance(payload, dict):
        raise SeedError("Invalid JSON provided.", "The body must be a JSON object.")
    event_type = payload.get("event_type")
    if event_type is None or event_type == "":
        raise SeedError("event_type is required")
    if not is_valid_event_id(event_type):
        raise SeedError("Invalid event_type")
    _check_types(payload)
    user_id = payload.get("user_id")
    entity = payload.get("entity_json")
    seed = {
        "user_id": user_id,
        "request_method": payload.get("request_method"),
        "status": payload.get("status"),
    }
    if not isinstance(entity, dict):
        seed["entity_json"] = entity  # not an object: kept here, data stays {}
    actor = (
        {"id": str(user_id), "type": "user"}
        if user_id not in (None, "")
        else {"id": client_id, "type": "service"}
    )
    event = {
        "type": event_type,
        "service": client_id,
        "actor": actor,
        "outcome": _outcome(seed["status"]),
        "data": entity if isinstance(entity, dict) else {},
    }
    return event, seed


def to_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored event in the seed's response shape."""
    seed = doc.get("seed") or {}
    return {
        "event_id": doc["id"],
        "event_type": doc["type"],
        "created_at": doc["occurred_at"],
        "client_id": doc["service"],
        "user_id": seed.get("user_id"),
        "request_method": seed.get("request_method"),
        "status": seed.get("status"),
        "entity_json": seed["entity_json"] if "entity_json" in seed else doc.get("data"),
    }
