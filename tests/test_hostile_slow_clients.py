"""Row 7: slow clients cannot starve the API: gunicorn with the shipped config keeps
answering /healthz while 64 connections trickle their headers a byte a second."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
from helpers import clean_env, free_port, start_gunicorn, wait_for


def _healthz(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _trickle(port: int, stop: threading.Event) -> None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    with sock:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            if stop.wait(1.0):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return


@pytest.mark.real
def test_healthz_answers_while_64_connections_trickle_headers(redis_server):
    redis.Redis(port=redis_server.port).flushall()
    port = free_port()
    env = clean_env(
        PORT=str(port), REDIS_URL=redis_server.url, AUDIT_AUTH="off", GUNICORN_LOG_LEVEL="critical"
    )
    process = start_gunicorn(env)
    stop = threading.Event()
    try:
        wait_for(lambda: _healthz(port, 1), timeout=30)
        trickling = [threading.Thread(target=_trickle, args=(port, stop)) for _ in range(64)]
        for thread in trickling:
            thread.start()
        time.sleep(3)  # every slow connection has sent a few bytes: each holds the server
        answered = [_healthz(port, timeout=5) for _ in range(5)]
        assert all(answered), answered
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=30)
