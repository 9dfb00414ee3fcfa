"""Verify a tenant's log: recompute its tree from the events and check it against every
signed checkpoint known. Storage-free; ``collector.audit`` feeds it from Redis and
:func:`verify_export` from an NDJSON export.

The first problem found is reported with ``first_broken_at``, the first ``seq`` it breaks:

- ``modified``: the event at that seq is not the one the tree committed to;
- ``missing``: no event at that seq, and later seqs have events;
- ``unexpected``: an event that no seq slot accounts for (a second event claiming a seq);
- ``reordered``: the event at that seq is a committed event from another seq;
- ``truncated``: no events from that seq on, though a checkpoint or the tree covers them;
- ``inconsistent``: two checkpoints contradict (same size, other roots; or the newest one
  shrank); ``first_broken_at`` is the first seq the contradiction concerns;
- ``bad-signature``: a checkpoint whose signature does not verify; ``first_broken_at`` is
  the first seq it claims beyond the last properly signed checkpoint below it.

Where stored leaf hashes are available (the live store), and they match the signed roots,
each event is compared with its own leaf, so a problem is found at its exact seq. From an
export alone, a changed event shows only as a root that differs: it is reported at the
first seq after the last checkpoint that still matches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from collector import merkle
from collector.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from collector.leaves import leaf_hash_of
from collector.signednote import NoteError, Verifier, parse

KINDS = (
    "modified",
    "missing",
    "unexpected",
    "reordered",
    "truncated",
    "inconsistent",
    "bad-signature",
)


@dataclass(frozen=True, order=True)
class Problem:
    """The first thing broken: what, from which seq, and a sentence for a person."""

    first_broken_at: int
    kind: str
    detail: str


@dataclass
class Report:
    """The outcome of verifying one tenant's log."""

    tenant: str
    events: int = 0  # events whose leaf was recomputed
    purged: int = 0  # seqs purged by retention (their stored leaf hashes kept)
    checkpoint_size: int = 0  # the largest checkpoint whose root the events reproduce
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tenant": self.tenant,
            "ok": self.ok,
            "events": self.events,
            "purged": self.purged,
            "checkpoint_size": self.checkpoint_size,
        }
        if self.problem:
            out.update(
                kind=self.problem.kind,
                first_broken_at=self.problem.first_broken_at,
                detail=self.problem.detail,
            )
        return out


class LeafHints(Protocol):
    """Stored leaf hashes (the live tree's bottom row): where each event is compared."""

    size: int

    def get(self, seq: int) -> bytes:
        """The stored leaf hash of ``seq`` (1 <= seq <= size)."""
        ...

    def find(self, leaf: bytes) -> int | None:
        """The seq whose stored leaf hash is ``leaf``, if any."""
        ...


@dataclass
class SignedCheckpoints:
    """The checkpoints that verified, by size, and the problems of those that did not."""

    valid: list[Checkpoint] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _claimed_size(note: str) -> int | None:
    with contextlib.suppress(NoteError, ValueError):
        return Checkpoint.parse(parse(note)[0]).size
    return None


def check_checkpoints(
    notes: Iterable[str], verifier: Verifier, origin: str | None, latest: str | None = None
) -> SignedCheckpoints:
    """Check each note's signature and origin (any, if None), and that the valid ones agree.

    ``latest`` is the note the store calls its newest: one smaller than another valid
    checkpoint means the log was rolled back.
    """
    out = SignedCheckpoints()
    forged: list[tuple[int, str]] = []
    by_size: dict[int, Checkpoint] = {}
    every = list(notes) + ([latest] if latest else [])
    for note in every:
        try:
            cp = open_checkpoint(note, verifier, origin)
        except CheckpointError as exc:
            forged.append((_claimed_size(note) or 1, str(exc)))
            continue
        seen = by_size.setdefault(cp.size, cp)
        if seen.root != cp.root:
            lower = max((s for s in by_size if s < cp.size), default=0)
            out.problems.append(
                Problem(lower + 1, "inconsistent", f"two checkpoints of size {cp.size} differ")
            )
    out.valid = [by_size[s] for s in sorted(by_size) if s > 0]
    for size, why in forged:
        lower = max((s for s in by_size if s < size), default=0)
        out.problems.append(
            Problem(lower + 1, "bad-signature", f"checkpoint of size {size}: {why}")
        )
    if latest and out.valid:
        with contextlib.suppress(CheckpointError):
            newest = open_checkpoint(latest, verifier, origin)
            if newest.size < out.valid[-1].size:
                out.problems.append(
                    Problem(
                        newest.size + 1,
                        "inconsistent",
                        f"the latest checkpoint has size {newest.size}, but one of size "
                        f"{out.valid[-1].size} was signed: the log was rolled back",
                    )
                )
    return out


