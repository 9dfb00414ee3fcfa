"""HTTP ingest: a request body to validated events, checked in the contract's order.

Size (413), then content type (415), then JSON (400), then the events (422): each
check is done before the next, cheaper first, so a huge body is refused unread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from marshmallow import ValidationError

from collector import cloudevents
from collector.errors import BadRequest, InvalidEvent, PayloadTooLarge, UnsupportedMediaType
from collector.events import normalized_input
from collector.settings import Settings

JSON = "application/json"
CE_STRUCTURED = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Submission:
    """Validated events ready for the stream, and whether they came as a batch."""

    events: list[dict[str, Any]]
    batch: bool


def max_body_bytes(settings: Settings) -> int:
    """The largest body any request may have: a full batch of full-size events."""
    return settings.max_batch * settings.max_event_bytes


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _first_char(body: bytes) -> bytes:
    stripped = body.lstrip()
    return stripped[:1]


def decode(
    body: bytes,
    content_type: str | None,
    headers: Mapping[str, str],
    settings: Settings,
    received_at: datetime,
    default_tenant: str,
) -> Submission:
    """Check and decode a ``POST /v1/events`` body. Raises an AuditError subclass."""
    limit = settings.max_event_bytes
    if len(body) > max_body_bytes(settings):
        raise PayloadTooLarge(
            f"Body of {len(body)} bytes is over the limit of "
            f"{max_body_bytes(settings)} (AUDIT_MAX_BATCH x AUDIT_MAX_EVENT_BYTES)."
        )
    if _first_char(body) == b"{" and len(body) > limit:
        raise PayloadTooLarge(
            f"Event of {len(body)} bytes is over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
        )

    media = media_type(content_type)
    binary_ce = media == JSON and any(k.lower() == "ce-specversion" for k in headers.keys())  # noqa: SIM118 (werkzeug Headers iterate as pairs)
    if media not in (JSON, CE_STRUCTURED, CE_BATCH):
        raise UnsupportedMediaType(
            f"Content-Type must be {JSON}, {CE_STRUCTURED} or {CE_BATCH}; got {media or 'none'}."
        )

    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {str(exc).splitlines()[0]}") from None

    batch = isinstance(payload, list)
    if batch:
        if media in (CE_STRUCTURED,) or binary_ce:
            raise BadRequest(f"{media} takes one event; send a batch as {CE_BATCH}.")
        if len(payload) > settings.max_batch:
            raise PayloadTooLarge(
                f"Batch of {len(payload)} events is over the limit of "
                f"{settings.max_batch} (AUDIT_MAX_BATCH)."
            )
        for index, item in enumerate(payload):
            size = len(orjson.dumps(item))
            if size > limit:
                raise PayloadTooLarge(
                    f"Event {index} is {size} bytes, over the limit of {limit} "
                    "(AUDIT_MAX_EVENT_BYTES)."
                )
        if not payload:
            raise InvalidEvent(
                "A batch must hold at least one event.", errors={"_schema": ["Empty batch."]}
            )
    elif media == CE_BATCH:
        raise BadRequest(f"{CE_BATCH} takes a JSON array of events.")

    items = payload if batch else [payload]
    as_cloudevents = media in (CE_STRUCTURED, CE_BATCH) or binary_ce
    if binary_ce:
        items = [cloudevents.from_binary(headers, payload)]
    events: list[dict[str, Any]] = []
    errors: dict[Any, Any] = {}
    for index, item in enumerate(items):
        try:
            event = cloudevents.to_event(item) if as_cloudevents else item
            events.append(normalized_input(event, received_at, default_tenant))
        except ValidationError as exc:
            messages = cloudevents.rename_errors(exc.messages) if as_cloudevents else exc.messages
            errors[index] = messages
    if errors:
        if batch:
            raise InvalidEvent(
                f"{len(errors)} of {len(items)} events are invalid; nothing was accepted.",
                errors={str(i): e for i, e in errors.items()},
            )
        raise InvalidEvent("The event is invalid.", errors=errors[0])
    return Submission(events, batch)
