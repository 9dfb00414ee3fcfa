"""Memory figures for operators: Redis bytes per stored event, and an export's footprint.

1. **Redis memory per event.** A private redis-server (as ``worker_throughput.py``
   starts it); ``used_memory`` before and after storing N realistic ~1 KB events (the
   same generator) through the product's store (event hash, ``seq``, the time index
   and five filter indexes per event). Printed per event, beside the events' JSON size.
2. **Export memory.** gunicorn with the project's config and one process serves
   ``GET /v1/events/export`` of N events (NDJSON, then CSV); the serving process's RSS
   is sampled every 20 ms while the download is read and thrown away. Printed: the
   RSS growth for a tenth of the events (the baseline, same run) and for all of them;
   constant memory means the two are about equal whatever N.

    .venv/bin/python benchmarks/ops_memory.py [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import psutil
import redis
from processes import free_port
from worker_throughput import make_events, redis_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.events import prepare  # noqa: E402
from collector.settings import Settings  # noqa: E402
from collector.timefmt import now_utc  # noqa: E402
from collector.writer import BatchWriter, Delivery  # noqa: E402

TENANT = "acme"


def store_all(client: redis.Redis, raw: list[bytes], tenant: str | None = None) -> None:
    """Store the events through the product's store, 500 per script call."""
    writer = BatchWriter(client, Settings())
    now = now_utc()
    for i in range(0, len(raw), 500):
        batch = []
        for blob in raw[i : i + 500]:
            event = orjson.loads(blob)
            if tenant:
                event["tenant"] = tenant
            batch.append(prepare(event, now))
        if writer.write([Delivery(e.id, e) for e in batch]).failed:
            raise SystemExit("storing failed")


def minimal_events(n: int) -> list[bytes]:
    """``n`` of the smallest realistic events: type, service, actor, a short data."""
    return [
        orjson.dumps(
            {
                "id": f"{i:032x}",
                "type": "user.login",
                "service": "auth",
                "actor": {"id": f"user-{i % 5000}"},
                "data": {"ok": True},
            }
        )
        for i in range(n)
    ]


def bytes_per_event(port: int, n: int) -> None:
    client = redis.Redis(port=port)
    print(f"redis memory per stored event ({n} events each):")
    for label, raw in (("realistic", make_events(n)), ("minimal", minimal_events(n))):
        client.flushall()
        before = int(client.info("memory")["used_memory"])
        store_all(client, raw)
        after = int(client.info("memory")["used_memory"])
        json_size = sum(len(r) for r in raw) / n
        per_event = (after - before) / n
        print(
            f"  {label:<9} JSON {json_size:>6,.0f} B  in Redis {per_event:>6,.0f} B  "
            f"overhead {per_event - json_size:>5,.0f} B  ratio {per_event / json_size:.2f}"
        )


class PeakRss:
    """Samples a process's RSS on a thread until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def download(url: str) -> tuple[int, int]:
    """(bytes, lines) of a streamed response, read in 64 KB chunks and dropped."""
    size = lines = 0
    with urllib.request.urlopen(url, timeout=600) as response:
        while chunk := response.read(65536):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines


def export_memory(redis_port: int, n: int) -> None:
    client = redis.Redis(port=redis_port)
    client.flushall()
    raw = make_events(n)
    small = n // 10
    store_all(client, raw[:small], tenant="small")
    store_all(client, raw, tenant=TENANT)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AUDIT_AUTH": "off",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "AUDIT_LOG_FORMAT": "json",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "api:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        worker = psutil.Process(server.pid).children()[0]
        download(f"{base}/v1/events/export?tenant=small&format=csv")  # warm up both paths
        print(f"export memory: gunicorn 1 process; {n} events in tenant {TENANT}")
        header = ("format", "events", "MB sent", "seconds", "RSS MB", "growth MB")
        print("  {:<7} {:>8} {:>8} {:>8} {:>7} {:>9}".format(*header))
        for fmt in ("ndjson", "csv"):
            for tenant, count in (("small", small), (TENANT, n)):
                rss = worker.memory_info().rss
                sampler = PeakRss(worker.pid)
                started = time.perf_counter()
                size, lines = download(f"{base}/v1/events/export?tenant={tenant}&format={fmt}")
                seconds = time.perf_counter() - started
                peak = sampler.stop()
                expected = count + (1 if fmt == "csv" else 0)
                if fmt == "ndjson" and lines != expected:
                    raise SystemExit(f"export returned {lines} lines, expected {expected}")
                print(
                    f"  {fmt:<7} {count:>8} {size / 1e6:>8.1f} {seconds:>8.2f} "
                    f"{rss / 1e6:>7.1f} {(peak - rss) / 1e6:>9.1f}"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with redis_server() as port:
        bytes_per_event(port, min(args.events, 50_000))
        export_memory(port, args.events)


if __name__ == "__main__":
    main()