class TreeCheck:
    """Recomputes the tree leaf by leaf and checks it against checkpoints and stored leaves.

    A reader calls :meth:`leaf` (or :meth:`purged`) for seq 1, 2, ... in order, reports
    what it finds out of place with :meth:`report`, and ends with :meth:`finish`.
    """

    def __init__(
        self, tenant: str, signed: SignedCheckpoints, hints: LeafHints | None = None
    ) -> None:
        self.result = Report(tenant)
        self.problems = list(signed.problems)
        self.checkpoints = signed.valid
        self.hints = hints
        self.compact = merkle.CompactRange()
        self._next = 0  # index of the next checkpoint to reach
        self._good = 0  # the largest checkpoint size reproduced so far
        self.broken = False  # an event-level problem was found: stop hashing

    @property
    def size(self) -> int:
        return self.compact.size

    def report(self, kind: str, seq: int, detail: str) -> None:
        """Record a problem the reader found (the smallest seq wins)."""
        self.problems.append(Problem(seq, kind, detail))
        self.broken = True

    def purged(self, seq: int) -> None:
        """Seq ``seq`` was purged by retention: its stored leaf hash stands in for it."""
        if self.hints is None or seq > self.hints.size:
            self.report("missing", seq, f"seq {seq} is marked purged but its leaf hash is gone")
            return
        self.result.purged += 1
        self._append(self.hints.get(seq))

    def leaf(self, seq: int, stored: bytes, leaf: bytes | None = None) -> None:
        """The event stored at ``seq`` (its JSON as stored, and its leaf hash if known)."""
        if leaf is None:
            leaf = leaf_hash_of(stored)
        if self.hints is not None and seq <= self.hints.size:
            expected = self.hints.get(seq)
            if expected != leaf:
                self._mismatch(seq, stored, leaf)
                return
        self.result.events += 1
        self._append(leaf)

    def _mismatch(self, seq: int, stored: bytes, leaf: bytes) -> None:
        assert self.hints is not None
        other = self.hints.find(leaf)
        if other is not None:
            self.report("reordered", seq, f"seq {seq} holds the event committed at seq {other}")
            return
        renumbered = _with_seq(stored, seq)
        if renumbered is not None and leaf_hash_of(renumbered) == self.hints.get(seq):
            self.report("reordered", seq, f"the event at seq {seq} claims another seq")
            return
        self.report("modified", seq, f"the event at seq {seq} is not the one committed")

    def _append(self, leaf: bytes) -> None:
        self.compact.append(leaf)
        while self._next < len(self.checkpoints) and self.checkpoints[self._next].size == self.size:
            cp = self.checkpoints[self._next]
            self._next += 1
            if self.compact.root() == cp.root:
                self._good = cp.size
                self.result.checkpoint_size = cp.size
            elif not self.broken:
                self.report(
                    "modified",
                    self._good + 1,
                    f"the events up to seq {cp.size} do not reproduce the signed root; "
                    f"the change is in seq {self._good + 1}..{cp.size}",
                )

    def finish(self, end: int) -> Report:
        """End the walk; ``end`` is the largest seq the store says it holds."""
        covered = max([end, *(cp.size for cp in self.checkpoints[self._next :])])
        if self.hints is not None:
            covered = max(covered, self.hints.size)
        if not self.broken and self.size < covered:
            self.report(
                "truncated",
                self.size + 1,
                f"events end at seq {self.size}, but seq {covered} was stored or signed",
            )
        if self.problems:
            self.result.problem = min(self.problems)
        return self.result


def _with_seq(stored: bytes, seq: int) -> bytes | None:
    try:
        doc = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("seq") == seq:
        return None
    doc["seq"] = seq
    return orjson.dumps(doc)


def claimed_seq(line: bytes) -> int | None:
    """The ``seq`` a stored event's JSON claims, if it is a positive integer."""
    try:
        seq = orjson.loads(line).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return seq if type(seq) is int and seq > 0 else None


def verify_export(
    tenant: str,
    lines: Iterable[bytes],
    notes: Sequence[str],
    verifier: Verifier,
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Verify an NDJSON export of one tenant (from seq 1, in seq order) against checkpoints
    (of ``origin``, or of whatever origin they name)."""
    check = TreeCheck(tenant, check_checkpoints(notes, verifier, origin))
    expected = 1
    gap: int | None = None  # the first seq skipped, while looking for it further on
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        seq = claimed_seq(line)
        if gap is not None:
            if seq == gap:
                check.report("reordered", gap, f"seq {gap} appears after later events")
                gap = None
                break
            continue
        if seq == expected:
            check.leaf(seq, line)
            expected += 1
            if progress and expected % 10_000 == 0:
                progress(expected - 1)
        elif seq is None:
            check.report("modified", expected, f"line for seq {expected} is not a stored event")
            break
        elif seq < expected:
            check.report("unexpected", seq, f"a second event claims seq {seq}")
            break
        else:
            gap = expected
    if gap is not None:
        check.report("missing", gap, f"no event has seq {gap}")
    return check.finish(check.size)
