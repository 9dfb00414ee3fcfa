"""The integrity commands as a user runs them: signing-key create, verify (live and
offline, exit 0 / 1 with first_broken_at), proof."""

from __future__ import annotations

import os
import stat

import orjson
import pytest
import redis
from helpers import event, wait_for
from integrity_helpers import post, stored_in_seq_order
from test_cli import _get, _running

from cli import main
from collector.client import Producer
from collector.settings import Settings
from worker import StreamWorker


def test_signing_key_create_writes_a_0600_file_and_prints_the_verifier_key(tmp_path, capsys):
    path = str(tmp_path / "k")
    assert main(["signing-key", "create", "--name", "audit.example", "-o", path]) == 0
    verifier = capsys.readouterr().out.strip()
    assert verifier.startswith("audit.example+") and "PRIVATE" not in verifier
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as key_file:
        assert key_file.read().startswith("PRIVATE+KEY+audit.example+")
    assert main(["signing-key", "create", "--name", "x", "-o", path]) == 2  # never overwritten
    assert "never overwritten" in capsys.readouterr().err


def test_a_key_file_others_can_read_is_refused(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "k")
    main(["signing-key", "create", "--name", "n", "-o", path])
    os.chmod(path, 0o644)
    monkeypatch.setenv("AUDIT_SIGNING_KEY_FILE", path)
    assert main(["verify", "--export", path, "--checkpoint", path]) == 2
    err = capsys.readouterr().err
    assert "chmod 600" in err and "PRIVATE" not in err


@pytest.fixture
def live(redis_server, monkeypatch, tmp_path, capsys):
    """REDIS_URL, a signing key and a checkpoint folder in the environment; 6 events stored."""
    redis.Redis(port=redis_server.port).flushall()
    for name in [k for k in os.environ if k.startswith("AUDIT_")]:
        monkeypatch.delenv(name)
    key = str(tmp_path / "signing.key")
    main(["signing-key", "create", "--name", "audit-test", "-o", key])
    verifier = capsys.readouterr().out.strip()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("AUDIT_SIGNING_KEY_FILE", key)
    monkeypatch.setenv("AUDIT_CHECKPOINT_DIR", str(tmp_path / "cps"))
    settings = Settings.from_env()
    client = redis.Redis(port=redis_server.port)
    post(client, settings, 6)
    StreamWorker(client, settings, name="w").run_burst()
    return client, settings, verifier


@pytest.mark.real
def test_verify_passes_then_catches_tampering(live, capsys):
    client, settings, _ = live
    assert main(["verify"]) == 0
    assert "acme: ok, 6 events verified; checkpoint size 6 verified" in capsys.readouterr().out
    events = settings.key_names.events("acme")
    client.hset(events, "e2", client.hget(events, "e2").replace(b'"n":2', b'"n":9'))
    assert main(["verify", "--format", "json", "--tenant", "acme"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    (tenant,) = report["tenants"]
    assert (tenant["kind"], tenant["first_broken_at"]) == ("modified", 2)


@pytest.mark.real
def test_proof_prints_the_bundle(live, capsys):
    assert main(["proof", "e3", "--tenant", "acme"]) == 0
    bundle = orjson.loads(capsys.readouterr().out)
    assert (bundle["leaf_index"], bundle["tree_size"]) == (2, 6)
    assert main(["proof", "nope", "--tenant", "acme"]) == 2


@pytest.mark.real
def test_offline_verify_of_an_export(live, tmp_path, capsys):
    client, settings, verifier = live
    export = tmp_path / "acme.ndjson"
    export.write_bytes(b"\n".join(stored_in_seq_order(client, settings, "acme")) + b"\n")
    checkpoint = tmp_path / "cps" / "acme" / "6"
    argv = ["verify", "--export", str(export), "--checkpoint", str(checkpoint)]
    assert main([*argv, "--verifier-key", verifier]) == 0
    assert "ok, 6 events verified" in capsys.readouterr().out
    lines = export.read_bytes().splitlines()
    export.write_bytes(b"\n".join(lines[:3] + lines[4:]) + b"\n")
    assert main([*argv, "--verifier-key", verifier, "--format", "json"]) == 1
    (tenant,) = orjson.loads(capsys.readouterr().out)["tenants"]
    assert (tenant["kind"], tenant["first_broken_at"]) == ("missing", 4)


def test_run_on_the_embedded_store_signs_with_a_throwaway_key(tmp_path):
    with _running(tmp_path) as (proc, base):
        Producer(url=base).post(event(id="run-1", tenant="acme"))
        _, note = wait_for(
            lambda: (r := _get(base + "/v1/checkpoints/latest?tenant=acme"))[0] == 200 and r
        )
        _, key = _get(base + "/v1/checkpoints/verifier-key")
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert note.decode().startswith("audit-trail/acme\n1\n")
    assert f"verifier key {key.decode().strip()}" in (tmp_path / "run.log").read_text()


@pytest.mark.real
def test_status_says_whether_integrity_is_on(live, capsys, monkeypatch):
    _, _, verifier = live
    assert main(["status"]) == 0
    assert f"integrity: on, checkpoints signed by {verifier}" in capsys.readouterr().out
    monkeypatch.delenv("AUDIT_SIGNING_KEY_FILE")
    assert main(["status"]) == 0
    assert "integrity: off (no AUDIT_SIGNING_KEY_FILE)" in capsys.readouterr().out
