"""The operator's commands against a real Redis: status, dead, export, retention, hold, emit."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import orjson
import pytest
import redis
from helpers import event, store_aged

from cli import main
from collector.client import Producer
from collector.export import CSV_COLUMNS
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker

BIN = os.path.join(os.path.dirname(sys.executable), "audit-trail")
pytestmark = pytest.mark.real


@pytest.fixture
def env(redis_server, monkeypatch):
    redis.Redis(port=redis_server.port).flushall()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for name in [k for k in os.environ if k.startswith("AUDIT_")]:
        monkeypatch.delenv(name)
    return redis_server


@pytest.fixture
def svc(env) -> AuditService:
    return AuditService(redis.Redis.from_url(env.url), Settings())


def drain(svc: AuditService) -> None:
    StreamWorker(svc.redis, svc.settings, name="cli-w").run_burst()


def test_status_as_json_and_table(svc, capsys):
    Producer(redis=svc.redis, settings=svc.settings).xadd([event(tenant="acme"), event()])
    drain(svc)
    capsys.readouterr()
    assert main(["status", "--format", "json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data["events_stored"] == 2 and data["workers_alive"] == 1
    assert data["streams"][0]["name"] == "audit:ingest" and data["streams"][0]["lag"] == 0
    assert {t["name"] for t in data["tenants"]} == {"acme", "default"}
    assert {"durability", "integrity", "dead_letters", "backlog"} <= set(data)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "group audit-workers: lag 0, pending 0" in out and "consumer cli-w" in out
    assert "events stored: 2" in out


def test_dead_list_show_replay_drop(svc, capsys):
    stream = svc.key_names.ingest_streams()[0]
    svc.redis.xadd(stream, {"event": orjson.dumps({"type": "t", "service": "s"})})
    svc.redis.xadd(stream, {"event": b"not json"})
    svc.redis.xadd(svc.key_names.dead, {"event": orjson.dumps(event(id="ok")), "reason": "manual"})
    drain(svc)
    capsys.readouterr()

    assert main(["dead", "list", "--format", "json"]) == 0
    items = orjson.loads(capsys.readouterr().out)
    assert [i["reason"][:13] for i in items] == ["not JSON: inv", "invalid event", "manual"]
    invalid, fixed = items[1]["id"], items[2]["id"]
    assert main(["dead", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "failed_at", "reason", "source", "source_id", "preview"]
    assert len(table) == 4
    assert main(["dead", "list", "--format", "ndjson"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    assert main(["dead", "show", invalid]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert "actor" in shown["errors"] and shown["payload"] == '{"type":"t","service":"s"}'
    assert main(["dead", "show", "1-1"]) == 2

    assert main(["dead", "replay", "--all", "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert f"{invalid}: still invalid" in out and f"{fixed}: would replay (event ok)" in out
    assert main(["dead", "replay", invalid, fixed]) == 1  # one was left unreplayed
    assert f"{fixed}: replayed (event ok)" in capsys.readouterr().out
    drain(svc)
    assert svc.store.get("default", "ok") is not None
    assert main(["dead", "list", "--format", "json"]) == 0
    left = [i["id"] for i in orjson.loads(capsys.readouterr().out)]
    assert invalid in left and fixed not in left and len(left) == 2

    assert main(["dead", "drop", *left]) == 0
    assert main(["dead", "drop", left[0]]) == 1
    assert svc.redis.xlen(svc.key_names.dead) == 0


def test_export_to_a_file_and_to_a_pipe(svc, tmp_path, capsys):
    Producer(redis=svc.redis, settings=svc.settings).xadd(
        [event(id=f"e{i}", tenant="acme", type="a.b" if i % 2 else "c.d") for i in range(9)]
    )
    drain(svc)
    target = tmp_path / "out.csv"
    assert main(["export", "--tenant", "acme", "--format", "csv", "-o", str(target)]) == 0
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 10
    assert "exported 9 events" in capsys.readouterr().err
    assert main(["export", "--tenant", "acme", "--type", "a.b", "--order", "asc"]) == 0
    ids = [orjson.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert ids == ["e1", "e3", "e5", "e7"]
    assert main(["export", "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err

    # On a pipe: only the events, nothing else on either stream.
    done = subprocess.run(
        [BIN, "export", "--tenant", "acme"],
        env={**os.environ, "AUDIT_LOG_FORMAT": "json"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == b""
    assert len(done.stdout.splitlines()) == 9


def test_retention_and_holds(svc, capsys):
    for tenant in ("acme", "held"):
        store_aged(svc, tenant, [1, 20, 90])
    assert main(["retention", "set", "--tenant", "acme", "--days", "10"]) == 0
    assert main(["retention", "set", "--tenant", "held", "--days", "10"]) == 0
    assert main(["hold", "set", "--tenant", "held", "--reason", "case 42"]) == 0
    capsys.readouterr()
    assert main(["retention", "show", "--format", "json"]) == 0
    shown = {t["tenant"]: t for t in orjson.loads(capsys.readouterr().out)["tenants"]}
    assert shown["acme"]["days"] == 10 and shown["held"]["hold"] == "case 42"
    assert main(["retention", "show"]) == 0
    assert "case 42" in capsys.readouterr().out

    assert main(["retention", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "acme: would purge 2 events" in out and "held: held" in out
    assert svc.store.count("acme") == 3
    assert main(["retention", "run"]) == 0
    assert "acme: purged 2 events" in capsys.readouterr().out
    assert (svc.store.count("acme"), svc.store.count("held")) == (1, 3)

    assert main(["hold", "clear", "--tenant", "held"]) == 0
    assert main(["hold", "clear", "--tenant", "held"]) == 2
    assert main(["retention", "run", "--tenant", "held", "--days", "30"]) == 0
    assert svc.store.count("held") == 2
    assert main(["retention", "set", "--tenant", "acme", "--days", "0"]) == 2


def test_emit_refuses_an_invalid_event_field_by_field_and_sends_nothing(svc):
    done = subprocess.run(
        [
            BIN,
            "emit",
            "--redis",
            "--type",
            "bad type!",
            "--service",
            "s",
            "--actor",
            "a",
            "--tenant",
            "no spaces",
            "--data",
            "[1]",
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3
    assert {line.split(" ")[2] for line in lines} == {"type", "tenant", "data"}
    assert svc.redis.xlen(svc.key_names.ingest_streams()[0]) == 0


def test_export_shows_a_progress_bar_on_a_terminal(svc, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    Producer(redis=svc.redis, settings=svc.settings).xadd([event(tenant="acme")] * 3)
    drain(svc)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    target = tmp_path / "out.ndjson"
    try:
        done = subprocess.run(
            [BIN, "export", "--tenant", "acme", "-o", str(target)],
            env={**os.environ, "AUDIT_LOG_FORMAT": "json"},
            stderr=terminal,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    assert b"export acme: 3 events" in shown
    assert len(target.read_bytes().splitlines()) == 3
