"""The storage-free verify core: each problem kind with its first_broken_at, from an export
(roots only) and with stored leaf hashes (exact seq)."""

from __future__ import annotations

import orjson
import pytest

from collector import merkle
from collector.checkpoint import Checkpoint
from collector.leaves import leaf_hash_of
from collector.signednote import Signer
from collector.verify import TreeCheck, check_checkpoints, verify_export

SIGNER = Signer.generate("audit-test")
VERIFIER = SIGNER.verifier()
ORIGIN = "audit-trail/acme"


def stored_events(n: int) -> list[bytes]:
    return [
        orjson.dumps({"id": f"e{s}", "tenant": "acme", "data": {"n": s, "f": s / 4}, "seq": s})
        for s in range(1, n + 1)
    ]


def note(events: list[bytes], size: int, signer: Signer = SIGNER) -> str:
    compact = merkle.CompactRange()
    compact.extend(leaf_hash_of(e) for e in events[:size])
    return Checkpoint(ORIGIN, size, compact.root()).sign(signer)


EVENTS = stored_events(10)
NOTES = [note(EVENTS, 4), note(EVENTS, 10)]


def run_export(lines, notes=NOTES):
    return verify_export("acme", lines, notes, VERIFIER, ORIGIN)


def test_an_intact_export_verifies():
    report = run_export(EVENTS)
    assert report.ok, report.problem
    assert (report.events, report.checkpoint_size) == (10, 10)
    assert report.as_dict()["ok"] is True


def test_events_beyond_the_checkpoint_are_counted_not_judged():
    assert run_export([*EVENTS, *stored_events(12)[10:]], notes=[note(EVENTS, 10)]).ok


def edited(seq: int, old: bytes, new: bytes) -> list[bytes]:
    out = list(EVENTS)
    out[seq - 1] = out[seq - 1].replace(old, new)
    return out


def swapped(a: int, b: int) -> list[bytes]:
    out = list(EVENTS)
    out[a - 1], out[b - 1] = out[b - 1], out[a - 1]
    return out


def kind_at(report):
    assert report.problem is not None
    return report.problem.kind, report.problem.first_broken_at


def test_export_tampering_each_kind():
    # After the checkpoint of size 4, the export alone cannot tell which seq changed.
    assert kind_at(run_export(edited(7, b'"n":7', b'"n":8'))) == ("modified", 5)
    assert kind_at(run_export(edited(2, b'"n":2', b'"n":3'))) == ("modified", 1)
    assert kind_at(run_export(swapped(3, 5))) == ("reordered", 3)
    assert kind_at(run_export(EVENTS[:3] + EVENTS[4:])) == ("missing", 4)
    assert kind_at(run_export(EVENTS[:8])) == ("truncated", 9)
    assert kind_at(run_export([*EVENTS[:5], EVENTS[2], *EVENTS[5:]])) == ("unexpected", 3)
    assert kind_at(run_export([*EVENTS[:5], b"not json", *EVENTS[5:]])) == ("modified", 6)


def test_forged_and_contradicting_checkpoints():
    forged = NOTES[1].replace("\n10\n", "\n11\n")
    assert kind_at(run_export(EVENTS, [NOTES[0], forged])) == ("bad-signature", 5)
    other_key = note(EVENTS, 10, Signer.generate("audit-test"))
    assert kind_at(run_export(EVENTS, [NOTES[0], other_key])) == ("bad-signature", 5)
    lie = Checkpoint(ORIGIN, 10, merkle.leaf_hash(b"x")).sign(SIGNER)
    assert kind_at(run_export(EVENTS, [*NOTES, lie]))[0] == "inconsistent"
    wrong_origin = Checkpoint("audit-trail/other", 4, merkle.leaf_hash(b"x")).sign(SIGNER)
    assert kind_at(run_export(EVENTS, [wrong_origin, NOTES[1]])) == ("bad-signature", 1)


def test_a_rolled_back_latest_checkpoint_is_inconsistent():
    signed = check_checkpoints([NOTES[1]], VERIFIER, ORIGIN, latest=NOTES[0])
    assert [(p.kind, p.first_broken_at) for p in signed.problems] == [("inconsistent", 5)]
    assert [cp.size for cp in signed.valid] == [4, 10]


class MemoryHints:
    def __init__(self, events: list[bytes]) -> None:
        self.leaves = [leaf_hash_of(e) for e in events]
        self.size = len(self.leaves)

    def get(self, seq: int) -> bytes:
        return self.leaves[seq - 1]

    def find(self, leaf: bytes) -> int | None:
        return self.leaves.index(leaf) + 1 if leaf in self.leaves else None


def walk(slots: list[bytes | None], purged=(), notes=NOTES):
    check = TreeCheck("acme", check_checkpoints(notes, VERIFIER, ORIGIN), MemoryHints(EVENTS))
    for seq, stored in enumerate(slots, start=1):
        if check.broken:
            break
        if seq in purged:
            check.purged(seq)
        elif stored is None:
            check.report("missing", seq, "hole")
        else:
            check.leaf(seq, stored)
    return check.finish(len(slots))


def test_stored_leaf_hashes_find_the_exact_seq():
    assert walk(EVENTS).ok
    assert kind_at(walk(edited(7, b'"n":7', b'"n":8'))) == ("modified", 7)
    assert kind_at(walk(swapped(7, 9))) == ("reordered", 7)
    assert kind_at(walk(edited(6, b'"seq":6', b'"seq":9'))) == ("reordered", 6)


@pytest.mark.parametrize("purged", [{1, 2, 3}, {2, 5, 9}])
def test_purged_seqs_prove_with_their_stored_leaf_hashes(purged):
    slots = [None if s in purged else e for s, e in enumerate(EVENTS, start=1)]
    report = walk(slots, purged=purged)
    assert report.ok, report.problem
    assert (report.events, report.purged, report.checkpoint_size) == (7, 3, 10)
