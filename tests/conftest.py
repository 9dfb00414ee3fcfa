"""Fixtures: one ``redis`` fixture, run against fakeredis and a private real redis-server.

The real server is started once per session on a free port in a temporary folder,
so tests never touch data they did not make. Without the ``redis-server`` binary
those tests skip, except under ``CI=true``, where that is a failure.
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

from api import create_app
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no redis-server binary on PATH (apt-get install redis-server)"
        if IN_CI:
            pytest.fail(f"CI=true needs a real Redis: {reason}")
        pytest.skip(reason)
    server = RedisServer(binary)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(
    params=[
        pytest.param("fake", marks=pytest.mark.fake),
        pytest.param("real", marks=pytest.mark.real),
    ]
)
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """An empty Redis: fakeredis, or db 0 of the private server (flushed before each test)."""
    if request.param == "fake":
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())
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
