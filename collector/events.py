"""From raw input to an event ready to store: validate, fill defaults, serialize once.

Every ingest path (HTTP, stream, RQ) goes through :func:`prepare`, so an event
means the same thing whichever way it came in.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from marshmallow import ValidationError

from collector.schema import EVENT_SCHEMA, SCHEMA_VERSION, JsonObject
from collector.timefmt import format_given, format_utc, sort_key

# The stored field order: id, _HEAD, occurred_at, received_at, _TAIL, schema_version.
_HEAD = ("tenant", "type", "service")
_TAIL = ("actor", "target", "outcome", "request_id", "trace_id", "data")


def uuid7(ms: int | None = None, seed: bytes | None = None) -> str:
    """A time-ordered UUIDv7. With ``seed`` the random bits derive from it (deterministic)."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = hashlib.blake2b(seed, digest_size=10).digest() if seed is not None else os.urandom(10)
    r = int.from_bytes(rand, "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (r >> 68) << 64 | 0b10 << 62
    value |= r & 0x3FFF_FFFF_FFFF_FFFF
    # str(uuid.UUID(int=value)), without the object: a third of a batch's decoding time
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class PreparedEvent(NamedTuple):
    """A valid event in the shape the store script takes (a tuple: cheap to make)."""

    tenant: str
    id: str
    member: str  # index member: sortable time + id
    body: bytes  # stored JSON without its closing brace; the store appends ``,"seq":N}``
    indexed: tuple[tuple[str, str], ...]  # (field, value) pairs to index (not UNINDEXED)
    occurred_given: bool = True  # whether the producer sent occurred_at

    @property
    def document(self) -> dict[str, Any]:
        """The stored event without ``seq`` (for tests and previews)."""
        document: dict[str, Any] = orjson.loads(self.body + b"}")
        return document


# How far ``occurred_at`` may be ahead of ``received_at`` (AUDIT_MAX_CLOCK_SKEW_S): an
# event dated in the future would sort above every real one in "newest first" forever.
DEFAULT_MAX_SKEW = timedelta(seconds=300)


def _forget_frames(exc: BaseException | None) -> None:
    """Drop the tracebacks of an error and of the errors it came from.

    marshmallow raises from frames that hold the error in a local, and an error's
    traceback holds those frames (with the event in their locals): cycles that only a
    full garbage collection frees. Cut, an invalid event is freed at once rather than
    after a whole batch of them has piled up.
    """
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def validate(
    raw: Any, received_at: datetime | None = None, max_skew: timedelta = DEFAULT_MAX_SKEW
) -> dict[str, Any]:
    """Load ``raw`` with the v1 schema, and ``occurred_at`` no more than ``max_skew`` after
    ``received_at`` (when given); raises marshmallow's ValidationError."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["An event must be a JSON object."]})
    messages = None
    try:
        loaded: dict[str, Any] = EVENT_SCHEMA.load(raw)
    except ValidationError as exc:
        messages = exc.messages
        _forget_frames(exc)
    if messages is not None:
        raise ValidationError(messages)
    occurred = loaded.get("occurred_at")
    if received_at is not None and occurred is not None and occurred - received_at > max_skew:
        seconds = int(max_skew.total_seconds())
        raise ValidationError(
            {"occurred_at": [f"Must be at most {seconds} s after the time it was received."]}
        )
    return loaded


def stored_document(
    loaded: dict[str, Any],
    received_at: datetime,
    default_id: str | None = None,
    extra: dict[str, Any] | None = None,
    given_occurred: object = None,
) -> tuple[dict[str, Any], datetime]:
    """The stored shape (without ``seq``) of a loaded event, and its ``occurred_at``
    (``given_occurred``: the text it was loaded from, when at hand)."""
    occurred: datetime = loaded.get("occurred_at") or received_at
    received = format_utc(received_at)
    doc: dict[str, Any] = {"id": loaded.get("id") or default_id or uuid7()}
    for name in _HEAD:
        if name in loaded:
            doc[name] = loaded[name]
    doc["occurred_at"] = (
        received if occurred is received_at else format_given(occurred, given_occurred)
    )
    doc["received_at"] = received
    for name in _TAIL:
        if name in loaded:
            doc[name] = loaded[name]
    doc["schema_version"] = SCHEMA_VERSION
    if extra:
        doc.update(extra)
    return doc, occurred


def prepare(
    raw: Any,
    received_at: datetime,
    default_id: str | Callable[[], str] | None = None,
    extra: dict[str, Any] | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> PreparedEvent:
    """Validate ``raw`` and build what the store needs. Raises ValidationError.

    ``default_id`` is the id used when the event has none (or a function making it,
    called only then); paths that may deliver the same input twice (stream, RQ) derive
    it from the delivery so that a redelivery is stored once. ``extra`` adds trusted,
    server-side fields (the legacy API's own fields).
    """
    loaded = validate(raw, received_at, max_skew)
    if callable(default_id):
        default_id = None if loaded.get("id") else default_id()
    given = raw.get("occurred_at")
    doc, occurred = stored_document(loaded, received_at, default_id, extra, given)
    event_id: str = doc["id"]
    index = index_of(doc)
    if doc["outcome"] == UNINDEXED[1]:
        index = tuple(pair for pair in index if pair != UNINDEXED)
    data = doc.get("data")
    if type(data) is JsonObject:  # already serialized by the schema: do not dump it again
        doc["data"] = orjson.Fragment(data.json)
    return PreparedEvent(
        tenant=doc["tenant"],
        id=event_id,
        member=f"{sort_key(occurred)}|{event_id}",
        body=orjson.dumps(doc)[:-1],
        indexed=index,
        occurred_given="occurred_at" in loaded,
    )


# The fields GET /v1/events filters on through an index; index_of reads them from an event.
INDEXED_FIELDS = ("service", "type", "actor_id", "target_id", "outcome")
# Most events succeed: a set of them would cost as much as the time index (~150 bytes
# and a sorted-set insert per event) to answer what "in neither the failure nor the
# unknown set" answers as cheaply. Stores written before this kept one; it is unused.
UNINDEXED = ("outcome", "success")


# Set by the service, never by a producer: not part of what a conflict compares.
SERVER_SET = frozenset({"received_at", "schema_version", "seq", "ingested_by"})


def differing_fields(stored: dict[str, Any], delivered: PreparedEvent) -> list[str]:
    """The producer-sent fields in which a delivery differs from the stored event of its
    id; ``occurred_at`` only when both carry one (a stored event whose ``occurred_at`` is
    its ``received_at`` is taken to have come without one)."""
    new = delivered.document
    names = (set(stored) | set(new)) - SERVER_SET - {"occurred_at"}
    differ = sorted(name for name in names if stored.get(name) != new.get(name))
    stored_given = stored.get("occurred_at") != stored.get("received_at")
    if stored_given and delivered.occurred_given and stored["occurred_at"] != new["occurred_at"]:
        differ.append("occurred_at")
    return differ


def index_of(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (field, value) index entries of an event in its stored shape (INDEXED_FIELDS;
    ``target_id`` only when there is a target)."""
    index = (
        ("service", doc["service"]),
        ("type", doc["type"]),
        ("actor_id", doc["actor"]["id"]),
        ("outcome", doc["outcome"]),
    )
    target = doc.get("target")
    return (*index, ("target_id", target["id"])) if target else index


def normalized_input(
    raw: Any,
    received_at: datetime,
    default_tenant: str = "default",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> dict[str, Any]:
    """The event as a producer would send it, with ``id`` and ``tenant`` set.

    The API validates and fills these before it hands the event to the stream, so that
    the id it answers with is the id the worker stores. ``occurred_at`` is left as sent:
    the worker defaults it to ``received_at``, and a later delivery of the same id is
    compared on it only when both carry one. Raises ValidationError.
    """
    if isinstance(raw, dict) and "tenant" not in raw:
        raw = {**raw, "tenant": default_tenant}
    loaded = validate(raw, received_at, max_skew)
    out = dict(raw)
    out["id"] = loaded.get("id") or uuid7()
    out["tenant"] = loaded["tenant"]
    return out
