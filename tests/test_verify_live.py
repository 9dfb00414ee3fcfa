"""audit-trail verify over Redis: each kind of tampering is caught at the right seq."""

from __future__ import annotations

import orjson
import pytest
from integrity_helpers import integrity_settings, post

from collector import livecheck
from collector.livecheck import verify_tenant
from collector.signing import load_signer
from worker import StreamWorker


@pytest.fixture
def isettings(tmp_path):
    return integrity_settings(tmp_path)


@pytest.fixture
def log10(redis_client, isettings):
    """Ten events in tenant acme, with checkpoints of size 4 and 10."""
    post(redis_client, isettings, 4)
    StreamWorker(redis_client, isettings, name="w").run_burst()
    post(redis_client, isettings, 6, start=5)
    StreamWorker(redis_client, isettings, name="w").run_burst()
    return redis_client


def verify(client, settings, checkpoint_dir=None):
    verifier = load_signer(settings.signing_key_file).verifier()
    return verify_tenant(client, settings, "acme", verifier, checkpoint_dir)


def outcome(client, settings, **kw):
    report = verify(client, settings, **kw)
    assert report.problem is not None, "tampering went unnoticed"
    return report.problem.kind, report.problem.first_broken_at


def body(client, keys, event_id) -> bytes:
    return client.hget(keys.events("acme"), event_id)


def test_an_untouched_log_verifies(log10, isettings):
    report = verify(log10, isettings, checkpoint_dir=isettings.checkpoint_dir)
    assert report.ok, report.problem
    assert (report.events, report.checkpoint_size) == (10, 10)


def test_a_changed_byte_is_modified(log10, isettings):
    keys = isettings.key_names
    log10.hset(keys.events("acme"), "e7", body(log10, keys, "e7").replace(b'"n":7', b'"n":8'))
    assert outcome(log10, isettings) == ("modified", 7)


def test_swapped_events_are_reordered(log10, isettings):
    keys = isettings.key_names
    e3, e5 = body(log10, keys, "e3"), body(log10, keys, "e5")
    log10.hset(keys.events("acme"), mapping={"e3": e5, "e5": e3})
    assert outcome(log10, isettings) == ("reordered", 3)


def test_swapped_seq_slots_are_reordered(log10, isettings):
    log10.zadd(isettings.key_names.seq_index("acme"), {"e3": 6, "e6": 3})
    assert outcome(log10, isettings) == ("reordered", 3)


def test_swapped_seq_numbers_are_reordered(log10, isettings):
    keys = isettings.key_names
    for event_id, old, new in (("e3", 3, 6), ("e6", 6, 3)):
        doc = orjson.loads(body(log10, keys, event_id))
        assert doc["seq"] == old
        log10.hset(keys.events("acme"), event_id, orjson.dumps({**doc, "seq": new}))
    assert outcome(log10, isettings) == ("reordered", 3)


@pytest.mark.parametrize("from_index", [False, True])
def test_a_deleted_event_is_missing(log10, isettings, from_index):
    keys = isettings.key_names
    log10.hdel(keys.events("acme"), "e4")
    if from_index:
        log10.zrem(keys.seq_index("acme"), "e4")
    assert outcome(log10, isettings) == ("missing", 4)


def test_deleted_newest_events_are_truncated(log10, isettings):
    keys = isettings.key_names
    log10.hdel(keys.events("acme"), "e9", "e10")
    log10.zrem(keys.seq_index("acme"), "e9", "e10")
    log10.set(keys.seq("acme"), 8)
    assert outcome(log10, isettings) == ("truncated", 9)


@pytest.mark.parametrize("seq", [5, 11])  # a seq already taken, or past the end
def test_an_inserted_event_is_unexpected(log10, isettings, seq):
    keys = isettings.key_names
    doc = {**orjson.loads(body(log10, keys, "e5")), "id": "forged", "seq": seq}
    log10.hset(keys.events("acme"), "forged", orjson.dumps(doc))
    assert outcome(log10, isettings) == ("unexpected", seq)
    log10.zadd(keys.seq_index("acme"), {"forged": seq})  # in the seq index too
    assert outcome(log10, isettings) == ("unexpected", seq)


def test_a_forged_checkpoint_is_a_bad_signature(log10, isettings):
    keys = isettings.key_names
    note = log10.get(keys.checkpoint("acme")).decode()
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="  # another root, the old signature
    log10.set(keys.checkpoint("acme"), "\n".join(lines))
    assert outcome(log10, isettings) == ("bad-signature", 5)


def test_a_rolled_back_checkpoint_is_inconsistent(log10, isettings):
    keys = isettings.key_names
    older = log10.zrange(keys.checkpoints("acme"), 0, 0)[0]
    log10.set(keys.checkpoint("acme"), older)
    assert outcome(log10, isettings) == ("inconsistent", 5)


def test_a_rollback_that_also_rewrote_history_is_caught_by_the_checkpoint_folder(log10, isettings):
    keys = isettings.key_names
    older = log10.zrange(keys.checkpoints("acme"), 0, 0)[0]
    log10.set(keys.checkpoint("acme"), older)
    log10.zremrangebyscore(keys.checkpoints("acme"), 5, "+inf")
    log10.hdel(keys.events("acme"), *[f"e{i}" for i in range(5, 11)])
    log10.zremrangebyscore(keys.seq_index("acme"), 5, "+inf")
    log10.set(keys.seq("acme"), 4)
    log10.set(keys.tree_size("acme"), 4)
    assert verify(log10, isettings).ok  # Redis alone was rewritten consistently...
    kind, at = outcome(log10, isettings, checkpoint_dir=isettings.checkpoint_dir)
    assert (kind, at) == ("inconsistent", 5)  # ...but the folder remembers size 10


def test_purged_seqs_are_reported_as_purged_not_broken(log10, isettings):
    keys = isettings.key_names
    for seq in (1, 2, 3, 6):
        log10.setbit(keys.purged("acme"), seq, 1)
        log10.hdel(keys.events("acme"), f"e{seq}")
        log10.zrem(keys.seq_index("acme"), f"e{seq}")
    report = verify(log10, isettings)
    assert report.ok, report.problem
    assert (report.events, report.purged, report.checkpoint_size) == (6, 4, 10)


def test_windows_hashed_in_worker_processes_give_the_same_answers(log10, isettings, monkeypatch):
    monkeypatch.setattr(livecheck, "WINDOW", 2)
    monkeypatch.setattr(livecheck, "PARALLEL_FROM", 1)
    monkeypatch.setattr(livecheck.os, "cpu_count", lambda: 2)
    assert verify(log10, isettings).ok
    keys = isettings.key_names
    log10.hset(keys.events("acme"), "e8", body(log10, keys, "e8").replace(b'"n":8', b'"n":1'))
    assert outcome(log10, isettings) == ("modified", 8)
