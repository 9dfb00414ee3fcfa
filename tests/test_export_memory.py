"""An export streams in constant memory: the serving process does not grow with its size.

The full-size figure (100,000 events, NDJSON and CSV) is ``benchmarks/ops_memory.py``;
this is the same measurement, smaller: 20,000 events of ~1 KB is ~20 MB of NDJSON, so a
server that held the export in memory would grow by more than that.
"""

from __future__ import annotations

import threading
import urllib.request

import psutil
import pytest
import redis
from helpers import clean_env, event, free_port, start_gunicorn, store_now, wait_for

from collector.events import prepare
from collector.settings import Settings
from collector.timefmt import now_utc

EVENTS = 20_000
GROWTH_LIMIT = 12 * 1024 * 1024
pytestmark = pytest.mark.real


def _load(client: redis.Redis) -> None:
    now = now_utc()
    data = {"note": "x" * 700, "amount": 12, "tags": ["a", "b"]}
    for start in range(0, EVENTS, 1000):
        store_now(
            client,
            Settings(),
            [
                prepare(event(id=f"e{i}", tenant="big", data=data, target={"id": f"t{i}"}), now)
                for i in range(start, start + 1000)
            ],
        )


def test_a_large_export_does_not_grow_the_serving_process(redis_server, tmp_path):
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    _load(client)
    port = free_port()
    env = clean_env(
        REDIS_URL=redis_server.url,
        AUDIT_AUTH="off",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    server = start_gunicorn(env)
    base = f"http://127.0.0.1:{port}"
    try:
        master = psutil.Process(server.pid)
        wait_for(lambda: master.children(), timeout=30)
        [worker] = master.children()

        def get(path: str) -> tuple[int, int]:
            size = lines = 0
            with urllib.request.urlopen(base + path, timeout=120) as response:
                while chunk := response.read(65536):
                    size, lines = size + len(chunk), lines + chunk.count(b"\n")
            return size, lines

        wait_for(lambda: _up(base), timeout=30)
        get("/v1/events/export?tenant=big&format=csv&type=none")  # warm both paths up
        get("/v1/events/export?tenant=none&format=ndjson")
        before = worker.memory_info().rss
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                peak[0] = max(peak[0], worker.memory_info().rss)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            size, lines = get("/v1/events/export?tenant=big&format=ndjson")
        finally:
            done.set()
            sampler.join()
        assert lines == EVENTS and size > 15 * 1024 * 1024
        assert peak[0] - before < GROWTH_LIMIT, f"grew by {(peak[0] - before) / 1e6:.1f} MB"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _up(base: str) -> bool:
    try:
        return urllib.request.urlopen(base + "/readyz", timeout=2).status == 200
    except OSError:
        return False
