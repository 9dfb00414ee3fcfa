"""Filter indexes as posting lists, and the bounded walk that answers filtered lists.

An event's index member (``<18-digit µs since 0001-01-01>|<id>``, ``collector.events``)
is appended, with a newline, to one string per filter value and time bucket of its
``occurred_at`` (``KeyNames.posting_list``). Strings, not sorted sets: inserting into a
sorted set of a million members costs Redis several µs of cache misses per member, and
an event has four or five filter values; an ``APPEND`` costs a fraction of that, and the
store script appends all of a batch's members of one list at once (docs/design.md).

The order is restored when a list is read: a bucket's list is sorted by the reader, so a
bucket stays small: an hour for the fields with few values (``service``, ``type``,
``outcome``), a day for those with many (``actor_id``, ``target_id``), whose hourly lists
would mostly be keys of one member. ``outcome=success`` (most events) has no list: it is
"neither failure nor unknown".

:class:`PostingWalk` answers one page of a filtered list: it goes window by window
(whole hours) from its position toward the end of the range. Each window is sized
beforehand with ``STRLEN`` (O(1) a list; one round trip for 8 hours of lists, more when
that is not enough, up to a week, or a month of daily ones) so that it holds about what
the page still needs, and its shortest list at most ``WINDOW_BYTES``. That list is read
whole, and of the others only the buckets holding its members; the members found in all
of them and in none of the lists a match must not be in are sorted. A window with no
list at all jumps over the tenant's own gaps through the time index. Its work per page
is bounded like the time-index script's (``collector.query``): it stops after a budget
of members examined that did not match, or after a time budget, and hands back where it
stopped.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import redis

from collector.keys import KeyNames

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
# The bucket width of each indexed field's lists (µs).
BUCKET_US = {
    "service": HOUR_US,
    "type": HOUR_US,
    "outcome": HOUR_US,
    "actor_id": DAY_US,
    "target_id": DAY_US,
}
SEPARATOR = b"\n"
# A window spans at most a week (a month when every filter has daily lists)...
MAX_WINDOW_HOURS = 24 * 7
MAX_DAILY_WINDOW_HOURS = 24 * 31
# ...and its shortest list holds at most this many bytes (~9,000 members), unless it is
# one hour: a page never sorts a week of a busy value.
WINDOW_BYTES = 512 * 1024
MEMBER_BYTES = 57  # a member with a 36-character id, and its newline
BODY_BYTES = 1_024  # what reading one event's body costs, counted in bytes of lists
# Time-index members one step of an exclusion-only walk (``outcome=success`` alone) reads.
TIME_CHUNK = 1_000
# After a sorted list's last member at a given µs: no id has a byte above "~".
AFTER_IDS = b"|~"


def micros_of(member: str | bytes) -> int:
    """The µs since 0001-01-01 an index member starts with."""
    return int(member[:18])


def event_id_of(member: bytes) -> bytes:
    """The event id an index member ends with."""
    return member[member.index(b"|") + 1 :]


def buckets_of(pairs: Iterable[tuple[str, str]], micros: int) -> list[tuple[str, int, str]]:
    """(field, bucket, value) of each (field, value) an event with this ``occurred_at`` is
    listed under."""
    return [(name, micros // BUCKET_US[name], value) for name, value in pairs]


def members_of(value: bytes | None) -> list[bytes]:
    """A posting list's members, sorted, each once (a list migrated twice repeats some)."""
    if not value:
        return []
    return sorted(set(value.split(SEPARATOR)) - {b""})


def _key_bound(micros: int) -> bytes:
    return b"%018d" % micros


@dataclass
class Bounds:
    """Which members a walk may return: ``lo`` (inclusive unless ``lo_open``) and ``hi``
    (exclusive), compared as bytes like the time index's lexicographic ranges."""

    lo: bytes | None = None
    lo_open: bool = False
    hi: bytes | None = None

    def lowest(self) -> int:
        """The lowest µs a member may have (``lo`` must be set): past a position after every
        member of a µs (``...|~``), the next."""
        assert self.lo is not None
        micros = micros_of(self.lo)
        return micros + 1 if self.lo_open and self.lo.endswith(AFTER_IDS) else micros

    def highest(self) -> int:
        """The highest µs a member may have (``hi`` must be set): below a bare time or a
        position before every member of a µs (``...|``), the one before."""
        assert self.hi is not None
        micros = micros_of(self.hi)
        return micros - 1 if len(self.hi) <= 19 else micros

    def admits(self, member: bytes) -> bool:
        if self.lo is not None and (member <= self.lo if self.lo_open else member < self.lo):
            return False
        return self.hi is None or member < self.hi


