"""Redis Cluster: the URL picks the client, and a URL of the wrong kind is refused at start."""

from __future__ import annotations

import pytest
import redis
from helpers import event
from redis.cluster import RedisCluster

from api import create_app
from cli import main
from collector.connection import connect
from collector.errors import ConfigError, Unavailable
from collector.replicas import add_confirmed
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker

pytestmark = pytest.mark.cluster


def test_a_cluster_url_builds_a_cluster_client(redis_cluster):
    client = connect(redis_cluster.url)
    assert isinstance(client, RedisCluster)
    # keys of different slots land on different masters, through one client
    client.set("a", 1)
    client.set("b", 2)
    assert client.get("a") == b"1" and client.get("b") == b"2"
    assert redis_cluster.node_for_key("a").port != redis_cluster.node_for_key("b").port


def test_a_plain_url_at_a_cluster_node_is_refused(redis_cluster):
    port = redis_cluster.nodes[1].port
    with pytest.raises(ConfigError) as caught:
        connect(f"redis://127.0.0.1:{port}/0")
    assert f"use redis+cluster://127.0.0.1:{port}" in caught.value.detail


@pytest.mark.real
def test_a_cluster_url_at_a_single_redis_is_refused(redis_server):
    with pytest.raises(ConfigError) as caught:
        connect(f"redis+cluster://127.0.0.1:{redis_server.port}")
    assert "not a cluster node" in caught.value.detail


def test_the_command_line_says_so_in_one_line(redis_cluster, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_cluster.nodes[0].port}")
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "points at a Redis Cluster node" in err


def test_a_confirmed_write_is_on_the_replica_when_it_returns(redis_cluster):
    client = redis_cluster.client()
    stream = "audit:ingest:{2}"
    ids = add_confirmed(client, stream, [{"event": b"a"}, {"event": b"b"}], timeout_ms=2000)
    master = redis_cluster.node_for_key(stream)
    replica = next(n for n in redis_cluster.running() if redis_cluster.replica_of(n) == master)
    reader = replica.client()
    reader.execute_command("READONLY")  # a cluster replica serves reads only when asked so
    assert [i.decode() for i, _ in reader.xrange(stream)] == ids


@pytest.mark.real
def test_a_write_no_replica_confirms_is_unavailable(redis_server):
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    with pytest.raises(Unavailable) as caught:
        add_confirmed(client, "audit:ingest", [{"event": b"a"}], timeout_ms=50)
    assert "No replica confirmed" in caught.value.detail
    assert client.xlen("audit:ingest") == 1  # on the master: stored later, retried by id


def test_ingest_and_stores_spread_over_the_masters(redis_cluster):
    redis_cluster.flush()
    settings = Settings(redis_url=redis_cluster.url, auth=False, partitions=12)
    client = create_app(settings, connect(redis_cluster.url)).test_client()
    tenants = [f"t{i}" for i in range(24)]
    for tenant in tenants:
        batch = [event(id=f"{tenant}-{n}", tenant=tenant) for n in range(5)]
        assert client.post("/v1/events", json=batch).status_code == 202
    StreamWorker(connect(redis_cluster.url), settings, name="spread").run_burst()
    service = AuditService(connect(redis_cluster.url), settings)
    names = settings.key_names
    streams_on = {redis_cluster.node_for_key(s).port for s in names.ingest_streams()}
    stores_on = {redis_cluster.node_for_key(names.events(t)).port for t in tenants}
    assert len(streams_on) == 3 and len(stores_on) == 3
    for tenant in tenants:  # seq stays dense per tenant
        seqs = sorted(service.store.get(tenant, f"{tenant}-{n}")["seq"] for n in range(5))
        assert seqs == [1, 2, 3, 4, 5]
