"""How much memory one hostile or large request costs the process that serves it.

Starts a private ``redis-server`` and gunicorn with the shipped ``gunicorn.conf.py``
(one worker process, so every request lands on the process we watch), then sends
each request below, one at a time, while a thread samples the worker's RSS every 5 ms.
Printed per request: status, body size, the worker's RSS growth at its peak over the
RSS before the request, and that growth as a multiple of the body.

    .venv/bin/python benchmarks/request_memory.py
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import redis
from processes import free_port, stop_all

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
MIB = 1024 * 1024


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def send(port: int, head: bytes, body: bytes, chunked: bool = False) -> int:
    """Send a request, raw; the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        if chunked:
            sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for at in range(0, len(body), MIB):
                piece = body[at : at + MIB]
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                except OSError:
                    break  # refused mid-body
            else:
                sock.sendall(b"0\r\n\r\n")
        else:
            sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
            with contextlib.suppress(OSError):  # answered (413) and closed before the body
                sock.sendall(body)
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split()[1]) if answer else 0


def cases() -> list[tuple[str, bytes, bool]]:
    event = {"type": "t", "service": "s", "actor": {"id": "a"}}
    tiny = {**event, "data": {"a": [[] for _ in range(20_000)]}}  # ~60 KB of "[]," each
    keys = {**event, "data": {f"k{i}": 1 for i in range(6_000)}}
    normal = {**event, "data": {"note": "x" * 3000, "items": [{"sku": i} for i in range(40)]}}
    deep = b'{"type":"t","service":"s","actor":{"id":"a"},"data":' + b'{"a":' * 5000
    deep += b"1" + b"}" * 5001
    return [
        (
            "64 MiB of empty objects, Content-Length",
            b"[" + b"{}," * (64 * MIB // 3) + b"{}]",
            False,
        ),
        ("20 MiB chunked", b"[" + b" " * (20 * MIB) + b"]", True),
        ("batch: 1000 normal events", orjson.dumps([normal] * 1000), False),
        ("batch: 64 events of 60 KB of []", orjson.dumps([tiny] * 64), False),
        ("batch: 64 events of 6,000 keys", orjson.dumps([keys] * 64), False),
        ("one event 5,000 levels deep", deep, False),
        ("one normal event", orjson.dumps(normal), False),
    ]


def main() -> None:
    folder = tempfile.mkdtemp(prefix="request-memory-")
    redis_port, port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--save", "", "--dir", folder],
                stdout=subprocess.DEVNULL,
            )
        )
        time.sleep(0.3)
        redis.Redis(port=redis_port).ping()
        env = {
            **os.environ,
            "PORT": str(port),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AUDIT_AUTH": "off",
            "AUDIT_MAX_BACKLOG": "100000000",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_LOG_LEVEL": "critical",
        }
        master = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py", "api:create_app()"], cwd=ROOT, env=env
        )
        processes.append(master)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        worker = int(children[0])
        head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        send(port, head, orjson.dumps([{"type": "t", "service": "s", "actor": {"id": "a"}}]))
        print(f"{'request':44} {'status':>6} {'body MiB':>9} {'peak +MiB':>10} {'x body':>7}")
        for name, body, chunked in cases():
            redis.Redis(port=redis_port).flushall()
            time.sleep(0.5)
            before = rss(worker)
            peak = [before]
            done = threading.Event()

            def sample(peak: list[int] = peak, done: threading.Event = done) -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], rss(worker))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample)
            sampler.start()
            status = send(port, head, body, chunked)
            time.sleep(0.05)
            done.set()
            sampler.join()
            grown = (peak[0] - before) / MIB
            size = len(body) / MIB
            print(f"{name:44} {status:>6} {size:>9.2f} {grown:>10.1f} {grown / size:>7.1f}")
    finally:
        stop_all(processes, folder)


if __name__ == "__main__":
    main()
