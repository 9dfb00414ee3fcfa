"""Integrity costs: worker drain with integrity on vs off, verify and proofs at a million.

Starts a private redis-server (free port, temp folder, no persistence), then:

1. drain: the same backlog of ~1 KB realistic events, drained by
   ``StreamWorker.run_burst()`` with integrity off and on (a signing key), in
   interleaved rounds. On, a run ends only when every event is integrated and signed,
   and the trees are tended two ways: by an integrator process beside the worker, as
   ``audit-trail worker`` runs them (``worker.integrator``; the figure to track, goal
   >= 0.9 of off), and inline, by the worker itself (as ``audit-trail run`` does);
2. a million events in one tenant: stored straight into Redis in the store's layout
   (not timed: the worker would take minutes), integrated by ``Integrity.integrate``
   (timed), signed, then ``verify_tenant`` over all of them (timed; goal < 30 s);
3. proofs at that million: ``GET /v1/events/<id>/proof`` through the Flask app for
   random events, and consistency proofs; p50 and p99 (goal p99 < 20 ms).

    .venv/bin/python benchmarks/integrity.py [--events N] [--rounds R] [--million M]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from worker_throughput import make_events, preload, redis_server  # noqa: E402

from api import create_app  # noqa: E402
from collector.integrity import Integrity, note_size  # noqa: E402
from collector.livecheck import verify_tenant  # noqa: E402
from collector.settings import Settings  # noqa: E402
from collector.signing import create_key_file, load_signer  # noqa: E402
from worker.integrator import IntegratorProcess  # noqa: E402
from worker.stream import StreamWorker  # noqa: E402

MODES = {"off": "integrity off", "process": "on, integrator process", "inline": "on, inline"}


def all_signed(client: redis.Redis, settings: Settings) -> bool:
    """Whether every tenant's latest checkpoint covers every event it stored."""
    keys = settings.key_names
    return all(
        note_size(client.get(keys.checkpoint(t))) == client.hlen(keys.events(t))
        for t in (t.decode() for t in client.smembers(keys.tenants))
    )


def drain(port: int, settings: Settings, n: int, mode: str) -> tuple[float, float]:
    """Events per second of one run_burst over the preloaded backlog, counted until
    everything is stored and, with integrity on, integrated and signed; and how long
    after the last event was stored that took."""
    client = redis.Redis(port=port)
    worker = StreamWorker(client, settings, name="bench", integrate=mode == "inline")
    start = time.perf_counter()
    stats = worker.run_burst()
    stored = time.perf_counter()
    deadline = time.monotonic() + 300
    while mode != "off" and not all_signed(client, settings):
        if time.monotonic() > deadline:
            raise SystemExit(f"{mode}: not all integrated and signed after 300 s")
        time.sleep(0.005)
    end = time.perf_counter()
    if stats["stored"] != n:
        raise SystemExit(f"drain stored {stats['stored']} of {n}")
    client.close()
    return n / (end - start), end - stored


