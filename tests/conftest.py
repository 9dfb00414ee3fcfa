"""Fixtures: one ``redis`` fixture, run against fakeredis and a private real redis-server.

The real server is started once per session on a free port in a temporary folder,
so tests never touch data they did not make. Without the ``redis-server`` binary
those tests skip, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server process for one test session."""

    def __init__(self, binary: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="audit-trail-redis-")
        self.port = _free_port()
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.folder,
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                os.path.join(self.folder, "log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


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
