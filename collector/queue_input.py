"""Deliveries to events: a stream entry or an RQ job item becomes a prepared event or a dead letter.

A delivery may come twice (a worker died before acking, RQ retried a job), so an
event without an ``id`` gets one derived from the delivery itself: the same entry
always yields the same id, and the store keeps it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from marshmallow import ValidationError

from collector import jsoncodec
from collector.events import PreparedEvent, prepare, uuid7
from collector.schema import LEGACY_FIELDS_SCHEMA
from collector.streams import DeadLetter, Entry
from collector.timefmt import parse_rfc3339


def from_entry(
    entry: Entry, now: datetime, max_deliveries: int, max_event_bytes: int
) -> PreparedEvent | DeadLetter:
    """Validate one stream entry."""

    def dead(reason: str, errors: Any = None) -> DeadLetter:
        return DeadLetter(
            entry.fields.get(b"event", b""),
            reason,
            errors,
            entry.stream,
            entry.id,
            {"deliveries": str(entry.deliveries)},
        )

    if entry.deliveries > max_deliveries:
        return dead("delivery limit")
    raw = entry.fields.get(b"event")
    if raw is None:
        return dead('entry has no "event" field')
    if len(raw) > max_event_bytes:
        return dead(f"event is {len(raw)} bytes, over the limit of {max_event_bytes}")
    try:
        data = jsoncodec.loads(raw)
    except jsoncodec.InexactNumber as exc:
        return dead("invalid event", {"_schema": [str(exc)]})
    except jsoncodec.JSONError as exc:
        return dead(f"not valid JSON: {exc}")
    received = now
    stamp = entry.fields.get(b"received_at")
    if stamp:
        try:
            received = parse_rfc3339(stamp.decode())
        except (ValueError, UnicodeDecodeError):
            return dead("received_at is not an RFC 3339 date-time")
    extra = None
    # the old API's own fields, set by the API: checked like everything else; "seed" is
    # their field's former name, still accepted from entries added before an upgrade
    legacy = entry.fields.get(b"legacy") or entry.fields.get(b"seed")
    if legacy:
        try:
            extra = {"legacy": LEGACY_FIELDS_SCHEMA.load(jsoncodec.loads(legacy))}
        except jsoncodec.JSONError:
            return dead("legacy fields are not valid JSON")
        except ValidationError as exc:
            return dead("invalid legacy fields", {"legacy": exc.messages})

    def default_id() -> str:  # only for events that come without an id
        return derived_id(entry.stream, entry.id)

    try:
        return prepare(data, received, default_id, extra)
    except ValidationError as exc:
        return dead("invalid event", exc.messages)


def from_job_item(
    item: Any, job_id: str, index: int, created_ms: int, now: datetime, max_event_bytes: int
) -> PreparedEvent | DeadLetter:
    """Validate one event of an RQ job (``index`` is its place in the job's list)."""
    source_id = f"{job_id}/{index}"
    try:
        payload = orjson.dumps(item)
    except TypeError as exc:
        return DeadLetter(
            repr(item).encode()[:max_event_bytes],
            f"not JSON-serializable: {exc}",
            None,
            "rq",
            source_id,
        )

    event_id = uuid7(created_ms, f"rq/{source_id}".encode())  # if the item has none

    def dead(reason: str, errors: Any = None) -> DeadLetter:
        # The id it would have had, so that a replay keeps its identity (the job's
        # creation time is not in the letter otherwise).
        return DeadLetter(payload, reason, errors, "rq", source_id, {"event_id": event_id})

    if len(payload) > max_event_bytes:
        return dead(f"event is {len(payload)} bytes, over the limit of {max_event_bytes}")
    try:
        return prepare(item, now, event_id)
    except ValidationError as exc:
        return dead("invalid event", exc.messages)


def derived_id(stream: str, entry_id: str) -> str:
    """The id of an event that came without one in stream entry ``entry_id``: the same
    entry always derives the same id (a time-ordered UUIDv7 at the entry's time), so a
    redelivered or replayed entry is stored once."""
    return uuid7(int(entry_id.split("-", 1)[0]), f"{stream}/{entry_id}".encode())
