"""HTTP ingest: a request body to validated events, checked in the documented order.

Size (413), then content type (415), then JSON (400), then the events (422): each
check is done before the next, cheaper first, so a huge body is refused unread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from marshmallow import ValidationError

from collector import cloudevents, jsoncodec
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
    encoded: list[bytes]  # each event's JSON, as it goes on the stream (serialized once)


def max_body_bytes(settings: Settings) -> int:
    """The largest body any request may have: a full batch of full-size events."""
    return settings.max_batch * settings.max_event_bytes


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _body_too_large(body: bytes, settings: Settings) -> None:
    most = max_body_bytes(settings)
    if len(body) > most:
        raise PayloadTooLarge(
            f"Body of {len(body)} bytes is over the limit of {most} "
            "(AUDIT_MAX_BATCH x AUDIT_MAX_EVENT_BYTES)."
        )


def _too_large(body: bytes, payload: Any, settings: Settings) -> None:
    """The size checks after the body's (413): one event, a batch's count, each batch event.

    An unparsable body counts as one event when it looks like an object.
    """
    limit = settings.max_event_bytes
    if not isinstance(payload, list):
        looks_single = payload is not None or body.lstrip()[:1] == b"{"
        if looks_single and len(body) > limit:
            raise PayloadTooLarge(
                f"Event of {len(body)} bytes is over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
            )
        return
    if len(payload) > settings.max_batch:
        raise PayloadTooLarge(
            f"Batch of {len(payload)} events is over the limit of "
            f"{settings.max_batch} (AUDIT_MAX_BATCH)."
        )
    if len(body) <= limit:
        return  # no event can be larger than the whole body
    for index, item in enumerate(payload):
        size = len(orjson.dumps(item))
        if size > limit:
            raise PayloadTooLarge(
                f"Event {index} is {size} bytes, over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
            )


def _parse(body: bytes) -> tuple[Any, jsoncodec.JSONError | None]:
    """The JSON payload, or None and what the parser refused (reported in the documented order)."""
    try:
        return jsoncodec.loads(body), None
    except jsoncodec.JSONError as exc:
        return None, exc


def encode_within_limit(events: list[dict[str, Any]], settings: Settings) -> list[bytes]:
    """Each event's JSON as it goes on the stream (id, tenant, time filled in); 413 if one
    is over the limit.

    The worker applies the same limit to the entry, so an accepted event is never
    dead-lettered for its size.
    """
    limit = settings.max_event_bytes
    encoded = [orjson.dumps(event) for event in events]
    for index, blob in enumerate(encoded):
        size = len(blob)
        if size > limit:
            which = f"Event {index}" if len(events) > 1 else "The event"
            raise PayloadTooLarge(
                f"{which} is {size} bytes with its id, tenant and occurred_at filled in, "
                f"over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
            )
    return encoded


def decode(
    body: bytes,
    content_type: str | None,
    headers: cloudevents.Headers,
    settings: Settings,
    received_at: datetime,
    default_tenant: str,
) -> Submission:
    """Check and decode a ``POST /v1/events`` body. Raises an AuditError subclass.

    The body is parsed once, after the total size check, so the per-event size
    checks of a batch still come before the content type (the documented order).
    """
    _body_too_large(body, settings)
    if body.lstrip()[:1] == b"{":
        _too_large(body, None, settings)  # one event: refused before it is parsed
    payload, parse_error = _parse(body)
    _too_large(body, payload, settings)

    media = media_type(content_type)
    binary_ce = cloudevents.is_binary(headers) and media in (JSON, "")
    if media not in (JSON, CE_STRUCTURED, CE_BATCH) and not binary_ce:
        raise UnsupportedMediaType(
            f"Content-Type must be {JSON}, {CE_STRUCTURED} or {CE_BATCH}; got {media or 'none'}."
        )
    if binary_ce and not body.strip():
        payload, parse_error = None, None  # a binary-mode CloudEvent without data
        items: list[Any] = [cloudevents.from_binary(headers, None, has_data=False)]
    elif isinstance(parse_error, jsoncodec.InexactNumber):  # valid JSON, not a storable event
        raise InvalidEvent(str(parse_error), errors={"_schema": [str(parse_error)]})
    elif parse_error is not None:
        raise BadRequest(f"Malformed JSON: {parse_error}")
    elif binary_ce:
        items = [cloudevents.from_binary(headers, payload)]
    else:
        items = payload if isinstance(payload, list) else [payload]

    batch = isinstance(payload, list) and not binary_ce
    if media == CE_STRUCTURED and batch:
        raise BadRequest(f"{CE_STRUCTURED} takes one event; send a batch as {CE_BATCH}.")
    if media == CE_BATCH and not batch:
        raise BadRequest(f"{CE_BATCH} takes a JSON array of events.")
    if batch and not items:
        raise InvalidEvent(
            "A batch must hold at least one event.", errors={"_schema": ["Empty batch."]}
        )
    as_cloudevents = media in (CE_STRUCTURED, CE_BATCH) or binary_ce
    events = _validate(items, batch, as_cloudevents, received_at, default_tenant)
    return Submission(events, batch, encode_within_limit(events, settings))


def _validate(
    items: list[Any], batch: bool, as_cloudevents: bool, received_at: datetime, tenant: str
) -> list[dict[str, Any]]:
    """Every item as a normalized v1 event, or InvalidEvent (422) naming every bad one."""
    events: list[dict[str, Any]] = []
    errors: dict[int, Any] = {}
    for index, item in enumerate(items):
        try:
            event = cloudevents.to_event(item) if as_cloudevents else item
            events.append(normalized_input(event, received_at, tenant))
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
    return events
