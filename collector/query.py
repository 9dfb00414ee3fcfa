"""Filtered, ordered, paginated reads over one tenant's indexes.

Pagination is by key (the last index member seen), not by offset, so walking the
cursors returns every matching event exactly once even while new ones arrive.

A list with field filters walks their posting lists (:mod:`collector.postings`); one
with none but ``since``/``until`` walks the time index through ``query.lua``, each call
examining at most ``SCAN_BUDGET`` members and returning at most ``CALL_ITEMS`` events.
Either way the work of one page is bounded: it stops once it has examined
``PAGE_BUDGET`` members that do not match (or spent ``PAGE_TIME_BUDGET_S`` mostly on
such members); work that finds matches is O(page) and always completes the page.
Filters whose lists share few or no events (``type`` plus ``outcome=failure`` for a
type that never fails) would otherwise walk them whole; instead the page comes back
short, even empty, with a ``next_cursor`` that resumes the walk where it stopped.
Only a ``null`` ``next_cursor`` says that no match is left.
A cursor records a fingerprint of the filters and order it was made for; using it
with others is a 400, never a silent restart. Cursors are signed
(:mod:`collector.cursors`): one this service did not make is a 400 too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
import redis
from marshmallow import RAISE, Schema, ValidationError
from marshmallow import fields as mf

from collector import scripts
from collector.cursors import CursorSigner
from collector.errors import BadRequest
from collector.events import INDEXED_FIELDS, UNINDEXED, index_of
from collector.keys import KeyNames
from collector.postings import Bounds, PostingWalk, event_id_of
from collector.schema import (
    EVENT_ID_RULE,
    NAME_PATTERN,
    OUTCOMES,
    TENANT_PATTERN,
    TENANT_RULE,
    Choice,
    Pattern,
    Text,
    Timestamp,
)
from collector.scripts import ScriptCall
from collector.sequence import SeqReader
from collector.store import Store
from collector.timefmt import sort_key

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Index members one script call examines at most, so that no call blocks Redis for more
# than a few ms (a member costs 4-8 us at a million events: 2,000 made calls of up to
# 8 ms there, 1,000 of up to 5 ms at 300,000; docs/benchmarks.md).
SCAN_BUDGET = 500
# Non-matching members one page of a filtered list examines at most, and the time after
# which it reads no further window while mostly meeting those: a request answers within
# ~20 ms whatever its filters.
PAGE_BUDGET = 8_000
# Events one script call returns at most: a limit=1000 page takes five calls, none long.
CALL_ITEMS = 250
PAGE_TIME_BUDGET_S = 0.008
# Bytes of events one page holds at most (past its first call): a page of large events
# stops early and hands a next_cursor, so the API never builds a huge reply.
PAGE_BYTES = 4 * 1024 * 1024


class ListQuerySchema(Schema):
    """Query parameters of ``GET /v1/events``."""

    class Meta:
        unknown = RAISE

    tenant = Pattern(TENANT_PATTERN, TENANT_RULE)
    service = Text(max_len=128)
    type = Pattern(NAME_PATTERN, EVENT_ID_RULE)
    actor_id = Text()
    target_id = Text()
    outcome = Choice(OUTCOMES)
    since = Timestamp(metadata={"description": "Inclusive lower bound on occurred_at."})
    until = Timestamp(metadata={"description": "Exclusive upper bound on occurred_at."})
    limit = mf.Integer(
        load_default=DEFAULT_LIMIT,
        strict=False,
        validate=lambda n: 1 <= n <= MAX_LIMIT or _fail(f"Must be 1-{MAX_LIMIT}."),
        metadata={"minimum": 1, "maximum": MAX_LIMIT},
    )
    order = Choice(("desc", "asc"), load_default="desc")
    cursor = Text(metadata={"description": "Opaque, from next_cursor."})
    after_seq = mf.Integer(
        strict=False,
        validate=lambda n: n >= 0 or _fail("Must be 0 or more."),
        metadata={
            "minimum": 0,
            "description": "List in persistence order: the tenant's events with a greater "
            "seq, oldest first (order=asc is implied; order=desc is a 400). A poller that "
            "keeps the last seq it saw never misses a late event with an old occurred_at.",
        },
    )


def _fail(message: str) -> bool:
    raise ValidationError(message)


LIST_QUERY_SCHEMA = ListQuerySchema()


@dataclass(frozen=True)
class Filters:
    """What a list asks for (everything but the page size and position)."""

    tenant: str = "default"
    service: str | None = None
    type: str | None = None
    actor_id: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order: str = "desc"
    after_seq: int | None = None  # set: persistence order (seq), ascending

    @classmethod
    def from_args(cls, args: Mapping[str, Any], default_tenant: str = "default") -> Filters:
        """From loaded :class:`ListQuerySchema` values (extra keys are ignored)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in args.items() if k in names and v is not None}
        values.setdefault("tenant", default_tenant)
        return cls(**values)

    def index_fields(self) -> list[tuple[str, str]]:
        return [
            (name, value) for name in INDEXED_FIELDS if (value := getattr(self, name)) is not None
        ]

    def fingerprint(self) -> str:
        """A short digest of the filters and order; cursors carry it."""
        parts = [f"{f.name}={getattr(self, f.name)!s}" for f in fields(self)]
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def load_args(schema: Schema, args: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters loaded by ``schema``; raises BadRequest. A parameter given twice is
    an error, not silently the first of the two."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        repeated = {k: ["Given more than once."] for k in args if len(getlist(k)) > 1}
        if repeated:
            raise BadRequest("Invalid query parameters.", errors=repeated)
    try:
        return dict(schema.load(dict(args)))
    except ValidationError as exc:
        raise BadRequest("Invalid query parameters.", errors=exc.messages) from None


def parse_list_args(
    args: Mapping[str, Any], default_tenant: str = "default"
) -> tuple[Filters, int, str | None]:
    """Validate raw query parameters: (filters, limit, cursor). Raises BadRequest."""
    loaded = load_args(LIST_QUERY_SCHEMA, args)
    if "after_seq" in loaded:
        if args.get("order") == "desc":
            message = "after_seq lists in persistence order, oldest first: use order=asc."
            raise BadRequest(message, errors={"order": [message]})
        loaded["order"] = "asc"
    return Filters.from_args(loaded, default_tenant), loaded["limit"], loaded.get("cursor")


def encode_cursor(
    signer: CursorSigner, filters: Filters, member: str | None = None, seq: int | None = None
) -> str:
    """A signed cursor resuming after an index member (time order) or a seq (persistence
    order)."""
    position = {"m": member} if seq is None else {"s": seq}
    return signer.sign(orjson.dumps({"v": 1, "f": filters.fingerprint(), **position}))


def _position(signer: CursorSigner, filters: Filters, cursor: str) -> Any:
    """What a cursor made for ``filters`` resumes after (its "s" or "m"). Raises BadRequest:
    for a cursor this service did not make (signed: :mod:`collector.cursors`) too."""
    field = "s" if filters.after_seq is not None else "m"
    payload = orjson.loads(signer.verify(cursor))  # signed by us: well-formed JSON
    try:
        position, fingerprint = payload[field], payload["f"]
        if payload.get("v") != 1 or not _valid_position(filters, position):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Malformed cursor.", errors={"cursor": ["Malformed cursor."]}) from None
    if fingerprint != filters.fingerprint():
        raise BadRequest(
            "This cursor was made for other filters or another order.",
            errors={"cursor": ["Made for other filters or another order."]},
        )
    return position


def _valid_position(filters: Filters, position: Any) -> bool:
    if filters.after_seq is not None:
        return type(position) is int and position >= filters.after_seq
    return isinstance(position, str) and "|" in position


def decode_cursor(signer: CursorSigner, filters: Filters, cursor: str) -> str:
    """The index member a time-order cursor resumes after. Raises BadRequest."""
    return str(_position(signer, filters, cursor))


def decode_seq_cursor(signer: CursorSigner, filters: Filters, cursor: str) -> int:
    """The seq a persistence-order cursor resumes after. Raises BadRequest."""
    return int(_position(signer, filters, cursor))


@dataclass(frozen=True)
class Page:
    """One page of stored events, as the stored JSON bytes."""

    items: list[bytes]
    next_cursor: str | None

    def to_json(self) -> bytes:
        """``{"items": [...], "next_cursor": ...}`` without re-encoding the events."""
        cursor = orjson.dumps(self.next_cursor)
        return b'{"items":[' + b",".join(self.items) + b'],"next_cursor":' + cursor + b"}"


class Query:
    """Runs lists against the store's indexes."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.store = Store(redis_client, key_names)
        self.codec = self.store.codec
        self.cursors = CursorSigner(redis_client, key_names.secret("cursor"))
        self.by_seq = SeqReader(redis_client, key_names)

    def page(self, filters: Filters, limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page:
        """One page; ``next_cursor`` is None when no match is left."""
        if filters.after_seq is not None:
            return self._page_by_seq(filters, limit, cursor)
        after = None if cursor is None else decode_cursor(self.cursors, filters, cursor)
        if filters.index_fields():
            return self._page_by_lists(filters, limit, after)
        return self._page_by_time(filters, limit, after)

    def _page_by_lists(self, filters: Filters, limit: int, after: str | None) -> Page:
        """A page of a list with filters, from their posting lists (``collector.postings``)."""
        bounds = Bounds(
            lo=sort_key(filters.since).encode() if filters.since else None,
            hi=sort_key(filters.until).encode() if filters.until else None,
        )
        if after is not None:
            if filters.order == "asc":
                bounds.lo, bounds.lo_open = after.encode(), True
            else:
                bounds.hi = after.encode()
        pairs = filters.index_fields()
        excluded = []
        if UNINDEXED in pairs:  # outcome=success: neither failure nor unknown
            excluded = [(UNINDEXED[0], o) for o in OUTCOMES if o != UNINDEXED[1]]
        required = [pair for pair in pairs if pair != UNINDEXED]
        # bodies read by the walk to check a filter on, by member: the page reuses them
        bodies: dict[bytes, bytes | None] = {}

        def indexes_of(members: list[bytes]) -> list[set[tuple[str, str]] | None]:
            raws = self.store.get_raw_many(filters.tenant, [event_id_of(m) for m in members])
            bodies.update(zip(members, raws, strict=True))
            return [set(index_of(orjson.loads(raw))) if raw else None for raw in raws]

        walk = PostingWalk(
            self.redis,
            self.key_names,
            filters.tenant,
            required,
            excluded,
            filters.order,
            bounds,
            indexes_of=indexes_of,
        )
        result = walk.run(limit + 1, PAGE_BUDGET, PAGE_TIME_BUDGET_S)
        members: list[str] = []
        docs: list[bytes] = []
        read = 0  # members whose bodies were read
        while read < len(result.members) and sum(map(len, docs)) < PAGE_BYTES:
            chunk = result.members[read : read + CALL_ITEMS]
            read += len(chunk)
            unread = [m for m in chunk if m not in bodies]
            raws = self.store.get_raw_many(filters.tenant, [event_id_of(m) for m in unread])
            bodies.update(zip(unread, raws, strict=True))
            for member in chunk:  # an index entry whose event is gone (mid-purge) is skipped
                if (body := bodies[member]) is not None:
                    members.append(member.decode())
                    docs.append(body)
        if not result.done and len(result.members) <= limit and read == len(result.members):
            # the walk stopped on its budget: the page is what it found, and the next one
            # resumes where it stopped (past members that do not match)
            return Page(docs, encode_cursor(self.cursors, filters, result.position.decode()))
        exhausted = result.done and read == len(result.members)
        last = result.members[read - 1].decode() if read else ""
        return self._finish(filters, limit, members, docs, exhausted, last)

    def _page_by_time(self, filters: Filters, limit: int, after: str | None) -> Page:
        """A page of a list with no filter but time, from the time index (query.lua)."""
        lo = "[" + sort_key(filters.since) if filters.since else "-"
        hi = "(" + sort_key(filters.until) if filters.until else "+"
        if after is not None:
            if filters.order == "asc":
                lo = "(" + after
            else:
                hi = "(" + after
        keys = [self.key_names.events(filters.tenant), self.key_names.time_index(filters.tenant)]
        members: list[str] = []
        docs: list[bytes] = []
        size = 0
        want = limit + 1  # one more than asked, to know whether a next page exists
        while True:
            call_items = min(want - len(members), CALL_ITEMS)
            args = [filters.order, lo, hi, call_items, SCAN_BUDGET]
            result = scripts.run(self.redis, ScriptCall("query", keys, args))
            done, rest = int(result[0]), result[3:]
            last = result[1].decode()
            # an index entry whose event is gone (mid-purge) is skipped
            found = [(m, doc) for m, doc in zip(rest[::2], rest[1::2], strict=True) if doc]
            bodies = self.codec.decode_many(filters.tenant, [doc for _, doc in found])
            for (member, _), body in zip(found, bodies, strict=True):
                members.append(member.decode())
                docs.append(body)
                size += len(body)
            if size >= PAGE_BYTES or done or len(members) >= want:
                break
            if filters.order == "asc":
                lo = "(" + last
            else:
                hi = "(" + last
        return self._finish(filters, limit, members, docs, bool(done), last)

    def _finish(
        self,
        filters: Filters,
        limit: int,
        members: list[str],
        docs: list[bytes],
        exhausted: bool,
        last: str,
    ) -> Page:
        """The page of the first ``limit`` events found, cut at the byte budget, with a
        cursor unless the walk is ``exhausted`` and every event found is on the page
        (``last``: the last member examined, for a walk that found only missing bodies)."""
        total, keep = 0, 0
        while keep < len(docs) and keep < limit and total < PAGE_BYTES:
            total += len(docs[keep])
            keep += 1
        if keep == len(docs) and exhausted:
            return Page(docs, None)
        resume = members[keep - 1] if keep else last
        return Page(docs[:keep], encode_cursor(self.cursors, filters, resume))

    def _page_by_seq(self, filters: Filters, limit: int, cursor: str | None) -> Page:
        """A page in persistence order (the seq index), after ``filters.after_seq``."""
        assert filters.after_seq is not None
        after = (
            filters.after_seq
            if cursor is None
            else decode_seq_cursor(self.cursors, filters, cursor)
        )
        found, resume = self.by_seq.page(filters, after, limit)
        next_cursor = None if resume is None else encode_cursor(self.cursors, filters, seq=resume)
        return Page([raw for _, raw in found], next_cursor)

    def iterate(self, filters: Filters, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every matching event, as dicts, walking the cursors."""
        cursor = None
        while True:
            page = self.page(filters, page_size, cursor)
            for raw in page.items:
                yield orjson.loads(raw)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
