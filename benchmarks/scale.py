"""Cost at scale: memory, Redis CPU and read latency with a million events in one tenant.

Starts a private redis-server (free port, temp folder, no persistence), then:

1. Load: a producer (this process) XADDs realistic events (~865 bytes of JSON: a mix of
   types, 5,000 actors, 20,000 targets, ~5% failures, spread over a month) onto the
   ingest stream in pipelines, while ``audit-trail worker`` processes consume them; the
   backlog is kept bounded so the stream never holds more than a slice of the load.
   Printed: Redis ``used_memory`` per stored event (the ingest stream deleted first)
   against the raw JSON, the same per key kind, and Redis CPU per stored event
   (``INFO cpu`` user+sys over the whole load, the producer's XADDs included).
2. Reads: gunicorn with the project's ``gunicorn.conf.py`` serves ``api:create_app()``;
   one keep-alive client times every query shape (by id, one filter each, pairs, a pair
   with no common event, a time window, ``limit=1000``, page 1 vs page 200 of a cursor
   walk). Printed: p50/p99 per shape, and the largest ``SLOWLOG`` entry of the load and
   of the reads (every command over 1 ms is logged).

    .venv/bin/python benchmarks/scale.py [--events 1000000] [--requests 200] [--load-only]
    make bench-scale

A million events take several minutes and ~3 GB of RAM in Redis; ``--events 100000``
is a quick run.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import redis
from http_ingest import GUNICORN, free_port, healthy, stop, wait_until
from worker_throughput import redis_server

ROOT = Path(__file__).resolve().parents[1]
TENANT = "acme"
ACTORS = 5_000
TARGETS = 20_000
DAYS = 30
START = datetime(2026, 10, 1, tzinfo=UTC)
PRODUCE_CHUNK = 2_000
MAX_BACKLOG = 60_000  # entries on the stream not yet acked: the producer waits above this
SLOW_US = 1_000  # SLOWLOG threshold: every command over 1 ms

# type -> (share of events, producing service, failure rate). Two types never fail: the
# pair (type=user.logout, outcome=failure) matches nothing although both sets are large.
TYPES: dict[str, tuple[float, str, float]] = {
    "user.login": (0.25, "auth-service", 0.13),
    "user.logout": (0.10, "auth-service", 0.0),
    "session.refreshed": (0.10, "auth-service", 0.0),
    "invoice.created": (0.10, "billing", 0.03),
    "invoice.paid": (0.10, "billing", 0.04),
    "payment.refunded": (0.05, "payments-api", 0.06),
    "role.granted": (0.05, "admin-portal", 0.02),
    "role.revoked": (0.03, "admin-portal", 0.02),
    "document.viewed": (0.15, "docs", 0.01),
    "document.shared": (0.07, "docs", 0.05),
}
NEVER_FAILS = "user.logout"


# -- realistic events ----------------------------------------------------------------------
class EventMaker:
    """Deterministic events in arrival order; ``occurred_at`` mostly follows arrival."""

    def __init__(self, total: int, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.types = list(TYPES)
        self.weights = [TYPES[t][0] for t in self.types]
        self.span_us = DAYS * 86_400 * 1_000_000
        # a few busy actors and many quiet ones, as in real systems
        self.actor_cum = list(itertools.accumulate(1 / (i + 10) for i in range(ACTORS)))
        self.sample_ids: list[str] = []

    def make(self, i: int) -> bytes:
        rng = self.rng
        kind = rng.choices(self.types, self.weights)[0]
        _, service, failure_rate = TYPES[kind]
        when_us = self.span_us * i // self.total + rng.randrange(-60_000_000, 60_000_000)
        if rng.random() < 0.01:  # a late arrival, hours old
            when_us -= rng.randrange(3_600_000_000, 6 * 3_600_000_000)
        when = START + timedelta(microseconds=max(0, when_us))
        actor = rng.choices(range(ACTORS), cum_weights=self.actor_cum)[0]
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.0005 and len(self.sample_ids) < 5000:
            self.sample_ids.append(event_id)
        event: dict[str, Any] = {
            "id": event_id,
            "tenant": TENANT,
            "type": kind,
            "service": service,
            "occurred_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "actor": {
                "id": f"user-{actor:05d}",
                "type": "user",
                "name": f"User {actor:05d}",
                "ip": f"10.{actor % 256}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            },
            "outcome": "failure" if rng.random() < failure_rate else "success",
            "request_id": f"req-{rng.getrandbits(64):016x}",
            "trace_id": f"{rng.getrandbits(128):032x}",
        }
        if rng.random() < 0.9:
            target = rng.randrange(TARGETS)
            event["target"] = {
                "id": f"obj-{target:05d}",
                "type": service.split("-")[0],
                "name": f"Object {target:05d}",
            }
        event["data"] = {
            "session_id": f"sess-{rng.getrandbits(48):012x}",
            "client": {"app": "web", "version": f"4.{rng.randrange(20)}.{rng.randrange(9)}"},
            "mfa": rng.random() < 0.5,
            "attempt": rng.randrange(1, 4),
            "amount_cents": rng.randrange(100, 1_000_000),
            "currency": rng.choice(("EUR", "USD", "GBP")),
            "country": rng.choice(("DE", "FR", "US", "GB", "NL")),
            "locale": rng.choice(("de-DE", "en-US", "fr-FR")),
            "plan": rng.choice(("free", "pro", "enterprise")),
            "previous_state": rng.choice(("active", "suspended", "pending")),
            "new_state": rng.choice(("active", "suspended", "closed")),
            "reason": "requested by the account owner in the settings",
            "risk_score": rng.randrange(100),
            "tags": [rng.choice(("a", "b", "vip", "beta", "trial")) for _ in range(3)],
            "note": "x" * rng.randrange(0, 20),
        }
        return orjson.dumps(event)


# -- load ----------------------------------------------------------------------------------
def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def slowlog_max(client: redis.Redis) -> tuple[float, str]:
    """The slowest logged commands (ms of the worst, and the top three named), then clear."""
    entries = sorted(client.slowlog_get(100_000), key=lambda e: -e["duration"])
    client.slowlog_reset()
    if not entries:
        return 0.0, "none over 1 ms"
    from collector import scripts

    script_of = {scripts.sha(name): name for name in scripts.NAMES}
    names = []
    for entry in entries[:3]:
        command = entry["command"]
        text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        words = text.split(" ")
        name = words[0][:12]
        if name.upper() == "EVALSHA" and len(words) > 1:  # which script
            name = f"{name} {script_of.get(words[1], words[1][:8])}"
        names.append(f"{name} {entry['duration'] / 1000:.1f}")
    return entries[0]["duration"] / 1000, ", ".join(names)


def backlog(client: redis.Redis) -> int:
    for group in client.xinfo_groups("audit:ingest"):
        return int(group.get("lag") or 0) + int(group.get("pending") or 0)
    return 0


def start_workers(count: int, url: str, folder: str) -> list[subprocess.Popen[bytes]]:
    """``count`` ``audit-trail worker`` processes running this tree, logging to ``folder``."""
    env = {**os.environ, "REDIS_URL": url, "AUDIT_LOG_FORMAT": "text"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    binary = str(Path(sys.executable).parent / "audit-trail")
    procs = []
    for n in range(count):
        with open(os.path.join(folder, f"worker-{n}.log"), "ab") as log:
            command = [binary, "worker", "--name", f"scale-{n}"]
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT))
    return procs


def stored_count(client: redis.Redis) -> int:
    """Events stored in the tenant, through the Store's own count (whatever the layout)."""
    from collector.keys import KeyNames
    from collector.store import Store

    return Store(client, KeyNames()).count(TENANT)


