"""Integration and signing in Redis: the tree matches the stored events, checkpoints are
signed once per growth by one worker, published to the folder, and crashes resume."""

from __future__ import annotations

import os

import pytest
from integrity_helpers import integrity_settings, post, root_of, stored_in_seq_order

from api import create_app
from collector import scripts
from collector.checkpoint import open_checkpoint
from collector.checkpointdir import read_checkpoints
from collector.integrity import Integrity, note_size
from collector.livecheck import verify_tenant
from collector.scripts import ScriptCall
from collector.signing import load_signer
from collector.treestore import tenant_tree
from worker import StreamWorker


@pytest.fixture
def isettings(tmp_path):
    return integrity_settings(tmp_path)


def drain(client, settings) -> None:
    StreamWorker(client, settings, name="w1").run_burst()


def latest(client, settings, tenant="acme") -> bytes | None:
    return client.get(settings.key_names.checkpoint(tenant))


def test_the_worker_integrates_and_signs_what_it_stored(redis_client, isettings):
    post(redis_client, isettings, 5)
    post(redis_client, isettings, 3, tenant="globex")
    drain(redis_client, isettings)
    verifier = load_signer(isettings.signing_key_file).verifier()
    for tenant, n in (("acme", 5), ("globex", 3)):
        events = stored_in_seq_order(redis_client, isettings, tenant)
        assert len(events) == n
        note = latest(redis_client, isettings, tenant).decode()
        cp = open_checkpoint(note, verifier, f"audit-trail/{tenant}")
        assert (cp.size, cp.root) == (n, root_of(events))
        assert read_checkpoints(isettings.checkpoint_dir, tenant) == [note]
        folder = os.path.join(isettings.checkpoint_dir, tenant)
        assert sorted(os.listdir(folder)) == [str(n)]


def test_growth_gets_a_new_checkpoint_and_the_history_keeps_every_one(redis_client, isettings):
    post(redis_client, isettings, 3)
    drain(redis_client, isettings)
    post(redis_client, isettings, 4, start=4)
    drain(redis_client, isettings)
    keys = isettings.key_names
    history = redis_client.zrange(keys.checkpoints("acme"), 0, -1, withscores=True)
    assert [int(score) for _, score in history] == [3, 7]
    assert note_size(latest(redis_client, isettings)) == 7
    assert sorted(os.listdir(os.path.join(isettings.checkpoint_dir, "acme"))) == ["3", "7"]
    # Nothing new: nothing signed.
    assert Integrity(redis_client, isettings).sign("acme") is None


def test_a_crash_between_store_and_integrate_resumes(redis_client, isettings):
    post(redis_client, isettings, 6)
    off = isettings.with_(signing_key_file=None)
    drain(redis_client, off)  # stored, never integrated
    assert tenant_tree(redis_client, isettings.key_names, "acme").size() == 0
    integrity = Integrity(redis_client, isettings)
    assert integrity.integrate("acme", batch=4) == 4  # a partial run, then "a crash"
    integrity.run_due(force=True)
    events = stored_in_seq_order(redis_client, isettings, "acme")
    assert tenant_tree(redis_client, isettings.key_names, "acme").root(6) == root_of(events)
    assert note_size(latest(redis_client, isettings)) == 6


def test_a_crash_between_integrate_and_sign_resumes(redis_client, isettings):
    post(redis_client, isettings, 4)
    drain(redis_client, isettings.with_(signing_key_file=None))
    integrity = Integrity(redis_client, isettings)
    assert integrity.integrate("acme") == 4
    assert latest(redis_client, isettings) is None  # "crashed" before signing
    assert integrity.grown() == ["acme"]
    integrity.run_due(force=True)
    assert note_size(latest(redis_client, isettings)) == 4
    assert integrity.grown() == []


def test_a_stale_integrator_appends_nothing(redis_client, isettings):
    post(redis_client, isettings, 4)
    drain(redis_client, isettings.with_(signing_key_file=None))
    tree = tenant_tree(redis_client, isettings.key_names, "acme")
    events = stored_in_seq_order(redis_client, isettings, "acme")
    Integrity(redis_client, isettings).integrate("acme")
    assert not tree.append([b"\0" * 32], old_size=2)
    assert tree.size() == 4
    assert tree.root(4) == root_of(events)


