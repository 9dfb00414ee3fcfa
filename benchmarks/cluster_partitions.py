"""Ingest partitions on a Redis Cluster: how the load spreads over masters, and what it costs.

Starts a private cluster of three masters with a replica each (the test suite's harness,
``tests/redis_cluster.py``), then for each partition count P:

- ingest: the API's producer path (``AuditService.submit``, batches of 100 events of
  48 tenants) puts N ~1 KB events on the P streams ``audit:ingest:{k}``;
- drain: three stream workers (threads, one client each) store them all (``run_burst``);
- spread: which master owns each stream, the share of the events the busiest master
  holds, and the share of the masters' CPU time (``INFO cpu``) it used.

P=1 runs in the same session as the baseline; the table gives events/s and the ratio to
P=1, the figures to compare on a noisy shared machine.

    .venv/bin/python benchmarks/cluster_partitions.py [--events N] [--partitions 1,3,6,12,24]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from redis_cluster import LocalCluster  # noqa: E402
from worker_throughput import make_events  # noqa: E402

from collector.connection import connect  # noqa: E402
from collector.service import AuditService  # noqa: E402
from collector.settings import Settings  # noqa: E402
from worker import StreamWorker  # noqa: E402

TENANTS = [f"tenant-{i:02d}" for i in range(48)]
BATCH = 100
WORKERS = 3


def events_for(n: int) -> list[dict[str, object]]:
    """``n`` realistic events spread over 48 tenants."""
    out = []
    for i, raw in enumerate(make_events(n)):
        event = orjson.loads(raw)
        event["tenant"] = TENANTS[i % len(TENANTS)]
        out.append(event)
    return out


def masters_cpu(cluster: LocalCluster) -> dict[int, float]:
    cpu = {}
    for node in cluster.running():
        info = node.client().info()
        if info["role"] == "master":
            cpu[node.port] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return cpu


def run(
    cluster: LocalCluster, partitions: int, events: list[dict[str, object]]
) -> dict[str, float]:
    cluster.flush()
    settings = Settings(redis_url=cluster.url, auth=False, partitions=partitions, max_backlog=10**9)
    service = AuditService(connect(cluster.url), settings)
    cpu_before = masters_cpu(cluster)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        service.submit(events[i : i + BATCH], now)
    ingest_s = time.perf_counter() - started

    workers = [
        StreamWorker(connect(cluster.url), settings, name=f"bench-{i}") for i in range(WORKERS)
    ]
    threads = [threading.Thread(target=w.run_burst) for w in workers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drain_s = time.perf_counter() - started
    cpu_after = masters_cpu(cluster)

    stored = sum(w.stats["stored"] for w in workers)
    if stored != len(events):
        raise SystemExit(f"P={partitions}: stored {stored} of {len(events)} events")
    per_master: Counter[int] = Counter()
    for stream in service.key_names.ingest_streams():
        per_master[cluster.node_for_key(stream).port] += int(service.redis.xlen(stream))
    cpu = {port: cpu_after[port] - cpu_before.get(port, 0.0) for port in cpu_after}
    return {
        "ingest": len(events) / ingest_s,
        "drain": len(events) / drain_s,
        "masters": len(per_master),
        "busiest_events": max(per_master.values()) / len(events),
        "busiest_cpu": max(cpu.values()) / sum(cpu.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", default="1,3,6,12,24")
    args = parser.parse_args()
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        sys.exit("redis-server and redis-cli must be on PATH")
    counts = [int(p) for p in args.partitions.split(",")]
    if 1 not in counts:
        counts.insert(0, 1)
    events = events_for(args.events)
    cluster = LocalCluster(server, cli)
    try:
        cluster.start()
        results = {p: run(cluster, p, events) for p in counts}
    finally:
        cluster.cleanup()
    base = results[1]
    print(f"{args.events} events, {WORKERS} workers, 3 masters (1 replica each), 48 tenants")
    print(
        f"{'P':>3} {'ingest ev/s':>12} {'x P=1':>6} {'drain ev/s':>11} {'x P=1':>6} "
        f"{'masters':>7} {'busiest: events':>15} {'cpu':>6}"
    )
    for p, r in results.items():
        print(
            f"{p:>3} {r['ingest']:>12,.0f} {r['ingest'] / base['ingest']:>6.2f} "
            f"{r['drain']:>11,.0f} {r['drain'] / base['drain']:>6.2f} {r['masters']:>7.0f} "
            f"{r['busiest_events']:>15.0%} {r['busiest_cpu']:>6.0%}"
        )


if __name__ == "__main__":
    main()