@dataclass
class Load:
    events: int
    raw_bytes: int
    seconds: float
    memory: int  # used_memory delta with the ingest stream deleted
    as_left: int  # used_memory delta with the stream as the workers left it
    left_on_stream: int
    redis_cpu_s: float
    slowest: tuple[float, str]
    breakdown: dict[str, int]
    sample_ids: list[str]
    commands: dict[str, tuple[int, float]]  # command -> (calls, µs) over the load


def load(client: redis.Redis, url: str, n: int, workers: int, folder: str) -> Load:
    """Produce ``n`` events onto the ingest stream while worker processes store them."""
    client.config_set("slowlog-log-slower-than", SLOW_US)
    client.config_set("slowlog-max-len", 100_000)
    client.xgroup_create("audit:ingest", "audit-workers", id="0", mkstream=True)
    memory_before = int(client.info("memory")["used_memory"])
    client.slowlog_reset()
    maker = EventMaker(n)
    commands_before = command_stats(client)
    cpu_before, started = redis_cpu(client), time.perf_counter()
    procs = start_workers(workers, url, folder)
    raw_bytes = 0
    try:
        for first in range(0, n, PRODUCE_CHUNK):
            pipe = client.pipeline(transaction=False)
            for i in range(first, min(n, first + PRODUCE_CHUNK)):
                raw = maker.make(i)
                raw_bytes += len(raw)
                pipe.xadd("audit:ingest", {"event": raw})
            pipe.execute()
            while backlog(client) > MAX_BACKLOG:
                time.sleep(0.02)
            if first // PRODUCE_CHUNK % 50 == 0:
                print(f"  produced {first + PRODUCE_CHUNK:>9,}", end="\r", flush=True)
        print()
        deadline = time.monotonic() + 600
        while stored_count(client) < n or backlog(client):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(
                    f"load stalled: {stored_count(client)} of {n} stored; see {folder}"
                )
            time.sleep(0.05)
        seconds, cpu = time.perf_counter() - started, redis_cpu(client) - cpu_before
        commands = command_stats(client, since=commands_before)
        settle = time.monotonic() + 5  # idle workers trim what they consumed
        while client.xlen("audit:ingest") > 1000 and time.monotonic() < settle:
            time.sleep(0.1)
        as_left = int(client.info("memory")["used_memory"]) - memory_before
        left_on_stream = int(client.xlen("audit:ingest"))
    finally:
        for proc in procs:
            stop(proc)
    slowest = slowlog_max(client)
    dead = int(client.xlen("audit:dead")) if client.exists("audit:dead") else 0
    if dead:
        raise SystemExit(f"{dead} events were dead-lettered; see {folder}")
    client.delete("audit:ingest")
    memory = int(client.info("memory")["used_memory"]) - memory_before
    kinds = breakdown(client)
    return Load(
        n,
        raw_bytes,
        seconds,
        memory,
        as_left,
        left_on_stream,
        cpu,
        slowest,
        kinds,
        maker.sample_ids,
        commands,
    )