def test_one_signer_at_a_time(redis_client, isettings):
    post(redis_client, isettings, 2)
    drain(redis_client, isettings.with_(signing_key_file=None))
    lock = redis_client.lock(isettings.key_names.tree_lock("acme"), timeout=10)
    assert lock.acquire(blocking=False)  # another worker holds the tenant
    Integrity(redis_client, isettings).run_due(force=True)
    assert latest(redis_client, isettings) is None
    lock.release()
    Integrity(redis_client, isettings).run_due(force=True)
    assert note_size(latest(redis_client, isettings)) == 2


def test_the_latest_checkpoint_never_shrinks(redis_client, isettings):
    post(redis_client, isettings, 3)
    drain(redis_client, isettings)
    integrity = Integrity(redis_client, isettings)
    post(redis_client, isettings, 2, start=4)
    drain(redis_client, isettings)
    small = redis_client.zrange(isettings.key_names.checkpoints("acme"), 0, 0)[0]
    keys = isettings.key_names
    call = ScriptCall("checkpoint", [keys.checkpoint("acme"), keys.checkpoints("acme")], [3, small])
    assert scripts.run(redis_client, call) == 0
    assert note_size(latest(redis_client, isettings)) == 5
    assert integrity.sign("acme") is None


def test_a_hole_in_seq_stops_integration_there(redis_client, isettings):
    post(redis_client, isettings, 5)
    drain(redis_client, isettings.with_(signing_key_file=None))
    redis_client.hdel(isettings.key_names.events("acme"), "e3")
    assert Integrity(redis_client, isettings).integrate("acme") == 2


def test_integrity_is_off_without_a_key(redis_client, settings):
    integrity = Integrity(redis_client, settings)
    assert not integrity.enabled
    integrity.run_due(force=True)  # does nothing, raises nothing


def test_tampered_checkpoints_are_left_for_verify_not_healed(redis_client, isettings, caplog):
    post(redis_client, isettings, 3)
    drain(redis_client, isettings)
    post(redis_client, isettings, 2, start=4)
    drain(redis_client, isettings)
    keys = isettings.key_names
    older = redis_client.zrange(keys.checkpoints("acme"), 0, 0)[0]
    redis_client.set(keys.checkpoint("acme"), older)  # rolled back
    integrity = Integrity(redis_client, isettings)
    integrity.run_due(force=True)
    integrity.run_due(force=True)
    assert redis_client.get(keys.checkpoint("acme")) == older
    assert [r.message.count("rolled back") for r in caplog.records].count(1) == 1  # once
    forged = older.replace(b"\n3\n", b"\n2\n")
    redis_client.set(keys.checkpoint("acme"), forged)
    integrity.run_due(force=True)
    assert redis_client.get(keys.checkpoint("acme")) == forged
    assert "does not verify" in caplog.text


def test_compressed_bodies_are_hashed_as_they_read_back(redis_client, isettings):
    # Past 20 events here (conftest), the tenant's bodies are stored zstd-compressed.
    post(redis_client, isettings, 25)
    drain(redis_client, isettings)  # the tenant's dictionary is trained after this batch
    post(redis_client, isettings, 20, start=26)
    drain(redis_client, isettings)
    client = create_app(isettings, redis_client).test_client()
    events = [client.get(f"/v1/events/e{i}?tenant=acme").get_data() for i in range(1, 46)]
    raw = redis_client.hget(isettings.key_names.events("acme"), "e45")
    assert raw[:1] == b"z"  # stored compressed, read back as JSON
    note = latest(redis_client, isettings).decode()
    cp = open_checkpoint(note, load_signer(isettings.signing_key_file).verifier())
    assert (cp.size, cp.root) == (45, root_of(events))
    verifier = load_signer(isettings.signing_key_file).verifier()
    assert verify_tenant(redis_client, isettings, "acme", verifier).ok
    keys = isettings.key_names
    redis_client.hset(keys.events("acme"), "e40", raw[:-3] + b"xyz")  # a corrupt frame
    problem = verify_tenant(redis_client, isettings, "acme", verifier).problem
    assert problem is not None and (problem.kind, problem.first_broken_at) == ("modified", 40)
