"""Malformed HTTP against the two real servers: gunicorn with the shipped config, and
``audit-trail run``. However broken the request, the answer is a 4xx problem+json (or the
legacy route's own JSON), never a 5xx, an HTML page or a hang; and ``run`` listens on
loopback unless told otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from helpers import clean_env, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def _serving(process: subprocess.Popen[bytes], port: int) -> bool:
    if process.poll() is not None:
        raise AssertionError("the server exited")
    try:
        return raw_request(port, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=1)[0] == 200
    except OSError:
        return False


def _listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module", params=["gunicorn", "run"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """The port of a running server: gunicorn on the private Redis, or ``run`` embedded."""
    port = free_port()
    env = clean_env(PORT=str(port), AUDIT_AUTH="off", GUNICORN_LOG_LEVEL="critical")
    if request.param == "gunicorn":
        redis_server = request.getfixturevalue("redis_server")
        env["REDIS_URL"] = redis_server.url
        command = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "api:create_app()"]
    else:
        command = [str(BIN / "audit-trail"), "run", "--workers", "0"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: _serving(process, port), timeout=30)
        yield port
    finally:
        _stop(process)


def _post(path: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _deep_event(levels: int, field: str = "data") -> bytes:
    nested = b'{"a":' * levels + b"1" + b"}" * levels
    return (
        b'{"type":"t","service":"s","actor":{"id":"a"},"' + field.encode() + b'":' + nested + b"}"
    )


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = orjson.loads(body)
    assert problem["status"] == expected and problem["title"] and problem["detail"]


CHUNKED = "Transfer-Encoding: chunked\r\n"
MALFORMED = {
    "header without a colon": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400),
    "garbage request line": (b"GARBAGE\r\n\r\n", 400),
    "Content-Length not a number": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        400,
    ),
    "negative Content-Length": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        400,
    ),
    "two Content-Lengths": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    "bad chunk size": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "chunk without its terminator": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
        400,
    ),
    "body not UTF-8": (
        _post("/v1/events", b'{"type":"t\xff","service":"s","actor":{"id":"a"}}'),
        400,
    ),
    "JSON 1,000 levels deep": (_post("/v1/events", _deep_event(1000)), 422),
    "CloudEvent 1,000 levels deep": (
        _post(
            "/v1/events",
            b'{"specversion":"1.0","id":"1","source":"s","type":"t","authid":"a","data":'
            + b'{"a":' * 1000
            + b"1"
            + b"}" * 1000
            + b"}",
            "application/cloudevents+json",
        ),
        422,
    ),
    "batch 1,000 levels deep": (_post("/v1/events", b"[" + _deep_event(1000) + b"]"), 422),
    "array 100,000 levels deep": (_post("/v1/events", b"[" * 100_000 + b"]" * 100_000), 422),
    "legacy route, bad chunk size": (
        b"POST /event HTTP/1.1\r\nHost: x\r\nX-Client-ID: c\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "body over the limit, refused unread": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n[",
        413,
    ),
}


@pytest.mark.real
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_get_a_4xx_problem(server: int, case: str) -> None:
    data, expected = MALFORMED[case]
    status, headers, body = raw_request(server, data)
    _assert_problem(status, headers, body, expected)


@pytest.mark.real
def test_the_legacy_route_refuses_deep_json_in_its_own_format(server: int) -> None:
    body = b'{"event_type":"t","entity_json":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}"
    status, _, answer = raw_request(server, _post("/event", body, extra="X-Client-ID: c\r\n"))
    assert status == 400, answer[:300]
    assert orjson.loads(answer)["error"]


@pytest.mark.real
def test_a_chunked_body_over_the_limit_is_refused_while_read(server: int) -> None:
    chunk = b"[" + b" " * (1 << 20)
    pieces = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 20  # 20 MiB, past any body limit
    data = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(pieces) + b"0\r\n\r\n"
    )
    status, headers, body = raw_request(server, data)
    _assert_problem(status, headers, body, 413)


@pytest.mark.real
def test_run_listens_on_loopback_by_default() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIT_", "REDIS_URL"))}
    process = subprocess.Popen(
        [str(BIN / "audit-trail"), "run", "--workers", "0", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _serving(process, port), timeout=30)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
    finally:
        _stop(process)