def command_stats(
    client: redis.Redis, since: dict[str, tuple[int, float]] | None = None
) -> dict[str, tuple[int, float]]:
    """Calls and µs per command (``INFO commandstats``), less ``since``'s."""
    stats = {
        name: (int(row["calls"]), float(row["usec"]))
        for name, row in client.info("commandstats").items()
    }
    for name, (calls, usec) in (since or {}).items():
        now_calls, now_usec = stats.get(name, (0, 0.0))
        stats[name] = (now_calls - calls, now_usec - usec)
    return {name: row for name, row in stats.items() if row[0] > 0}


def breakdown(client: redis.Redis) -> dict[str, int]:
    """Estimated bytes (MEMORY USAGE) per kind of key in the tenant's store."""
    tag = f"audit:t:{{{TENANT}}}:"
    kinds: dict[str, int] = {}
    for key in client.scan_iter(match=tag + "*", count=1000):
        parts = key.decode()[len(tag) :].split(":")
        kind = ":".join(parts[:2]) if parts[0] == "ix" else parts[0]
        kinds[kind] = kinds.get(kind, 0) + int(client.memory_usage(key) or 0)
    return kinds


# -- reads ---------------------------------------------------------------------------------
class Client:
    """One keep-alive HTTP connection; every request timed."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
        return elapsed, orjson.loads(body)


def list_path(params: dict[str, Any]) -> str:
    return "/v1/events?" + urlencode({"tenant": TENANT, **params})


def shapes(rng: random.Random, sample_ids: list[str]) -> dict[str, Callable[[], str]]:
    """Query shape -> a function making the next request path (values vary per request)."""
    types = list(TYPES)
    failing = [t for t in types if TYPES[t][2] > 0]
    services = sorted({s for _, s, _ in TYPES.values()})

    def actor() -> str:
        return f"user-{rng.randrange(ACTORS):05d}"

    def target() -> str:
        return f"obj-{rng.randrange(TARGETS):05d}"

    def day() -> dict[str, str]:
        start = START + timedelta(days=rng.randrange(DAYS - 1), hours=rng.randrange(24))
        end = start + timedelta(days=1)
        return {
            "since": start.isoformat().replace("+00:00", "Z"),
            "until": end.isoformat().replace("+00:00", "Z"),
        }

    def one(**fixed: Callable[[], str] | str) -> Callable[[], str]:
        return lambda: list_path({k: v() if callable(v) else v for k, v in fixed.items()})

    def pick(values: list[str]) -> Callable[[], str]:
        return lambda: rng.choice(values)

    return {
        "by id": lambda: f"/v1/events/{rng.choice(sample_ids)}?tenant={TENANT}",
        "no filter": one(),
        "service": one(service=pick(services)),
        "type": one(type=pick(types)),
        "actor_id": one(actor_id=actor),
        "target_id": one(target_id=target),
        "outcome=failure": one(outcome="failure"),
        "type+service": one(type="invoice.paid", service="billing"),
        "type+outcome=failure": one(type=pick(failing), outcome="failure"),
        "type+actor_id": one(type="user.login", actor_id=actor),
        "actor_id+outcome=failure": one(actor_id=actor, outcome="failure"),
        "actor_id+target_id": one(actor_id=actor, target_id=target),
        "service+outcome=failure": one(service=pick(services), outcome="failure"),
        "no match: type+outcome": one(type=NEVER_FAILS, outcome="failure"),
        "no match: type+service": one(type="session.refreshed", service="billing"),
        "time window (1 day)": lambda: list_path(day()),
        "time window+type": lambda: list_path({**day(), "type": rng.choice(types)}),
        "type, order=asc": one(type=pick(types), order="asc"),
        "limit=1000": one(limit="1000"),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Timing:
    name: str
    times: list[float]
    items: float
    slowest_ms: float = 0.0  # the longest Redis command of this shape (SLOWLOG)

    def row(self) -> str:
        p50, p99 = percentile(self.times, 0.5), percentile(self.times, 0.99)
        cells = f"{p50:8.1f} {p99:8.1f} {max(self.times):8.1f} {self.items:8.0f}"
        return f"{self.name:<28} {cells} {self.slowest_ms:8.1f}"


def time_shape(client: Client, name: str, next_path: Callable[[], str], count: int) -> Timing:
    times, items = [], 0
    for _ in range(count):
        elapsed, body = client.get(next_path())
        times.append(elapsed)
        items += len(body["items"]) if "items" in body else 1
    return Timing(name, times, items / count)


def deep_pages(client: Client, count: int, depth: int = 200) -> list[Timing]:
    """Page 1 and page ``depth`` (limit 100, no filter), timed alternately."""
    first = list_path({"limit": 100})
    cursor = None
    for _ in range(depth - 1):
        _, body = client.get(first + (f"&cursor={cursor}" if cursor else ""))
        cursor = body["next_cursor"]
        if cursor is None:
            return []
    deep = first + f"&cursor={cursor}"
    one, far = [], []
    for _ in range(count):
        one.append(client.get(first)[0])
        far.append(client.get(deep)[0])
    return [Timing("page 1 (limit 100)", one, 100), Timing(f"page {depth} (limit 100)", far, 100)]


def full_walk(client: Client, params: dict[str, Any]) -> tuple[int, int, float]:
    """(pages, items, ms) to walk every cursor of one query to its end."""
    pages, items, total, cursor = 0, 0, 0.0, None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        elapsed, body = client.get(list_path(query))
        pages, items, total = pages + 1, items + len(body["items"]), total + elapsed
        cursor = body["next_cursor"]
        if cursor is None:
            return pages, items, total


@contextmanager
def gunicorn(url: str, folder: str) -> Iterator[int]:
    """The API under gunicorn with the project's config; yields its port."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": url, "AUDIT_AUTH": "off"}
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS", "PORT"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py")]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "api:create_app()"]
    with open(os.path.join(folder, "gunicorn.log"), "ab") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        wait_until(lambda: healthy(f"http://127.0.0.1:{port}/healthz"), 30, "gunicorn")
        yield port
    finally:
        stop(proc)


