"""HTTP ingest: a request body to validated events, checked in the documented order.

Size (413), then content type (415), then JSON (400), then the events (422): each
check is done before the next, cheaper first, so a huge body is refused unread. Depth
and a batch's items are found by :mod:`collector.jsonscan` before anything is parsed,
and a batch is parsed one event at a time, so a request costs a few times its body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from marshmallow import ValidationError

from collector import cloudevents, jsoncodec, jsonscan
from collector.errors import (
    AuditError,
    BadRequest,
    InvalidEvent,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from collector.events import normalized_input
from collector.schema import DATA_MAX_DEPTH
from collector.settings import Settings

JSON = "application/json"
CE_STRUCTURED = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Submission:
    """Validated events ready for the stream, and whether they came as a batch.

    Only what routing and the answer need is kept of each event (its ``id`` and
    ``tenant``) beside its JSON: a batch is decoded one event at a time, and no event's
    parsed form outlives its own turn.
    """

    events: list[dict[str, Any]]  # {"id", "tenant"} of each event
    batch: bool
    encoded: list[bytes]  # each event's JSON, as it goes on the stream (serialized once)


# The deepest a body can nest and still be valid: a batch (1), its event (2), ``data``
# (3) and nine more levels inside it. Anything deeper is refused before it is parsed.
MAX_BODY_DEPTH = DATA_MAX_DEPTH + 2


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _body_too_large(body: bytes, settings: Settings) -> None:
    most = settings.max_body_bytes
    if len(body) > most:
        raise PayloadTooLarge(
            f"Body of {len(body)} bytes is over the limit of {most} (AUDIT_MAX_BODY_BYTES)."
        )


def _event_too_large(size: int, limit: int, index: int | None) -> PayloadTooLarge:
    which = "Event" if index is None else f"Event {index}"
    return PayloadTooLarge(
        f"{which} of {size} bytes is over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
    )


def _filled_in_too_large(size: int, limit: int, index: int | None) -> PayloadTooLarge:
    """413 for an event within the limit as sent, over it once the service filled it in."""
    which = "The event" if index is None else f"Event {index}"
    return PayloadTooLarge(
        f"{which} is {size} bytes with its id, tenant and occurred_at filled in, "
        f"over the limit of {limit} (AUDIT_MAX_EVENT_BYTES)."
    )


def _split(
    body: bytes, settings: Settings
) -> tuple[list[tuple[bytes, Any]] | None, AuditError | None]:
    """The body's items with their values when finding them parsed them (None: not an
    array; ``jsonscan.array_values``), and a shape error to report after the content
    type (400 not JSON, 422 too deep). Raises the 413s: too many events, one too large.
    Nothing is parsed whole, and nothing recursive runs on deep input: depth is checked
    on each item (at most AUDIT_MAX_EVENT_BYTES, so the check's own copies stay small),
    and an array nested past orjson's limit is refused by orjson unbuilt.
    """
    limit = settings.max_event_bytes
    first = body.lstrip(b" \t\r\n")[:1]
    if first != b"[" and len(body) > limit:
        raise _event_too_large(len(body), limit, None)  # one event: refused unparsed
    where: int | None = None
    try:
        if first != b"[":
            _check_depth(body, MAX_BODY_DEPTH - 1)
            return None, None
        items = jsonscan.array_values(body, settings.max_batch, limit)
        for where in range(len(items)):  # where: named in the error
            _check_depth(items[where][0], MAX_BODY_DEPTH - 1)
        return items, None
    except jsonscan.TooManyItems:
        raise PayloadTooLarge(
            f"Batch of more than {settings.max_batch} events is over the limit (AUDIT_MAX_BATCH)."
        ) from None
    except jsonscan.ItemTooLarge as exc:
        raise _event_too_large(limit + 1, limit, exc.index) from None
    except jsonscan.TooDeep:
        errors: dict[str, Any] = {"data": [f"Must be at most {DATA_MAX_DEPTH} levels deep."]}
        if where is not None:
            errors = {str(where): errors}
        return None, InvalidEvent("JSON nested deeper than any valid event.", errors=errors)
    except jsonscan.Unbalanced as exc:
        return None, BadRequest(f"Malformed JSON: {exc}.")


def _check_depth(raw: bytes, limit: int) -> None:
    if jsonscan.could_be_deeper(raw, limit):
        jsonscan.depth(raw, limit)


def encode_within_limit(events: list[dict[str, Any]], settings: Settings) -> list[bytes]:
    """Each event's JSON as it goes on the stream (id, tenant, time filled in); 413 if one
    is over the limit.

    The worker applies the same limit to the entry, so an accepted event is never
    dead-lettered for its size.
    """
    limit = settings.max_event_bytes
    encoded = [orjson.dumps(event) for event in events]
    for index, blob in enumerate(encoded):
        if len(blob) > limit:
            raise _filled_in_too_large(len(blob), limit, index if len(events) > 1 else None)
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

    Size first (413: the body, the batch's count, each event as sent), then the content
    type (415), then JSON (400), then the events (422). A batch is parsed, checked and
    encoded one event at a time.
    """
    _body_too_large(body, settings)
    raw_items, shape_error = _split(body, settings)

    media = media_type(content_type)
    binary_ce = cloudevents.is_binary(headers) and media in (JSON, "")
    if media not in (JSON, CE_STRUCTURED, CE_BATCH) and not binary_ce:
        raise UnsupportedMediaType(
            f"Content-Type must be {JSON}, {CE_STRUCTURED} or {CE_BATCH}; got {media or 'none'}."
        )
    if shape_error is not None:
        raise shape_error
    batch = raw_items is not None and not binary_ce
    if media == CE_STRUCTURED and batch:
        raise BadRequest(f"{CE_STRUCTURED} takes one event; send a batch as {CE_BATCH}.")
    if media == CE_BATCH and not batch:
        raise BadRequest(f"{CE_BATCH} takes a JSON array of events.")
    if batch and not raw_items:
        raise InvalidEvent(
            "A batch must hold at least one event.", errors={"_schema": ["Empty batch."]}
        )
    make: Callable[[Any], Any] | None = None
    if binary_ce:
        raw_items = [(body, jsonscan.UNPARSED)]
        make = partial(_from_binary, headers, bool(body.strip()))
    elif media in (CE_STRUCTURED, CE_BATCH):
        make = cloudevents.to_event
    decoder = _Decoder(make, received_at, default_tenant, settings)
    if binary_ce and not body.strip():  # a binary-mode CloudEvent without data
        decoder.add_parsed(0, None)
    else:
        items = raw_items if raw_items is not None else [(body, jsonscan.UNPARSED)]
        for index, (raw, value) in enumerate(items):
            items[index] = (raw, None)  # each parse is dropped once its event is done
            decoder.add(index, raw, value)
    return decoder.result(batch)


def _from_binary(headers: cloudevents.Headers, has_data: bool, data: Any) -> dict[str, Any]:
    """A binary-mode CloudEvent (``ce-*`` headers, the body its data) as a v1 event."""
    return cloudevents.to_event(cloudevents.from_binary(headers, data, has_data=has_data))


class _Decoder:
    """Parses, validates and encodes one event at a time; keeps the JSON, not the objects."""

    def __init__(
        self,
        make: Callable[[Any], Any] | None,
        received_at: datetime,
        tenant: str,
        settings: Settings,
    ) -> None:
        self.make = make
        self.received_at = received_at
        self.tenant = tenant
        self.limit = settings.max_event_bytes
        self.events: list[dict[str, Any]] = []
        self.encoded: list[bytes] = []
        self.errors: dict[int, Any] = {}
        self.malformed: jsoncodec.JSONError | None = None
        self.inexact: jsoncodec.InexactNumber | None = None
        self.oversized: tuple[int, int] | None = None

    def add(self, index: int, raw: bytes, value: Any = jsonscan.UNPARSED) -> None:
        """Parse one event's JSON (unless ``value`` is its parse already), then
        :meth:`add_parsed`."""
        try:
            if value is jsonscan.UNPARSED:
                payload = jsoncodec.loads(raw)
            else:
                payload = jsoncodec.exact(raw, value)
        except jsoncodec.InexactNumber as exc:  # valid JSON, not a storable event
            self.inexact = self.inexact or exc
            return
        except jsoncodec.JSONError as exc:
            self.malformed = self.malformed or exc
            return
        if self.malformed is None:  # else a 400 is coming: nothing after it needs checking
            self.add_parsed(index, payload)

    def add_parsed(self, index: int, payload: Any) -> None:
        """Map (CloudEvents), validate and encode one parsed event; then it is dropped."""
        try:
            event = payload if self.make is None else self.make(payload)
            normalized = normalized_input(event, self.received_at, self.tenant)
        except ValidationError as exc:
            messages = exc.messages
            if self.make is not None:  # errors keyed by the CloudEvents attribute
                messages = cloudevents.rename_errors(messages)
            self.errors[index] = messages
            return
        # orjson's output can sit in a buffer of 128 KiB whatever its length: keep an
        # exact copy, or a batch of small events costs 128 KiB each until it is sent
        blob = bytes(memoryview(orjson.dumps(normalized)))
        if len(blob) > self.limit and self.oversized is None:
            self.oversized = (index, len(blob))
        self.events.append({"id": normalized["id"], "tenant": normalized["tenant"]})
        self.encoded.append(blob)

    def result(self, batch: bool) -> Submission:
        """The submission, or the first error in the documented order."""
        if self.malformed is not None:
            raise BadRequest(f"Malformed JSON: {self.malformed}")
        if self.inexact is not None:
            raise InvalidEvent(str(self.inexact), errors={"_schema": [str(self.inexact)]})
        total = len(self.events) + len(self.errors)
        if self.errors:
            if batch:
                raise InvalidEvent(
                    f"{len(self.errors)} of {total} events are invalid; nothing was accepted.",
                    errors={str(i): e for i, e in sorted(self.errors.items())},
                )
            raise InvalidEvent("The event is invalid.", errors=self.errors[0])
        if self.oversized is not None:
            index, size = self.oversized
            raise _filled_in_too_large(size, self.limit, index if batch else None)
        return Submission(self.events, batch, self.encoded)
