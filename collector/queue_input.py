"""Deliveries to events: a stream entry or an RQ job item becomes a prepared event or a dead letter.

A delivery may come twice (a worker died before acking, RQ retried a job), so an
event without an ``id`` gets one derived from the delivery itself: the same entry
always yields the same id, and the store keeps it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from marshmallow import ValidationError

from collector import jsoncodec, jsonscan
from collector.events import DEFAULT_MAX_SKEW, PreparedEvent, prepare, uuid7
from collector.schema import DATA_MAX_DEPTH, LEGACY_FIELDS_SCHEMA
from collector.streams import DeadLetter, Entry
from collector.timefmt import parse_rfc3339

# A dead letter keeps at most this much of a payload over AUDIT_MAX_EVENT_BYTES.
PREVIEW_BYTES = 4096
# The deepest an event can nest and be valid: the event (1), data (2) and 9 more levels.
MAX_EVENT_DEPTH = DATA_MAX_DEPTH + 1


def kept_payload(payload: bytes, limit: int) -> tuple[bytes, dict[str, str]]:
    """What a dead letter keeps of ``payload``: all of it up to ``limit`` bytes; past
    that a 4 KiB preview, with the whole payload's size and SHA-256 as extra fields."""
    if len(payload) <= limit:
        return payload, {}
    digest = hashlib.sha256(payload).hexdigest()
    return payload[:PREVIEW_BYTES], {"size": str(len(payload)), "sha256": digest, "preview": "1"}


def parse_event_json(raw: bytes, max_event_bytes: int) -> Any:
    """The JSON of one delivered event, or :class:`Undecodable` with its true reason:
    too large, not UTF-8, too deep (found before any parser runs), not JSON."""
    if len(raw) > max_event_bytes:
        raise Undecodable(f"too large: {len(raw)} bytes, over the limit of {max_event_bytes}")
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Undecodable(f"not UTF-8: invalid byte at position {exc.start}") from None
    if jsonscan.could_be_deeper(raw, MAX_EVENT_DEPTH):
        try:
            jsonscan.depth(raw, MAX_EVENT_DEPTH)
        except jsonscan.TooDeep:
            raise Undecodable(f"too deep: nested more than {MAX_EVENT_DEPTH} levels") from None
        except jsonscan.Unbalanced as exc:
            raise Undecodable(f"not JSON: {exc}") from None
    try:
        return jsoncodec.loads(raw)
    except jsoncodec.InexactNumber as exc:
        raise Undecodable("invalid event", {"_schema": [str(exc)]}) from None
    except jsoncodec.JSONError as exc:
        raise Undecodable(f"not JSON: {exc}") from None


