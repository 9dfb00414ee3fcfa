"""What the Redis in use keeps on a crash: read from its configuration, reported in words."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from api import create_app
from cli import main
from collector.durability import describe, from_config
from collector.settings import Settings


@pytest.mark.real
@pytest.mark.parametrize(
    ("flags", "mode", "words"),
    [
        (("--appendonly", "yes", "--appendfsync", "always"), "always", "every write on disk"),
        (("--appendonly", "yes", "--appendfsync", "everysec"), "everysec", "up to a second"),
        (("--appendonly", "no", "--save", "900 1"), "snapshots", "since the last snapshot"),
        (("--appendonly", "no", "--save", ""), "nothing", "nothing kept"),
    ],
)
def test_each_persistence_is_named(start_redis, flags, mode, words):
    server = start_redis(*flags)
    found = describe(redis.Redis(port=server.port))
    assert (found.mode, words in found.detail) == (mode, True)
    assert found.keeps_acknowledged is (mode in ("always", "everysec"))


def test_appendfsync_no_survives_a_redis_crash_only():
    found = from_config({"appendonly": "yes", "appendfsync": "no", "save": ""})
    assert found.keeps_acknowledged
    assert "not a machine crash" in found.detail


@pytest.mark.fake
def test_the_embedded_store_says_it_keeps_nothing():
    found = describe(fakeredis.FakeRedis())
    assert (found.mode, found.keeps_acknowledged) == ("embedded", False)
    assert "nothing kept" in found.detail


@pytest.mark.cluster
def test_a_cluster_reports_its_weakest_master(redis_cluster):
    client = redis_cluster.client()
    assert describe(client).mode == "nothing"
    masters = [n.client() for n in redis_cluster.running() if n.client().info()["role"] == "master"]
    try:
        for master in masters:
            master.config_set("appendonly", "yes")
            master.config_set("appendfsync", "always")
        assert describe(client).mode == "always"
        masters[0].config_set("appendfsync", "everysec")
        found = describe(client)
        assert found.mode == "everysec" and "weakest" in found.detail
    finally:
        for master in masters:
            master.config_set("appendonly", "no")


@pytest.mark.real
def test_readyz_says_what_redis_keeps_and_refuses_nothing_when_required(start_redis):
    nothing = start_redis("--appendonly", "no", "--save", "")
    client = redis.Redis(port=nothing.port)
    ready = create_app(Settings(auth=False), client).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ready",
        "durability": "nothing kept (no AOF, no snapshots)",
    }
    strict = Settings(auth=False, require_durable=True)
    refused = create_app(strict, client).test_client().get("/readyz")
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "AUDIT_REQUIRE_DURABLE=on" in refused.get_json()["detail"]
    aof = start_redis("--appendonly", "yes", "--appendfsync", "always")
    kept = create_app(strict, redis.Redis(port=aof.port)).test_client().get("/readyz")
    assert kept.status_code == 200 and kept.get_json()["durability"].startswith("every write")


@pytest.mark.fake
def test_readyz_on_the_embedded_store_refuses_when_durability_is_required(fake_redis):
    strict = Settings(auth=False, require_durable=True)
    assert create_app(strict, fake_redis).test_client().get("/readyz").status_code == 503


@pytest.mark.real
def test_a_worker_refuses_to_start_on_a_redis_that_keeps_nothing(start_redis, monkeypatch, capsys):
    nothing = start_redis("--appendonly", "no", "--save", "")
    monkeypatch.setenv("REDIS_URL", nothing.url)
    monkeypatch.setenv("AUDIT_REQUIRE_DURABLE", "on")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "AUDIT_REQUIRE_DURABLE=on" in err and "nothing kept" in err
    # a Redis with its AOF on is accepted: status says so
    aof = start_redis("--appendonly", "yes", "--appendfsync", "everysec")
    monkeypatch.setenv("REDIS_URL", aof.url)
    assert main(["status"]) == 0
    assert "durability: Redis keeps up to a second at risk" in capsys.readouterr().out


def test_run_on_the_embedded_store_refuses_when_durability_is_required(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("AUDIT_REQUIRE_DURABLE", "on")
    monkeypatch.setenv("AUDIT_AUTH", "off")
    assert main(["run", "--port", "0"]) == 2
    assert "the embedded in-memory store" in capsys.readouterr().err
