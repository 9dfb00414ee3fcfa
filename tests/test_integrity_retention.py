"""Retention and integrity: purged events keep their leaf hashes in the tree, so the rest
still prove and verify reports the purged seqs as purged; nothing is purged before it
is in the tree."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from helpers import event
from integrity_helpers import integrity_settings

from api import create_app
from collector import merkle
from collector.checkpoint import open_checkpoint
from collector.client import Producer
from collector.livecheck import verify_tenant
from collector.query import Filters
from collector.service import AuditService
from collector.signing import load_signer
from collector.timefmt import format_utc, now_utc
from worker import StreamWorker


@pytest.fixture
def isettings(tmp_path):
    return integrity_settings(tmp_path, retention_days=30)


def post_ages(client, settings, ages_in_days):
    """Events e1.. in tenant acme, each occurred the given number of days ago."""
    Producer(redis=client, settings=settings).xadd(
        [
            event(id=f"e{i}", tenant="acme", occurred_at=format_utc(now_utc() - timedelta(days=d)))
            for i, d in enumerate(ages_in_days, start=1)
        ]
    )


def test_proofs_and_verify_survive_retention(redis_client, isettings):
    post_ages(redis_client, isettings, [40, 1, 35, 2, 50, 3])
    StreamWorker(redis_client, isettings, name="w").run_burst()
    service = AuditService(redis_client, isettings)
    assert service.maintenance.purge_expired() == 3
    verifier = load_signer(isettings.signing_key_file).verifier()
    report = verify_tenant(redis_client, isettings, "acme", verifier)
    assert report.ok, report.problem
    assert (report.events, report.purged, report.checkpoint_size) == (3, 3, 6)

    client = create_app(isettings, redis_client).test_client()
    assert client.get("/v1/events/e1/proof?tenant=acme").status_code == 404
    for i in (2, 4, 6):
        bundle = client.get(f"/v1/events/e{i}/proof?tenant=acme").get_json()
        root = open_checkpoint(bundle["checkpoint"], verifier).root
        proof = [base64.b64decode(h) for h in bundle["inclusion"]]
        leaf = base64.b64decode(bundle["leaf_hash"])
        assert merkle.verify_inclusion(i - 1, 6, leaf, proof, root)


def test_a_deletion_without_the_purge_mark_is_still_missing(redis_client, isettings):
    post_ages(redis_client, isettings, [40, 1, 2])
    StreamWorker(redis_client, isettings, name="w").run_burst()
    redis_client.hdel(isettings.key_names.events("acme"), "e2")
    verifier = load_signer(isettings.signing_key_file).verifier()
    problem = verify_tenant(redis_client, isettings, "acme", verifier).problem
    assert problem is not None and (problem.kind, problem.first_broken_at) == ("missing", 2)


def test_events_not_yet_in_the_tree_are_kept_until_they_are(redis_client, isettings):
    post_ages(redis_client, isettings, [40, 45])
    StreamWorker(redis_client, isettings.with_(signing_key_file=None), name="w").run_burst()
    service = AuditService(redis_client, isettings)
    assert service.maintenance.purge_expired() == 0  # not integrated: kept
    assert service.store.get("acme", "e1") is not None
    # and still found by the filters: a kept event keeps its members in the posting lists
    page = service.query.page(Filters(tenant="acme", actor_id="alice", type="user.login"))
    assert len(page.items) == 2
    StreamWorker(redis_client, isettings, name="w").run_burst()  # integrates and signs
    redis_client.delete(isettings.key_names.lock("retention"))
    assert service.maintenance.purge_expired() == 2
