"""The dead letters as an operator sees them: list, show, replay, drop.

A dead letter is an entry of the dead-letter stream (see ``collector.streams``):
the payload as it came, the reason, the source stream or queue and entry.

Replay puts the payload back on the ingest stream with its original identity: an
event that came without an ``id`` gets the id its first delivery derived, so if it
was stored in the meantime (a delivery-limit letter whose store had in fact
succeeded) it is not stored twice. The payload is validated first, exactly as the
worker will: one that is still invalid is not sent, stays a dead letter (just the
one), and is never stored. A dead letter is removed only after its ``XADD`` has
succeeded; a crash in between leaves both, and replaying again adds nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
import redis

from collector import jsoncodec
from collector.keys import KeyNames
from collector.queue_input import derived_id, from_entry
from collector.settings import Settings
from collector.streams import DeadLetter, Entry, IngestStreams

# Fields of a dead-letter entry with a meaning of their own; any other is shown as is.
_KNOWN = ("event", "reason", "source", "source_id", "failed_at", "errors", "deliveries")
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_UINT64 = 2**64 - 1


def is_entry_id(value: str) -> bool:
    """Whether ``value`` is a stream entry id Redis accepts (two 64-bit unsigned numbers)."""
    if not _ENTRY_ID.match(value):
        return False
    ms, seq = value.split("-")
    return int(ms) <= _UINT64 and int(seq) <= _UINT64


PREVIEW_CHARS = 120


def _text(value: bytes | str) -> str:
    # Payloads may be any bytes (not UTF-8 is one reason to be a dead letter).
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class DeadLetterRecord:
    """One dead letter as read back."""

    id: str
    failed_at: str
    reason: str
    source: str
    source_id: str
    payload: bytes
    errors: Any
    deliveries: int | None
    extra: dict[str, str]

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetterRecord:
        got = {_text(k): v for k, v in fields.items()}
        errors = got.get("errors")
        deliveries = got.get("deliveries")
        return cls(
            id=_text(entry_id),
            failed_at=_text(got.get("failed_at", b"")),
            reason=_text(got.get("reason", b"")),
            source=_text(got.get("source", b"")),
            source_id=_text(got.get("source_id", b"")),
            payload=got.get("event", b""),
            errors=orjson.loads(errors) if errors else None,
            deliveries=int(deliveries) if deliveries and deliveries.isdigit() else None,
            extra={k: _text(v) for k, v in got.items() if k not in _KNOWN},
        )

    def preview(self, chars: int = PREVIEW_CHARS) -> str:
        """The payload's first characters, on one line."""
        text = _text(self.payload).replace("\n", " ")
        return text if len(text) <= chars else text[: chars - 1] + "~"

    def summary(self) -> dict[str, Any]:
        """What ``dead list`` shows."""
        return {
            "id": self.id,
            "failed_at": self.failed_at,
            "reason": self.reason,
            "source": self.source,
            "source_id": self.source_id,
            "preview": self.preview(),
        }

    def to_dict(self) -> dict[str, Any]:
        """What ``dead show`` shows: everything, the payload as text."""
        return {
            **self.summary(),
            "payload": _text(self.payload),
            "errors": self.errors,
            "deliveries": self.deliveries,
            **self.extra,
        }


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did. ``status``: ``replayed``, ``would replay`` (dry run),
    ``still invalid`` (kept as a dead letter), or ``not found``."""

    id: str
    status: str
    event_id: str | None = None
    entry_id: str | None = None
    reason: str | None = None
    errors: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class DeadLetters:
    """Read and act on the dead-letter stream."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames, settings: Settings) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.settings = settings
        self.streams = IngestStreams(redis_client, key_names)

    def count(self) -> int:
        return int(self.redis.xlen(self.key_names.dead))

    def list(self, limit: int = 100, before: str | None = None) -> list[DeadLetterRecord]:
        """Newest first; ``before`` (an id from a previous call) continues after it."""
        high = f"({before}" if before and is_entry_id(before) else "+"
        rows = cast(
            list[tuple[bytes, dict[bytes, bytes]]],
            self.redis.xrevrange(self.key_names.dead, high, "-", count=limit),
        )
        return [DeadLetterRecord.from_entry(i, f) for i, f in rows]

    def get(self, letter_id: str) -> DeadLetterRecord | None:
        if not is_entry_id(letter_id):
            return None
        rows = cast(
            list[tuple[bytes, dict[bytes, bytes]]],
            self.redis.xrange(self.key_names.dead, letter_id, letter_id),
        )
        return DeadLetterRecord.from_entry(*rows[0]) if rows else None

    def all_ids(self, page: int = 500) -> Iterator[str]:
        """Every dead letter's id, oldest first, in pages (safe to delete while walking)."""
        low = "-"
        while True:
            rows = cast(
                list[tuple[bytes, Any]],
                self.redis.xrange(self.key_names.dead, low, "+", count=page),
            )
            for entry_id, _ in rows:
                yield _text(entry_id)
            if len(rows) < page:
                return
            low = "(" + _text(rows[-1][0])

    def drop(self, letter_id: str) -> bool:
        """Delete one dead letter; False if there was none with that id."""
        if not is_entry_id(letter_id):
            return False
        return bool(self.redis.xdel(self.key_names.dead, letter_id))

    def replay(self, letter_id: str, now: datetime, dry_run: bool = False) -> ReplayResult:
        """Validate the payload as the worker will, then put it back on the ingest stream
        and remove the dead letter (in that order)."""
        letter = self.get(letter_id)
        if letter is None:
            return ReplayResult(letter_id, "not found")
        payload = letter.payload
        try:
            event = jsoncodec.loads(payload)
        except jsoncodec.JSONError:
            event = None  # validation below says why
        if isinstance(event, dict):
            if not event.get("id"):
                event["id"] = self._original_id(letter)
            payload = orjson.dumps(event)
        # The worker's own validation, as a first delivery (its id is set by now).
        entry = Entry(self.key_names.dead, letter.id, {b"event": payload})
        limits = self.settings
        outcome = from_entry(entry, now, limits.max_deliveries, limits.max_event_bytes)
        if isinstance(outcome, DeadLetter):
            return ReplayResult(
                letter_id, "still invalid", reason=outcome.reason, errors=outcome.errors
            )
        if dry_run:
            return ReplayResult(letter_id, "would replay", outcome.id)
        [entry_id] = self.streams.add([event], {"replay_of": letter_id}, [payload])
        self.redis.xdel(self.key_names.dead, letter_id)  # only once the XADD succeeded
        return ReplayResult(letter_id, "replayed", outcome.id, entry_id)

    def _original_id(self, letter: DeadLetterRecord) -> str:
        """The id the first delivery gave an event that came without one.

        A stream entry's is derived from the entry (as the worker does); an RQ item's
        from its job, recorded in the letter as ``event_id``. Failing both, one is
        derived from the letter itself, so replaying it twice still gives one id.
        """
        if letter.source in self.streams.streams and is_entry_id(letter.source_id):
            return derived_id(letter.source, letter.source_id)
        return letter.extra.get("event_id") or derived_id(self.key_names.dead, letter.id)