@dataclass
class WalkResult:
    """Matches in walk order, whether nothing is left, and where to resume otherwise
    (an exclusive bound: a member, or a boundary between two hours)."""

    members: list[bytes]
    done: bool
    position: bytes


@dataclass
class PostingWalk:
    """One page's walk over a tenant's posting lists (see the module's docstring)."""

    redis: redis.Redis
    key_names: KeyNames
    tenant: str
    required: Sequence[tuple[str, str]]  # (field, value) lists a match must be in
    excluded: Sequence[tuple[str, str]]  # lists a match must not be in
    order: str
    bounds: Bounds
    # the (field, value) pairs of the events of these members (None: gone), read from their
    # bodies: a filter whose lists would cost more bytes than the bodies is checked so
    indexes_of: Callable[[list[bytes]], list[set[tuple[str, str]] | None]] | None = None
    _lists: dict[str, list[bytes]] = field(default_factory=dict)
    _sets: dict[str, set[bytes]] = field(default_factory=dict)
    _bytes: dict[str, int] = field(default_factory=dict)
    examined: int = 0

    def run(self, want: int, budget: int, seconds: float) -> WalkResult:
        """Up to ``want`` matches; stops early once more than ``budget`` members examined
        did not match, or ``seconds`` went mostly on such members."""
        if not self.required:
            return self._run_on_time_index(want, budget, seconds)
        return self._run_on_lists(want, budget, seconds)

    # -- walking required lists -------------------------------------------------------
    def _run_on_lists(self, want: int, budget: int, seconds: float) -> WalkResult:
        span = self._tenant_span()
        if span is None:
            return WalkResult([], True, b"")
        first, last = span
        lo = max(first, self.bounds.lowest()) if self.bounds.lo else first
        hi = min(last, self.bounds.highest()) if self.bounds.hi else last
        desc = self.order == "desc"
        found: list[bytes] = []
        started = time.monotonic()
        # the next window starts (asc) or ends (desc) at the hour holding `edge`
        edge = hi if desc else lo
        while lo <= edge <= hi:
            hours = self._plan(edge, lo, hi, want - len(found), desc)
            if desc:
                w_hi = (edge // HOUR_US + 1) * HOUR_US
                w_lo = max(w_hi - hours * HOUR_US, lo // HOUR_US * HOUR_US)
            else:
                w_lo = edge // HOUR_US * HOUR_US
                w_hi = min(w_lo + hours * HOUR_US, (hi // HOUR_US + 1) * HOUR_US)
            matches, any_list = self._window(w_lo, w_hi)
            self.examined += 1  # a window costs round trips, matching or not
            need = want - len(found)
            if len(matches) >= need:
                found += matches[:need]
                return WalkResult(found, False, found[-1])
            found += matches
            position = _key_bound(w_lo) + b"|" if desc else _key_bound(w_hi - 1) + AFTER_IDS
            edge = w_lo - 1 if desc else w_hi
            if not any_list:  # nothing of any filter here: skip the tenant's own gap
                edge = self._next_stored(position, desc)
            wasted = self.examined - len(found)
            spent = time.monotonic() - started
            if lo <= edge <= hi and (
                wasted >= budget or (spent >= seconds and wasted > len(found))
            ):
                return WalkResult(found, False, position)
        return WalkResult(found, True, b"")

    def _plan(self, edge: int, lo: int, hi: int, need: int, desc: bool) -> int:
        """How many hours the next window spans, from the hour holding ``edge``: sized with
        STRLEN over a horizon of 8 hours, then 32, then a week (a month when every filter
        has daily lists), one round trip each, it ends once each filter's lists hold about
        twice the bytes of the members still needed, or before its shortest would pass
        ``WINDOW_BYTES``."""
        # every filter is sized: an actor's daily lists are not always the shortest (a rare
        # type's hourly ones can be), and walking the wrong one reads many times the lists
        daily = all(BUCKET_US[name] == DAY_US for name, _ in self.required)
        first = edge // HOUR_US
        step = -1 if desc else 1
        left = abs(first - (lo // HOUR_US if desc else hi // HOUR_US)) + 1
        widest = min(MAX_DAILY_WINDOW_HOURS if daily else MAX_WINDOW_HOURS, left)
        target = need * 2 * MEMBER_BYTES
        hours_in = [BUCKET_US[name] // HOUR_US for name, _ in self.required]
        for count in sorted({min(8, widest), min(32, widest), widest}):
            keys = [
                [self._bucket_key(name, value, (first + step * n) * HOUR_US) for n in range(count)]
                for name, value in self.required
            ]
            sizes = self._sizes([key for row in keys for key in row])
            held = [0.0] * len(keys)
            for n in range(count):
                for i, row in enumerate(keys):
                    held[i] += sizes[row[n]] / hours_in[i]  # a daily list: a 24th an hour
                smallest = min(held)
                if smallest > WINDOW_BYTES and n > 0:
                    return n
                if smallest >= target:
                    return n + 1
        return widest

    def _window(self, w_lo: int, w_hi: int) -> tuple[list[bytes], bool]:
        """The matches in [w_lo, w_hi) µs, in walk order, and whether any required list had
        a bucket there. The list with the fewest bytes in the window (STRLEN: O(1), mostly
        known from planning) is read whole; of the others, only the buckets holding its
        members."""
        keys_by_filter = [
            self._bucket_keys(name, value, w_lo, w_hi) for name, value in self.required
        ]
        sizes = self._sizes([key for keys in keys_by_filter for key in keys])
        totals = [sum(sizes[key] for key in keys) for keys in keys_by_filter]
        any_list = any(totals)
        if not all(totals):
            return [], any_list
        walk_at = totals.index(min(totals))
        self._fetch(keys_by_filter[walk_at])
        low, high = _key_bound(w_lo), _key_bound(w_hi)
        walk: list[bytes] = []
        for key in keys_by_filter[walk_at]:
            bucket = self._lists[key]
            walk += bucket[bisect_left(bucket, low) : bisect_left(bucket, high)]
        self.examined += len(walk)
        matches = [m for m in walk if self.bounds.admits(m)]
        others = [pair for i, pair in enumerate(self.required) if i != walk_at]
        for pair in others:
            if self.indexes_of is not None and self._cheaper_by_bodies(matches, pair):
                matches = self._kept_by_bodies(matches, pair)
            else:
                matches = self._kept(matches, [pair], keep=True)
            if not matches:
                return [], any_list
        matches = self._kept(matches, self.excluded, keep=False)
        matches.sort(reverse=self.order == "desc")
        return matches, any_list

    def _cheaper_by_bodies(self, members: list[bytes], pair: tuple[str, str]) -> bool:
        """Whether reading ``members``' bodies costs fewer bytes than the lists of ``pair``
        in their buckets not read yet (a busy actor's members against a type's hourly
        lists: a few hundred bodies instead of megabytes of lists)."""
        name, value = pair
        keys = {self._bucket_key(name, value, micros_of(m)) for m in members}
        unread = [key for key in keys if key not in self._lists]
        sizes = self._sizes(unread)
        return sum(sizes[key] for key in unread) > len(members) * BODY_BYTES

    def _kept_by_bodies(self, members: list[bytes], pair: tuple[str, str]) -> list[bytes]:
        assert self.indexes_of is not None
        self.examined += len(members)
        indexes = self.indexes_of(members)
        return [m for m, index in zip(members, indexes, strict=True) if index and pair in index]

    def _sizes(self, keys: list[str]) -> dict[str, int]:
        """Bytes of each list (0: none), the lists already read without asking Redis."""
        unknown = [key for key in dict.fromkeys(keys) if key not in self._bytes]
        if unknown:
            pipe = self.redis.pipeline(transaction=False)
            for key in unknown:
                pipe.strlen(key)
            self._bytes.update(zip(unknown, (int(n) for n in pipe.execute()), strict=True))
        return self._bytes

    def _bucket_key(self, name: str, value: str, micros: int) -> str:
        return self.key_names.posting_list(self.tenant, name, micros // BUCKET_US[name], value)

    def _bucket_keys(self, name: str, value: str, w_lo: int, w_hi: int) -> list[str]:
        """The lists of one filter value covering [w_lo, w_hi) µs."""
        width = BUCKET_US[name]
        buckets = range(w_lo // width, (w_hi - 1) // width + 1)
        return [self.key_names.posting_list(self.tenant, name, b, value) for b in buckets]

    def _fetch(self, keys: list[str]) -> None:
        """Read and sort the lists not yet read by this walk, in one MGET (one slot)."""
        missing = list(dict.fromkeys(key for key in keys if key not in self._lists))
        if missing:
            values = cast(list[bytes | None], self.redis.mget(missing))
            for key, value in zip(missing, values, strict=True):
                self._lists[key] = members_of(value)
                self._bytes[key] = len(value or b"")

    def _kept(
        self, members: list[bytes], lists: Sequence[tuple[str, str]], keep: bool
    ) -> list[bytes]:
        """``members`` that are in every one of ``lists`` (``keep``) or in none of them;
        only the buckets holding some of ``members`` are read."""
        if not lists or not members:
            return members
        wanted = {
            m: [self._bucket_key(name, value, micros_of(m)) for name, value in lists]
            for m in members
        }
        keys = list(dict.fromkeys(key for ks in wanted.values() for key in ks))
        self._fetch(keys)
        for key in keys:
            if key not in self._sets:
                self._sets[key] = set(self._lists[key])
        if keep:
            return [m for m in members if all(m in self._sets[key] for key in wanted[m])]
        return [m for m in members if not any(m in self._sets[key] for key in wanted[m])]

    def _tenant_span(self) -> tuple[int, int] | None:
        """The µs of the tenant's oldest and newest events (the time index's ends)."""
        pipe = self.redis.pipeline(transaction=False)
        index = self.key_names.time_index(self.tenant)
        pipe.zrange(index, 0, 0)
        pipe.zrange(index, -1, -1)
        oldest, newest = pipe.execute()
        if not oldest:
            return None
        return micros_of(oldest[0]), micros_of(newest[0])

    def _next_stored(self, position: bytes, desc: bool) -> int:
        """The µs of the tenant's next event past ``position``, or past the range's end."""
        index = self.key_names.time_index(self.tenant)
        if desc:
            nxt = self.redis.zrevrangebylex(index, b"(" + position, "-", start=0, num=1)
            return micros_of(nxt[0]) if nxt else -1
        nxt = self.redis.zrangebylex(index, b"(" + position, "+", start=0, num=1)
        return micros_of(nxt[0]) if nxt else 1 << 62

    # -- walking the time index (only excluded lists: outcome=success) ----------------
    def _run_on_time_index(self, want: int, budget: int, seconds: float) -> WalkResult:
        index = self.key_names.time_index(self.tenant)
        desc = self.order == "desc"
        lo = (b"(" if self.bounds.lo_open else b"[") + self.bounds.lo if self.bounds.lo else b"-"
        hi = b"(" + self.bounds.hi if self.bounds.hi else b"+"
        found: list[bytes] = []
        started = time.monotonic()
        while True:
            chunk = min(TIME_CHUNK, max(want - len(found), 0) * 2 + 64)
            if desc:
                reply = self.redis.zrevrangebylex(index, hi, lo, start=0, num=chunk)
            else:
                reply = self.redis.zrangebylex(index, lo, hi, start=0, num=chunk)
            members = cast(list[bytes], reply)
            self.examined += len(members)
            matches = self._kept(members, self.excluded, keep=False)
            need = want - len(found)
            if len(matches) >= need:
                found += matches[:need]
                return WalkResult(found, False, found[-1])
            found += matches
            if len(members) < chunk:
                return WalkResult(found, True, b"")
            position = members[-1]
            if desc:
                hi = b"(" + position
            else:
                lo = b"(" + position
            wasted = self.examined - len(found)
            spent = time.monotonic() - started
            if wasted >= budget or (spent >= seconds and wasted > len(found)):
                return WalkResult(found, False, position)
