"""Stream-worker throughput: the product's worker against a bare Python consumer.

Starts a private redis-server (free port, temp folder, no persistence), preloads the
ingest stream with ~1 KB realistic events (pipelined XADD, not timed), then times:

- baseline: XREADGROUP COUNT 256, then one pipeline per batch of SET (the event JSON by
  its id) + ZADD (time index) per event and one XACK; no validation (redis-py + hiredis);
- same writes: the same read, then the product's own writes (its ``Store``: the store
  script, keys, compressed bodies) built straight from each event's JSON, no validation;
- product: ``StreamWorker(redis, settings, name).run_burst()`` on the same events, from a
  fresh database, with the interpreter settings ``audit-trail worker`` applies
  (``collector.runtime``: garbage collection, switch interval; the bare consumers keep
  the interpreter's), then checks that every event was stored (the tenants' event hashes).

Rounds interleave (baseline, same writes, product, baseline, ...); the table shows the
median events/s of each and the ratios of the product to both, the figures that matter
on a noisy shared machine.

    .venv/bin/python benchmarks/worker_throughput.py [--events N] [--rounds R] [--profile] [--http]

``--http`` preloads the first HTTP ingest stream instead (each event with the fields the
API sets beside it), which the worker reads with a plain ``XREADGROUP`` rather than the
guarded read of a direct producers' stream.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis
from processes import free_port

ROOT = Path(__file__).resolve().parents[1]  # the repo (or a scratch copy of it)
STREAM = "audit:ingest"  # --http: the first HTTP ingest stream instead
# the fields the API sets beside each event on an HTTP stream (--http)
HTTP_FIELDS = {"received_at": "2026-11-29T00:00:00.000000Z", "ingested_by": "bench"}
EXTRA_FIELDS: dict[str, str] = {}  # what each preloaded entry has beside its event
GROUP = "audit-workers"
TENANTS = ("acme", "globex", "initech", "umbrella")
BATCH = 256


# -- the private redis-server --------------------------------------------------------------
@contextmanager
def redis_server() -> Iterator[int]:
    """A throwaway redis-server on a free port; yields the port, removes everything after."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH")
    folder = tempfile.mkdtemp(prefix="audit-bench-redis-")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
    args += ["--save", "", "--appendonly", "no", "--logfile", os.path.join(folder, "log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


# -- realistic events ----------------------------------------------------------------------
def make_events(n: int, seed: int = 7) -> list[bytes]:
    """``n`` serialized v1 events of about 1 KB: actor, target, ~25 keys of data."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    types = ("user.login", "user.logout", "invoice.paid", "invoice.created", "role.granted")
    services = ("auth-service", "billing", "admin-portal", "payments-api")
    out: list[bytes] = []
    for i in range(n):
        when = start + timedelta(milliseconds=i * 7 + rng.randrange(5))
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tenant": rng.choice(TENANTS),
            "type": rng.choice(types),
            "service": rng.choice(services),
            "occurred_at": when.isoformat().replace("+00:00", "Z"),
            "actor": {
                "id": f"user-{rng.randrange(5000)}",
                "type": "user",
                "name": f"User Number {rng.randrange(5000)}",
                "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0",
            },
            "outcome": rng.choice(("success", "success", "success", "failure")),
            "request_id": f"req-{rng.getrandbits(64):016x}",
            "trace_id": f"{rng.getrandbits(128):032x}",
        }
        if rng.random() < 0.9:
            event["target"] = {
                "id": f"invoice-{rng.randrange(100000)}",
                "type": "invoice",
                "name": f"Invoice {rng.randrange(100000)}",
            }
        data: dict[str, Any] = {
            "amount_cents": rng.randrange(100, 1_000_000),
            "currency": rng.choice(("EUR", "USD", "GBP")),
            "country": rng.choice(("DE", "FR", "US", "GB", "NL")),
            "session_id": f"sess-{rng.getrandbits(48):012x}",
            "mfa": rng.random() < 0.5,
            "attempt": rng.randrange(1, 4),
            "plan": rng.choice(("free", "pro", "enterprise")),
            "ratio": round(rng.random(), 4),
            "tags": [rng.choice(("a", "b", "c", "vip", "beta")) for _ in range(3)],
            "client": {"app": "web", "version": f"4.{rng.randrange(20)}.{rng.randrange(9)}"},
            "previous_state": rng.choice(("active", "suspended", "pending")),
            "new_state": rng.choice(("active", "suspended", "closed")),
            "reason": "requested by the account owner through the settings page",
            "locale": rng.choice(("de-DE", "en-US", "fr-FR")),
            "timezone": rng.choice(("Europe/Berlin", "America/New_York", "UTC")),
            "dry_run": False,
            "items": rng.randrange(1, 50),
            "discount": None,
            "invoice_number": f"INV-{rng.randrange(10**8):08d}",
            "payment_method": rng.choice(("card", "sepa", "paypal")),
            "card_last4": f"{rng.randrange(10000):04d}",
            "risk_score": rng.randrange(100),
            "source": "checkout",
            "campaign": rng.choice(("spring", "summer", "none")),
            "note": "x" * rng.randrange(20, 60),
        }
        event["data"] = data
        out.append(orjson.dumps(event))
    return out


def preload(client: redis.Redis, events: list[bytes]) -> None:
    """A fresh database holding the events on the ingest stream (not timed)."""
    client.flushall()
    for i in range(0, len(events), 2000):
        pipe = client.pipeline(transaction=False)
        for raw in events[i : i + 2000]:
            pipe.xadd(STREAM, {"event": raw, **EXTRA_FIELDS})
        pipe.execute()
    client.xgroup_create(STREAM, GROUP, id="0")


# -- the two consumers ---------------------------------------------------------------------
class Meter:
    """Wall time, this process's CPU time (all threads) and redis-server's CPU time."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _server_cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def __enter__(self) -> Meter:
        self.server = self._server_cpu()
        self.cpu = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.server = self._server_cpu() - self.server


def run_baseline(client: redis.Redis, n: int) -> Meter:
    """The bare consumer: read, SET + ZADD per event, XACK, one pipeline per batch."""
    loads = orjson.loads
    done = 0
    meter = Meter(client).__enter__()
    while True:
        reply = client.xreadgroup(GROUP, "bare", {STREAM: ">"}, count=BATCH)
        if not reply:
            break
        entries = reply[0][1]
        pipe = client.pipeline(transaction=False)
        ids = []
        for entry_id, fields in entries:
            raw = fields[b"event"]
            event_id = loads(raw)["id"]
            ms = int(entry_id.split(b"-", 1)[0])
            pipe.set(f"bench:e:{event_id}", raw)
            pipe.zadd("bench:ix:time", {event_id: ms})
            ids.append(entry_id)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.execute()
        done += len(entries)
    meter.__exit__()
    stored = client.zcard("bench:ix:time")
    pending = client.xpending(STREAM, GROUP)["pending"]
    if done != n or stored != n or pending:
        raise SystemExit(f"baseline: read {done}, stored {stored}, pending {pending}; want {n}")
    return meter


def run_same_writes(client: redis.Redis, port: int, n: int) -> Meter:
    """A bare consumer making the product's own writes: read, build each event's stored
    body and index entries straight from its JSON (no validation, no defaults checked),
    store them through the product's ``Store`` (the same script, keys, compression and
    dictionaries), XACK; one pipeline per batch, nothing overlapped."""
    from collector import scripts
    from collector.events import UNINDEXED, PreparedEvent, index_of
    from collector.keys import KeyNames
    from collector.store import Store
    from collector.timefmt import format_utc, now_utc, sort_key

    url = f"redis://127.0.0.1:{port}/0"
    worker_client = redis.Redis.from_url(url)
    store = Store(worker_client, KeyNames())
    scripts.load_all(worker_client)
    loads, dumps, parse = orjson.loads, orjson.dumps, datetime.fromisoformat
    done = 0
    with Meter(client) as meter:
        while True:
            reply = worker_client.xreadgroup(GROUP, "same", {STREAM: ">"}, count=BATCH)
            if not reply:
                break
            entries = reply[0][1]
            received = format_utc(now_utc())
            events = []
            for _, fields in entries:
                doc = loads(fields[b"event"])
                doc["received_at"] = received
                doc["schema_version"] = 1
                doc["ingested_by"] = f"stream:{STREAM}"
                when = sort_key(parse(doc["occurred_at"]))
                indexed = tuple(p for p in index_of(doc) if p != UNINDEXED)
                body = dumps(doc)[:-1]
                events.append(
                    PreparedEvent(doc["tenant"], doc["id"], f"{when}|{doc['id']}", body, indexed)
                )
            calls = store.store_calls(events)
            pipe = worker_client.pipeline(transaction=False)
            for call in calls:
                scripts.pipe_call(pipe, call.call)
            pipe.sadd(store.key_names.tenants, *{call.tenant for call in calls})
            pipe.xack(STREAM, GROUP, *(entry_id for entry_id, _ in entries))
            replies = pipe.execute()
            for call, seqs in zip(calls, replies, strict=False):
                store.stored(call.tenant, seqs)
            done += len(entries)
    worker_client.close()
    tenants = [t.decode() for t in client.smembers("audit:tenants")]
    stored = sum(client.hlen(f"audit:t:{{{t}}}:events") for t in tenants)
    if done != n or stored != n:
        raise SystemExit(f"same writes: read {done}, stored {stored}; want {n}")
    return meter


def run_product(client: redis.Redis, port: int, n: int, profile: cProfile.Profile | None) -> Meter:
    """One StreamWorker.run_burst() over the backlog; checks every event was stored."""
    from collector.runtime import tune_for_stream_workers
    from collector.settings import Settings
    from worker.stream import StreamWorker

    url = f"redis://127.0.0.1:{port}/0"
    worker_client = redis.Redis.from_url(url)
    worker = StreamWorker(worker_client, Settings(redis_url=url), name="bench")
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    tune_for_stream_workers()  # as `audit-trail worker` does before consuming
    try:
        with Meter(client) as meter:
            if profile:
                profile.enable()
            stats = worker.run_burst()
            if profile:
                profile.disable()
    finally:  # the bare consumers run with the interpreter's defaults
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
    worker_client.close()
    tenants = [t.decode() for t in client.smembers("audit:tenants")]
    stored = sum(client.hlen(f"audit:t:{{{t}}}:events") for t in tenants)
    pending = client.xpending(STREAM, GROUP)["pending"]
    if stats["stored"] != n or stored != n or pending or stats["dead"]:
        raise SystemExit(f"product: stats {stats}, {stored} in tenant hashes, {pending} pending")
    return meter


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the product runs; print the top"
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="preload an HTTP ingest stream (the API's fields beside each event)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.http:
        global STREAM
        from collector.keys import KeyNames

        STREAM = KeyNames().http_streams()[0]
        EXTRA_FIELDS.update(HTTP_FIELDS)

    events = make_events(args.events)
    size = statistics.mean(len(e) for e in events)
    print(f"{args.events} events of {size:.0f} bytes on average, {args.rounds} rounds, on {STREAM}")
    profile = cProfile.Profile() if args.profile else None
    base: list[Meter] = []
    same: list[Meter] = []
    prod: list[Meter] = []
    with redis_server() as port:
        client = redis.Redis(port=port)
        for r in range(1, args.rounds + 1):
            preload(client, events)
            base.append(run_baseline(client, args.events))
            preload(client, events)
            same.append(run_same_writes(client, port, args.events))
            preload(client, events)
            prod.append(run_product(client, port, args.events, profile))
            b, w, p = (args.events / m[-1].wall for m in (base, same, prod))
            rates = f"baseline {b:>9,.0f}/s  same writes {w:>9,.0f}/s  product {p:>9,.0f}/s"
            print(f"  round {r}: {rates}")
        client.close()

    n = args.events
    rows = []
    for name, meters in (("baseline", base), ("same", same), ("product", prod)):
        rate = statistics.median(n / m.wall for m in meters)
        cpu = statistics.median(m.cpu / n * 1e6 for m in meters)
        server = statistics.median(m.server / n * 1e6 for m in meters)
        rows.append((name, rate, cpu, server))
    print()
    head = ("consumer", "median ev/s", "wall us/ev", "py CPU us/ev", "redis CPU us/ev")
    print(f"{head[0]:<10} {head[1]:>12} {head[2]:>11} {head[3]:>13} {head[4]:>16}")
    for name, rate, cpu, server in rows:
        print(f"{name:<10} {rate:>12,.0f} {1e6 / rate:>11.1f} {cpu:>13.1f} {server:>16.1f}")
    print(f"{'ratio':<10} {rows[2][1] / rows[0][1]:>12.2f}   (product / baseline events/s)")
    print(f"{'ratio':<10} {rows[2][1] / rows[1][1]:>12.2f}   (product / same writes events/s)")
    print("CPU columns: medians per event of this process (all threads) and of redis-server;")
    print("unlike wall time they hardly move with load from other processes.")
    if profile:
        print()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
