"""What the Redis in use keeps on a crash: read from its configuration, reported in words."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from collector.durability import describe, from_config


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