def reads(client: redis.Redis, url: str, sample_ids: list[str], count: int, folder: str) -> None:
    rng = random.Random(5)
    with gunicorn(url, folder) as port:
        http_client = Client(port)
        for path in (list_path({}), f"/v1/events/{sample_ids[0]}?tenant={TENANT}"):
            for _ in range(20):  # warm-up: both processes, their connections and scripts
                http_client.get(path)
        client.slowlog_reset()
        timings = []
        for name, next_path in shapes(rng, sample_ids).items():
            timings.append(time_shape(http_client, name, next_path, count))
            timings[-1].slowest_ms = slowlog_max(client)[0]
        timings += deep_pages(http_client, count)
        slowest = max(max(t.slowest_ms for t in timings), slowlog_max(client)[0])
        walks = {
            "type+outcome (no match)": {"type": NEVER_FAILS, "outcome": "failure"},
            "type+service (no match)": {"type": "session.refreshed", "service": "billing"},
            "actor_id+outcome=failure": {"actor_id": "user-00000", "outcome": "failure"},
        }
        walked = {name: full_walk(http_client, params) for name, params in walks.items()}
        walk_slowest = slowlog_max(client)
    print()
    header = f"{'p50':>8} {'p99':>8} {'max':>8} {'items':>8} {'SLOWLOG':>8}"
    print(f"{'GET /v1/events ... (ms)':<28} {header}")
    for timing in timings:
        print(timing.row())
    print(f"SLOWLOG during these reads: longest {slowest:.1f} ms (by shape in the last column)")
    print()
    print("walking every cursor to the end:")
    for name, (pages, items, ms) in walked.items():
        print(f"  {name:<28} {pages:5d} pages, {items:6d} items, {ms:8.1f} ms in all")
    print(f"SLOWLOG during the walks: longest {walk_slowest[0]:.1f} ms ({walk_slowest[1]})")


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--workers", type=int, default=2, help="audit-trail worker processes")
    parser.add_argument("--requests", type=int, default=200, help="requests per query shape")
    parser.add_argument(
        "--load-only", action="store_true", help="stop after the load (memory and Redis CPU)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    folder = tempfile.mkdtemp(prefix="audit-bench-scale-")
    print(
        f"{args.events:,} events in tenant {TENANT!r}, {args.workers} worker(s); logs in {folder}"
    )
    with redis_server() as port:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis(port=port)
        done = load(client, url, args.events, args.workers, folder)
        n, raw = done.events, done.raw_bytes / done.events
        print(f"loaded {n:,} events in {done.seconds:.1f} s ({n / done.seconds:,.0f}/s)")
        print(f"raw JSON (as produced):      {raw:8.0f} B/event")
        per_event = done.memory / n
        print(f"Redis used_memory delta:     {per_event:8.0f} B/event = {per_event / raw:.2f}x raw")
        left = done.as_left / n
        print(
            f"  before deleting the stream: {left:8.0f} B/event = {left / raw:.2f}x raw "
            f"({done.left_on_stream:,} entries left on it 5 s after the drain)"
        )
        for kind, size in sorted(done.breakdown.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:<26} {size / n:8.0f} B/event (MEMORY USAGE, sampled)")
        cpu_us = done.redis_cpu_s / n * 1e6
        print(f"Redis CPU per stored event:  {cpu_us:8.1f} us (user+sys, the XADDs included)")
        print("  by command (INFO commandstats; a script's calls count under it):")
        for name, (calls, usec) in sorted(done.commands.items(), key=lambda kv: -kv[1][1])[:8]:
            print(f"    {name:<22} {usec / n:6.1f} us/event  {calls:>9,} calls")
        print(f"SLOWLOG during the load: longest {done.slowest[0]:.1f} ms ({done.slowest[1]})")
        if not args.load_only:
            reads(client, url, done.sample_ids, args.requests, folder)
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
