"""The integrity routes: a client checks checkpoints and proofs with RFC 9162 and the
signed-note format alone, and the 404 / 409 / 400 / tenant rules hold."""

from __future__ import annotations

import base64

import pytest
from helpers import event
from integrity_helpers import integrity_settings

from api import create_app
from collector import merkle
from collector.checkpoint import open_checkpoint
from collector.leaves import canonical
from collector.settings import Settings
from collector.signednote import Verifier
from worker import StreamWorker


@pytest.fixture
def settings(tmp_path):
    return integrity_settings(tmp_path)


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def ingest(client, redis_client, settings, ids, tenant="acme"):
    response = client.post("/v1/events", json=[event(id=i, tenant=tenant) for i in ids])
    assert response.status_code == 202
    StreamWorker(redis_client, settings, name="w").run_burst()


@pytest.fixture
def signed(client, redis_client, settings):
    """e1..e4 checkpointed at size 4, then e5..e10 at size 10; returns the verifier."""
    ingest(client, redis_client, settings, [f"e{i}" for i in range(1, 5)])
    ingest(client, redis_client, settings, [f"e{i}" for i in range(5, 11)])
    response = client.get("/v1/checkpoints/verifier-key")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return Verifier.from_key(response.get_data(as_text=True))


def test_latest_checkpoint_is_a_signed_note(client, signed):
    response = client.get("/v1/checkpoints/latest?tenant=acme")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    cp = open_checkpoint(response.get_data(as_text=True), signed, "audit-trail/acme")
    assert cp.size == 10


def test_every_event_proves_against_the_latest_and_an_older_checkpoint(client, signed):
    root = open_checkpoint(client.get("/v1/checkpoints/latest?tenant=acme").text, signed).root
    for i in range(1, 11):
        stored = client.get(f"/v1/events/e{i}?tenant=acme").get_json()
        bundle = client.get(f"/v1/events/e{i}/proof?tenant=acme").get_json()
        assert (bundle["tenant"], bundle["id"], bundle["leaf_index"]) == ("acme", f"e{i}", i - 1)
        leaf = merkle.leaf_hash(canonical(stored))
        assert b64(bundle["leaf_hash"]) == leaf
        proof = [b64(h) for h in bundle["inclusion"]]
        assert merkle.verify_inclusion(i - 1, 10, leaf, proof, root)
        assert open_checkpoint(bundle["checkpoint"], signed).size == bundle["tree_size"] == 10
    old = client.get("/v1/events/e2/proof?tenant=acme&tree_size=4").get_json()
    cp4 = open_checkpoint(old["checkpoint"], signed)
    assert cp4.size == old["tree_size"] == 4
    proof = [b64(h) for h in old["inclusion"]]
    assert merkle.verify_inclusion(1, 4, b64(old["leaf_hash"]), proof, cp4.root)


def test_consistency_between_checkpoints(client, signed):
    cp4 = open_checkpoint(
        client.get("/v1/events/e1/proof?tenant=acme&tree_size=4").get_json()["checkpoint"], signed
    )
    cp10 = open_checkpoint(client.get("/v1/checkpoints/latest?tenant=acme").text, signed)
    body = client.get("/v1/checkpoints/consistency?tenant=acme&from=4&to=10").get_json()
    assert (body["from"], body["to"]) == (4, 10)
    proof = [b64(h) for h in body["proof"]]
    assert merkle.verify_consistency(4, 10, cp4.root, cp10.root, proof)


@pytest.mark.parametrize(
    "query", ["from=0&to=4", "from=5&to=4", "from=4&to=11", "from=a&to=4", "to=4"]
)
def test_consistency_outside_the_signed_sizes_is_400(client, signed, query):
    response = client.get(f"/v1/checkpoints/consistency?tenant=acme&{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_stored_but_not_yet_covered_is_409_with_retry_after(client, redis_client, settings):
    client.post("/v1/events", json=event(id="late", tenant="acme"))
    StreamWorker(redis_client, settings.with_(signing_key_file=None), name="w").run_burst()
    response = client.get("/v1/events/late/proof?tenant=acme")
    assert response.status_code == 409
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["status"] == 409


def test_unknown_events_and_sizes_are_404(client, signed):
    assert client.get("/v1/events/nope/proof?tenant=acme").status_code == 404
    assert client.get("/v1/events/e1/proof?tenant=acme&tree_size=5").status_code == 404
    assert client.get("/v1/checkpoints/latest?tenant=globex").status_code == 404


def test_integrity_off_is_404(redis_client):
    client = create_app(Settings(auth=False), redis_client).test_client()
    assert client.get("/v1/checkpoints/verifier-key").status_code == 404
    assert client.get("/v1/checkpoints/latest").status_code == 404


def test_read_scope_and_tenant_rules(redis_client, settings, signed):
    auth_settings = settings.with_(auth=True)
    app = create_app(auth_settings, redis_client)
    service = app.extensions["audit"]
    acme = {"Authorization": "Bearer " + service.api_keys.create("r", ("read",), ("acme",))}
    other = {"Authorization": "Bearer " + service.api_keys.create("o", ("read",), ("globex",))}
    ingest_only = {"Authorization": "Bearer " + service.api_keys.create("i", ("ingest",), ("*",))}
    client = app.test_client()
    assert client.get("/v1/checkpoints/latest", headers=acme).status_code == 200
    assert client.get("/v1/events/e1/proof", headers=acme).status_code == 200
    assert client.get("/v1/checkpoints/latest?tenant=acme", headers=other).status_code == 403
    assert client.get("/v1/events/e1/proof?tenant=acme", headers=other).status_code == 404
    assert client.get("/v1/checkpoints/verifier-key", headers=ingest_only).status_code == 403
    assert client.get("/v1/checkpoints/latest").status_code == 401
