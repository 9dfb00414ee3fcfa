"""The ``audit-trail`` command line, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from helpers import clean_env, event, free_port, wait_for

from cli import main
from collector.client import Producer
from collector.connection import connect

BIN = os.path.join(os.path.dirname(sys.executable), "audit-trail")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@contextmanager
def _running(
    tmp_path, *args: str, port_from_env: bool = False
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`audit-trail run` on a free port (``--port``, or ``PORT``) until the test signals it."""
    port = free_port()
    env = clean_env(PORT=str(port)) if port_from_env else clean_env()
    argv = [BIN, "run", *args] if port_from_env else [BIN, "run", "--port", str(port), *args]
    with open(tmp_path / "run.log", "wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _get(base + "/healthz")[0] == 200, timeout=30)
            yield proc, base
        finally:
            if proc.poll() is None:
                proc.kill()


def test_run_on_the_embedded_store_serves_stores_and_stops_cleanly(tmp_path):
    with _running(tmp_path, port_from_env=True) as (proc, base):
        Producer(url=base).post(event(id="cli-1"))
        _, stored = wait_for(lambda: (r := _get(base + "/v1/events/cli-1"))[0] == 200 and r)
        assert orjson.loads(stored)["seq"] == 1
        emitted = subprocess.run(
            [
                BIN,
                "emit",
                "--url",
                base,
                "--type",
                "user.logout",
                "--service",
                "cli",
                "--actor",
                "bob",
                "--id",
                "cli-2",
                "--data",
                '{"k": 1}',
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert emitted.returncode == 0 and emitted.stdout.strip() == "cli-2"
        _, stored = wait_for(lambda: (r := _get(base + "/v1/events/cli-2"))[0] == 200 and r)
        assert orjson.loads(stored)["data"] == {"k": 1}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    output = (tmp_path / "run.log").read_text()
    assert "embedded in-memory store" in output
    assert "AUDIT_AUTH off" in output


@pytest.mark.parametrize("argv", [["worker"], ["status"], ["events"], ["keys", "list"]])
def test_commands_that_need_redis_exit_with_one_line_without_it(argv):
    result = subprocess.run(
        [BIN, *argv], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "REDIS_URL is not set" in result.stderr


@pytest.fixture(
    params=[
        pytest.param("real", marks=pytest.mark.real),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
def redis_url(request: pytest.FixtureRequest) -> str:
    """REDIS_URL of an empty private Redis, or of the private cluster."""
    if request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return str(cluster.url)
    server = request.getfixturevalue("redis_server")
    connect(server.url).flushall()
    return str(server.url)


def test_emit_events_status_and_keys_against_redis(redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    for name in [k for k in os.environ if k.startswith("AUDIT_")]:
        monkeypatch.delenv(name)

    assert (
        main(
            [
                "emit",
                "--redis",
                "--type",
                "user.login",
                "--service",
                "cli",
                "--actor",
                "alice",
                "--tenant",
                "acme",
                "--id",
                "emitted",
                "--data",
                '{"k": 1}',
            ]
        )
        == 0
    )
    from collector.service import AuditService
    from collector.settings import Settings
    from worker import StreamWorker

    StreamWorker(connect(redis_url), Settings(), name="w").run_burst()
    capsys.readouterr()

    assert main(["events", "--tenant", "acme", "--format", "ndjson"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert orjson.loads(line)["data"] == {"k": 1}
    assert main(["events", "--tenant", "acme", "--format", "json"]) == 0
    page = orjson.loads(capsys.readouterr().out)
    assert [e["id"] for e in page["items"]] == ["emitted"] and page["next_cursor"] is None
    assert main(["events", "--tenant", "acme"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("occurred_at") and "emitted" in table[1]
    assert main(["events", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "stream audit:ingest: 1 entries" in out and "dead letters" in out
    assert "workers seen: 1" in out

    assert (
        main(["keys", "create", "--name", "ci", "--scopes", "ingest,read", "--tenants", "acme"])
        == 0
    )
    secret = capsys.readouterr().out.splitlines()[-1]
    assert secret.startswith("at_")
    svc = AuditService(connect(redis_url), Settings())
    assert svc.api_keys.authenticate(f"Bearer {secret}").tenants == ("acme",)
    assert main(["keys", "list"]) == 0
    assert "ci\tscopes=ingest,read\ttenants=acme" in capsys.readouterr().out
    assert secret not in capsys.readouterr().out
    assert main(["keys", "create", "--name", "bad", "--scopes", "root", "--tenants", "*"]) == 2
    assert "unknown scope" in capsys.readouterr().err
    assert main(["keys", "revoke", "ci"]) == 0
    assert main(["keys", "revoke", "ci"]) == 2


def test_redis_password_is_never_printed():
    from collector.connection import redacted

    assert redacted("redis://default:s3cret@db:6379/0") == "redis://default:***@db:6379/0"
    assert redacted("rediss://:s3cret@db/1") == "rediss://:***@db/1"
    assert redacted("redis://db:6379/0") == "redis://db:6379/0"
    assert redacted(None) == "(unset)"


def test_a_bad_setting_is_one_line_and_exit_2():
    result = subprocess.run(
        [BIN, "run"],
        env=clean_env(AUDIT_MAX_BATCH="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "audit-trail: error: AUDIT_MAX_BATCH must be an integer, got 'lots'"
    )


def test_run_refuses_auth_on_without_redis():
    result = subprocess.run(
        [BIN, "run"], env=clean_env(AUDIT_AUTH="on"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "AUDIT_AUTH=on needs REDIS_URL" in result.stderr


def test_table_cells_never_pass_control_characters_to_the_terminal():
    from cli.ops import cell

    assert cell("evil\n\x1b[31mred", 40) == "evil??[31mred"


def test_run_with_no_workers_serves_the_api_alone_and_stops_on_sigint(tmp_path):
    with _running(tmp_path, "--workers", "0") as (proc, base):
        assert Producer(url=base).post(event(id="queued"))["status"] == "accepted"
        assert _get(base + "/v1/events/queued")[0] == 404  # accepted, but nobody consumes
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert "with 0 worker(s)" in (tmp_path / "run.log").read_text()


@pytest.mark.real
def test_migrate_compresses_what_an_older_release_stored(redis_server, monkeypatch, capsys):
    import redis

    from collector import compression
    from collector.events import prepare
    from collector.keys import KeyNames
    from collector.query import Filters, Query
    from collector.settings import Settings
    from collector.store import Store
    from collector.timefmt import now_utc
    from collector.writer import BatchWriter, Delivery

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for name in [k for k in os.environ if k.startswith("AUDIT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(compression, "TRAIN_AFTER", 10**9)  # stored as an older release did
    now = now_utc()
    events = [prepare(event(id=f"old{i}", tenant="acme", data={"i": i}), now) for i in range(40)]
    assert not BatchWriter(client, Settings()).write([Delivery(e.id, e) for e in events]).failed
    before = {e.id: client.hget("audit:t:{acme}:events", e.id) for e in events}
    assert all(v[:1] == b"{" for v in before.values())
    # an older release kept one sorted set per filter value (outcome=success included)
    # instead of posting lists
    for key in client.scan_iter(match="audit:t:{acme}:pl:*"):
        client.delete(key)
    for e in events:
        for name, value in (*e.indexed, ("outcome", "success")):
            client.zadd(f"audit:t:{{acme}}:ix:{name}:{value}", {e.member: 0})
    filters = Filters(tenant="acme", actor_id="alice", outcome="success", order="asc")
    store, query = Store(client, KeyNames()), Query(client, KeyNames())
    assert query.page(filters).items == []  # not readable until converted
    monkeypatch.setattr(compression, "TRAIN_AFTER", 30)
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert (
        "tenant acme: 40 events compressed, 4 filter sets converted to posting lists, 40 stored"
        in out
    )
    sets = {k.decode() for k in client.scan_iter(match="audit:t:{acme}:ix:*")}
    assert sets == {"audit:t:{acme}:ix:time", "audit:t:{acme}:ix:seq"}
    assert all(client.hget("audit:t:{acme}:events", i)[:1] == b"z" for i in before)
    assert {i: store.get_raw("acme", i) for i in before} == before
    assert len(query.page(filters).items) == 40
    assert main(["migrate"]) == 0
    assert "tenant acme: 0 events compressed, 0 filter sets" in capsys.readouterr().out


def test_the_worker_command_tunes_the_interpreter_before_it_consumes(monkeypatch, fake_redis):
    """`audit-trail worker` applies collector.runtime's settings (docs/operations.md) once
    set up and before consuming (fails if the call is dropped or moved after run)."""
    from cli import commands

    seen: list[str] = []

    class Consumer:
        def __init__(self, *args: object, **kwargs: object) -> None:
            seen.append("built")

        def stop(self) -> None: ...

        def run(self) -> None:
            seen.append("run")

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never dialled: connect is fake
    monkeypatch.delenv("AUDIT_SIGNING_KEY_FILE", raising=False)
    monkeypatch.setattr(commands, "connect", lambda url: fake_redis)
    monkeypatch.setattr(commands, "check_at_start", lambda client, settings: None)
    monkeypatch.setattr(commands, "stop_on_signals", lambda stop: None)
    monkeypatch.setattr(commands, "StreamWorker", Consumer)
    monkeypatch.setattr(commands, "tune_for_stream_workers", lambda: seen.append("tuned"))
    assert main(["worker"]) == 0
    assert seen == ["built", "tuned", "run"]
