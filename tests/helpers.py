"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis
from marshmallow import ValidationError

from collector.events import prepare, validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBLEM = "application/problem+json"


def event(**overrides: Any) -> dict[str, Any]:
    """A valid v1 event; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "type": "user.login",
        "service": "auth",
        "actor": {"id": "alice"},
    }
    base.update(overrides)
    return base


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``, never HTML or a traceback."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server process for one test session."""

    def __init__(self, binary: str, persistence: tuple[str, ...] = ()) -> None:
        self.folder = tempfile.mkdtemp(prefix="audit-trail-redis-")
        self.port = free_port()
        self.binary = binary
        # nothing kept, unless the test asks for a kind of persistence
        self.persistence = persistence or ("--save", "", "--appendonly", "no")
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
                *self.persistence,
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
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still writing its files: it is a test server
                self.process.kill()
                self.process.wait()
            self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: Redis writes nothing more; start() brings it back."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- the v1 event's rules

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
NAME_CHARS = string.ascii_letters + string.digits + "._:-"
TENANT_CHARS = string.ascii_letters + string.digits + "._-"
INPUT_FIELDS = (
    "id",
    "tenant",
    "type",
    "service",
    "occurred_at",
    "actor",
    "target",
    "outcome",
    "request_id",
    "trace_id",
    "data",
)
SERVER_FIELDS = ("received_at", "schema_version", "seq")
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def errors_of(raw: Any) -> dict[str, Any]:
    """The error messages of an event that must be rejected."""
    with pytest.raises(ValidationError) as caught:
        validate(raw)
    messages = caught.value.messages
    assert isinstance(messages, dict)
    return messages


def assert_only_error_at(messages: dict[str, Any], *path: str) -> str:
    """Exactly one field is blamed, at ``path``, with exactly one non-empty message."""
    node: Any = messages
    for key in path:
        assert isinstance(node, dict), messages
        assert set(node) == {key}, f"expected only {path} in {messages}"
        node = node[key]
    assert isinstance(node, list), messages
    assert len(node) == 1, f"expected one message at {path}: {messages}"
    assert isinstance(node[0], str)
    assert node[0].strip()
    return node[0]


def rejected_at(raw: Any, *path: str) -> str:
    """``raw`` is rejected with one message keyed at ``path`` and nothing else; the message."""
    return assert_only_error_at(errors_of(raw), *path)


def stored(raw: Any, received_at: datetime = RECEIVED, **kwargs: Any) -> dict[str, Any]:
    return prepare(raw, received_at, **kwargs).document


def nested_data(levels: int, inner: Any = 1, arrays: bool = False) -> dict[str, Any]:
    """A ``data`` object exactly ``levels`` deep (``data`` itself is level 1).

    With ``arrays`` the levels below the top alternate arrays and objects.
    """
    value = inner
    for depth in range(levels - 1):
        value = [value] if arrays and depth % 2 == 0 else {"k": value}
    return {"k": value}


def data_of_size(size: int, fill: str = "x") -> dict[str, Any]:
    """A ``data`` object whose compact JSON is exactly ``size`` bytes (``fill`` is 1 byte)."""
    data = {"k": fill * (size - len(b'{"k":""}'))}
    assert len(orjson.dumps(data)) == size
    return data


def store_now(client: Any, settings: Any, events: list[Any]) -> None:
    """Store prepared events straight through the write path (no stream, no worker)."""
    from collector.writer import BatchWriter, Delivery

    result = BatchWriter(client, settings).write([Delivery(e.id, e) for e in events])
    assert not result.failed, result.failed


def store_aged(svc: Any, tenant: str, ages_days: list[int]) -> None:
    """Store one event per age (days before now, by ``occurred_at``) in ``tenant``."""
    from datetime import timedelta

    from collector.events import prepare
    from collector.timefmt import format_utc, now_utc

    now = now_utc()
    aged = [
        event(id=f"{tenant}-{i}", tenant=tenant, occurred_at=format_utc(now - timedelta(days=d)))
        for i, d in enumerate(ages_days)
    ]
    store_now(svc.redis, svc.settings, [prepare(e, now) for e in aged])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the product's settings (and gunicorn's and
    prometheus-client's), plus ``extra``: for a subprocess that must see only what a
    test gives it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUDIT_", "PROMETHEUS_", "GUNICORN_", "WEB_CONCURRENCY"))
        and k not in ("REDIS_URL", "PORT")
    }
    env.update(extra)
    return env


GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def start_gunicorn(
    env: dict[str, str], output: Any = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """gunicorn with the project's ``gunicorn.conf.py`` serving ``api:create_app()``, as
    production runs it; its output to ``output`` (a file, or nowhere)."""
    errors = subprocess.DEVNULL if output is subprocess.DEVNULL else subprocess.STDOUT
    return subprocess.Popen(
        [GUNICORN, "--config", "gunicorn.conf.py", "api:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=errors,
    )
