"""Does ``/healthz`` keep answering while slow clients hold connections open?

Starts a private ``redis-server`` and gunicorn with the shipped ``gunicorn.conf.py``
(``GUNICORN_*`` variables pick the worker class and threads to compare), then opens:

* ``--slowloris`` connections that send a request's headers one byte a second and never
  finish them;
* ``--held`` requests that stay inside the app: ``POST /v1/events`` with a
  ``Content-Length`` of 10,000 whose body arrives one byte a second. Like a live tail,
  each keeps a request in the app open for as long as the client likes;
* ``--big`` concurrent clients that post 2 MiB batches in a loop (CPU in the app).

Meanwhile it asks ``GET /healthz`` twice a second, each time on a new connection, and
prints the slowest answer and how many took over a second or failed.

    .venv/bin/python benchmarks/slow_clients.py [--seconds 20] [--slowloris 64] [--held 50]
    GUNICORN_WORKER_CLASS=gthread GUNICORN_THREADS=64 .venv/bin/python benchmarks/slow_clients.py
"""

from __future__ import annotations

import argparse
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


def wait_until(check, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit("did not start in time")


def trickle(
    port: int, head: bytes, payload: bytes, stop: threading.Event, opened: list[int]
) -> None:
    """Send ``head`` at once, then ``payload`` one byte a second until stopped (or the
    server hangs up)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head)
    except OSError:
        return
    opened.append(1)
    with sock:
        for byte in payload:
            if stop.wait(1.0):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return


def big_posts(port: int, stop: threading.Event, counts: list[int]) -> None:
    event = {"type": "t", "service": "s", "actor": {"id": "a"}, "data": {"x": "y" * 1800}}
    body = orjson.dumps([event] * 1000)
    while not stop.is_set():
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/events",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except Exception:
            pass
        counts.append(1)


def probe(port: int) -> float:
    """Seconds for one GET /healthz on a new connection (inf on failure)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            response.read()
            if response.status != 200:
                return float("inf")
    except Exception:
        return float("inf")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--slowloris", type=int, default=64)
    parser.add_argument("--held", type=int, default=50)
    parser.add_argument("--big", type=int, default=0)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="slow-clients-")
    redis_port, port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    try:
        processes.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--save", "", "--dir", folder],
                stdout=subprocess.DEVNULL,
            )
        )
        wait_until(lambda: redis.Redis(port=redis_port).ping())
        env = {
            **os.environ,
            "PORT": str(port),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AUDIT_AUTH": "off",
            "GUNICORN_LOG_LEVEL": "warning",
        }
        processes.append(
            subprocess.Popen(
                [str(GUNICORN), "--config", "gunicorn.conf.py", "api:create_app()"],
                cwd=ROOT,
                env=env,
                stderr=open(os.path.join(folder, "gunicorn.log"), "wb"),  # noqa: SIM115
            )
        )
        wait_until(lambda: probe(port) < 5)
        opened: list[int] = []
        posted: list[int] = []
        headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
        body_head = (
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n"
        )
        threads = [
            threading.Thread(target=trickle, args=(port, b"", headers, stop, opened), daemon=True)
            for _ in range(args.slowloris)
        ]
        # the headers whole, then the body a byte a second: the request is in the app
        threads += [
            threading.Thread(
                target=trickle, args=(port, body_head, b"[" * 10000, stop, opened), daemon=True
            )
            for _ in range(args.held)
        ]
        threads += [
            threading.Thread(target=big_posts, args=(port, stop, posted), daemon=True)
            for _ in range(args.big)
        ]
        for thread in threads:
            thread.start()
        time.sleep(3)  # every slow connection has sent a byte or two
        latencies = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            latencies.append(probe(port))
            time.sleep(0.5)
        stop.set()
        worst = max(latencies)
        slow = sum(1 for t in latencies if t > 1.0)
        ordered = sorted(latencies)
        print(
            f"worker_class={os.environ.get('GUNICORN_WORKER_CLASS', '(config)')} "
            f"threads={os.environ.get('GUNICORN_THREADS', '(config)')} "
            f"slowloris={args.slowloris} held={args.held} big={args.big}: "
            f"{len(latencies)} probes, median {ordered[len(ordered) // 2] * 1000:.0f} ms, "
            f"max {worst * 1000:.0f} ms, over 1 s or failed: {slow}, big posts: {len(posted)}, "
            f"slow connections opened: {len(opened)}"
        )
    finally:
        stop.set()
        stop_all(processes, folder)


if __name__ == "__main__":
    main()