def store_million(client: redis.Redis, settings: Settings, tenant: str, n: int) -> None:
    """``n`` stored events in ``tenant``, written the way the store script writes them."""
    keys = settings.key_names
    templates = [orjson.loads(e) for e in make_events(1000)]
    received = "2026-11-28T09:00:00.000000Z"
    for first in range(1, n + 1, 10_000):
        pipe = client.pipeline(transaction=False)
        bodies: dict[str, bytes] = {}
        scores: dict[str, int] = {}
        for seq in range(first, min(first + 10_000, n + 1)):
            doc = dict(templates[seq % 1000])
            doc.update(id=f"m{seq}", tenant=tenant, received_at=received, schema_version=1)
            doc.update(ingested_by="bench", seq=seq)
            bodies[doc["id"]] = orjson.dumps(doc)
            scores[doc["id"]] = seq
        pipe.hset(keys.events(tenant), mapping=bodies)  # type: ignore[arg-type]
        pipe.zadd(keys.seq_index(tenant), scores)
        pipe.execute()
    client.set(keys.seq(tenant), n)
    client.sadd(keys.tenants, tenant)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per drain run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved drain rounds")
    parser.add_argument("--million", type=int, default=1_000_000, help="events for verify")
    parser.add_argument("--proofs", type=int, default=1000, help="proof requests timed")
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="audit-bench-key-")
    key_file = os.path.join(folder, "signing.key")
    create_key_file("audit-bench", key_file)
    with redis_server() as port:
        url = f"redis://127.0.0.1:{port}/0"
        off = Settings(redis_url=url)
        on = off.with_(signing_key_file=key_file)
        client = redis.Redis(port=port)

        # 1. drain, on vs off
        events = make_events(args.events)
        rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        lags: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                integrator = IntegratorProcess(on) if mode == "process" else None
                if integrator is not None:
                    integrator.start()  # running already, as beside a production worker
                    time.sleep(2)  # its interpreter starting (spawn), not part of the drain
                preload(client, events)
                rate, lag = drain(port, off if mode == "off" else on, args.events, mode)
                rates[mode].append(rate)
                lags[mode].append(lag)
                if integrator is not None:
                    integrator.stop()
        median = {mode: statistics.median(rates[mode]) for mode in MODES}
        print(f"drain of {args.events} events, median of {args.rounds} rounds:")
        print(f"  {'':24} {'events/s':>9}  ratio  signed after the last store (median)")
        for mode, label in MODES.items():
            ratio = median[mode] / median["off"]
            lag = "" if mode == "off" else f"{statistics.median(lags[mode]) * 1000:6.0f} ms"
            print(f"  {label:24} {median[mode]:9.0f}  {ratio:5.2f}  {lag}")

        # 2. a million events: integrate, sign, verify
        client.flushall()
        n, tenant = args.million, "big"
        start = time.perf_counter()
        store_million(client, on, tenant, n)
        print(f"stored {n} events straight into Redis in {time.perf_counter() - start:.1f} s")
        integrity = Integrity(client, on)
        start = time.perf_counter()
        while integrity.integrate(tenant, batch=10_000):
            pass
        integrate_s = time.perf_counter() - start
        integrity.sign(tenant)
        print(f"integrate {n} events: {integrate_s:.1f} s ({n / integrate_s:.0f} events/s)")
        verifier = load_signer(key_file).verifier()
        start = time.perf_counter()
        report = verify_tenant(client, on, tenant, verifier)
        verify_s = time.perf_counter() - start
        if not report.ok or report.events != n:
            raise SystemExit(f"verify failed: {report.as_dict()}")
        print(f"verify {n} events: {verify_s:.1f} s ({n / verify_s:.0f} events/s)")

        # 3. proofs at a million
        app = create_app(on.with_(auth=False), client).test_client()
        rng = random.Random(3)
        timings: list[float] = []
        for _ in range(args.proofs):
            seq = rng.randrange(1, n + 1)
            start = time.perf_counter()
            response = app.get(f"/v1/events/m{seq}/proof?tenant={tenant}")
            timings.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"proof of m{seq}: {response.status_code}")
        consistency: list[float] = []
        for _ in range(args.proofs // 10):
            old = rng.randrange(1, n)
            start = time.perf_counter()
            response = app.get(f"/v1/checkpoints/consistency?tenant={tenant}&from={old}&to={n}")
            consistency.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"consistency from {old}: {response.status_code}")
        row: Any = (percentile(timings, 0.5), percentile(timings, 0.99))
        print(f"inclusion proof at {n} leaves: p50 {row[0]:.2f} ms, p99 {row[1]:.2f} ms")
        row = (percentile(consistency, 0.5), percentile(consistency, 0.99))
        print(f"consistency proof at {n} leaves: p50 {row[0]:.2f} ms, p99 {row[1]:.2f} ms")
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