class Undecodable(ValueError):
    """A delivered payload that is not an event's JSON; ``reason`` says why."""

    def __init__(self, reason: str, errors: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


def from_entry(
    entry: Entry,
    now: datetime,
    max_deliveries: int,
    max_event_bytes: int,
    trusted: bool = False,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> PreparedEvent | DeadLetter:
    """Validate one stream entry. Only an entry of a stream the API alone writes
    (``trusted``) has its ``received_at``, ``ingested_by`` and legacy fields read; on a
    direct producer's stream they are the worker's time and ``stream:<stream>``.
    """

    def dead(reason: str, errors: Any = None) -> DeadLetter:
        payload, extra = kept_payload(entry.fields.get(b"event", b""), max_event_bytes)
        extra["deliveries"] = str(entry.deliveries)
        return DeadLetter(payload, reason, errors, entry.stream, entry.id, extra)

    if entry.deliveries > max_deliveries:
        return dead("delivery limit")
    truncated = entry.fields.get(b"__truncated")
    if truncated is not None:  # the read sent back only a preview of a huge value
        return DeadLetter(
            entry.fields.get(b"event", b"")[:PREVIEW_BYTES],
            f"too large: {int(truncated)} bytes, over the limit of {max_event_bytes}",
            None,
            entry.stream,
            entry.id,
            {"size": truncated.decode(), "preview": "1", "deliveries": str(entry.deliveries)},
        )
    raw = entry.fields.get(b"event")
    if raw is None:
        return dead('entry has no "event" field')
    try:
        data = parse_event_json(raw, max_event_bytes)
    except Undecodable as exc:
        return dead(exc.reason, exc.errors)
    if not trusted:
        extra: dict[str, Any] = {"ingested_by": f"stream:{entry.stream}"}
        return _prepare_entry(entry, data, now, extra, max_skew, dead)
    received = now
    stamp = entry.fields.get(b"received_at")
    if stamp:
        try:
            received = parse_rfc3339(stamp.decode())
        except (ValueError, UnicodeDecodeError):
            return dead("received_at is not an RFC 3339 date-time")
    extra = {"ingested_by": entry.fields.get(b"ingested_by", b"anonymous").decode(errors="replace")}
    # the old API's own fields, set by the API: checked like everything else; "seed" is
    # their field's former name, still accepted from entries added before an upgrade
    legacy = entry.fields.get(b"legacy") or entry.fields.get(b"seed")
    if legacy:
        try:
            extra = {"legacy": LEGACY_FIELDS_SCHEMA.load(jsoncodec.loads(legacy)), **extra}
        except jsoncodec.JSONError:
            return dead("legacy fields are not valid JSON")
        except ValidationError as exc:
            return dead("invalid legacy fields", {"legacy": exc.messages})
    return _prepare_entry(entry, data, received, extra, max_skew, dead)


def _prepare_entry(
    entry: Entry,
    data: Any,
    received: datetime,
    extra: dict[str, Any],
    max_skew: timedelta,
    dead: Callable[[str, Any], DeadLetter],
) -> PreparedEvent | DeadLetter:
    def default_id() -> str:  # only for events that come without an id
        return derived_id(entry.stream, entry.id)

    try:
        return prepare(data, received, default_id, extra, max_skew)
    except ValidationError as exc:
        return dead("invalid event", exc.messages)


def from_job_item(
    item: Any,
    job_id: str,
    index: int,
    created_ms: int,
    now: datetime,
    max_event_bytes: int,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> PreparedEvent | DeadLetter:
    """Validate one event of an RQ job (``index`` is its place in the job's list)."""
    source_id = f"{job_id}/{index}"
    try:
        payload = orjson.dumps(item)
    except TypeError as exc:  # a type JSON has no word for, or nested past orjson's limit
        kept, extra = kept_payload(repr(item).encode(), max_event_bytes)
        reason = "too deep" if "recursion" in str(exc).lower() else "not JSON"
        return DeadLetter(kept, f"{reason}: {exc}", None, "rq", source_id, extra)

    event_id = uuid7(created_ms, f"rq/{source_id}".encode())  # if the item has none

    def dead(reason: str, errors: Any = None) -> DeadLetter:
        kept, extra = kept_payload(payload, max_event_bytes)
        # The id it would have had, so that a replay keeps its identity (the job's
        # creation time is not in the letter otherwise).
        extra["event_id"] = event_id
        return DeadLetter(kept, reason, errors, "rq", source_id, extra)

    if len(payload) > max_event_bytes:
        return dead(f"too large: {len(payload)} bytes, over the limit of {max_event_bytes}")
    if jsonscan.could_be_deeper(payload, MAX_EVENT_DEPTH):
        try:
            jsonscan.depth(payload, MAX_EVENT_DEPTH)
        except jsonscan.ShapeError:
            return dead(f"too deep: nested more than {MAX_EVENT_DEPTH} levels")
    try:
        return prepare(item, now, event_id, {"ingested_by": "rq"}, max_skew)
    except ValidationError as exc:
        return dead("invalid event", exc.messages)


def derived_id(stream: str, entry_id: str) -> str:
    """The id of an event that came without one in stream entry ``entry_id``: the same
    entry always derives the same id (a time-ordered UUIDv7 at the entry's time), so a
    redelivered or replayed entry is stored once."""
    return uuid7(int(entry_id.split("-", 1)[0]), f"{stream}/{entry_id}".encode())
