"""Fixtures: one ``redis`` fixture, run against fakeredis, a private real redis-server and
a private Redis Cluster (three masters with a replica each).

The real server and the cluster are started once per session on free ports in temporary
folders, so tests never touch data they did not make. Without the ``redis-server`` and
``redis-cli`` binaries those tests skip, except under ``CI=true``, where that is a failure.
``-m "not cluster"`` leaves the cluster out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
from helpers import RedisServer
from redis_cluster import LocalCluster, binaries, started_cluster

from api import create_app
from collector import compression
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _compress_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant gets its compression dictionary after 20 events (1,000 in production), so
    every test that stores more than a few events also writes and reads compressed bodies."""
    monkeypatch.setattr(compression, "TRAIN_AFTER", 20)


def _missing(reason: str) -> None:
    """Skip a test that needs a binary, but fail it under CI, where nothing may be skipped."""
    if IN_CI:
        pytest.fail(f"CI=true needs a real Redis: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("no redis-server binary on PATH (apt-get install redis-server)")
        return
    server = RedisServer(binary)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def start_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start private redis-servers with persistence flags of the test's choosing."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("no redis-server binary on PATH (apt-get install redis-server)")
        return
    started: list[RedisServer] = []

    def start(*persistence: str) -> RedisServer:
        server = RedisServer(binary, persistence)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """Three masters with a replica each, started once per session (see redis_cluster.py)."""
    found = binaries()
    if isinstance(found, str):
        _missing(found)
        return
    yield from started_cluster(*found)


@pytest.fixture(
    params=[
        pytest.param("fake", marks=pytest.mark.fake),
        pytest.param("real", marks=pytest.mark.real),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """An empty Redis: fakeredis, db 0 of the private server, or the private cluster
    (flushed before each test)."""
    if request.param == "fake":
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        cluster_client = cluster.client()
        yield cluster_client  # type: ignore[misc]
        cluster_client.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = redis.Redis(port=server.port, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def fake_redis() -> redis.Redis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def settings() -> Settings:
    return Settings(auth=False)


@pytest.fixture
def service(redis_client: redis.Redis, settings: Settings) -> AuditService:
    return AuditService(redis_client, settings)


@pytest.fixture
def app(redis_client: redis.Redis, settings: Settings) -> Any:
    return create_app(settings, redis_client)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def drain(redis_client: redis.Redis, settings: Settings) -> Callable[..., dict[str, int]]:
    """Run a worker in burst mode: everything on the stream is handled when it returns."""

    def run(claim_idle_ms: int | None = None, name: str = "test-worker") -> dict[str, int]:
        return StreamWorker(redis_client, settings, name=name).run_burst(claim_idle_ms)

    return run
