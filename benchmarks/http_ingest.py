"""HTTP ingest throughput under gunicorn, per worker configuration, against a bare baseline.

Starts a private ``redis-server`` (free port, temporary folder, no persistence), then for
each configuration runs gunicorn twice, one after the other:

* ``api:create_app()`` (``AUDIT_AUTH=off``), with ``gunicorn.conf.py`` and the
  configuration's ``--worker-class``/``--workers``/``--threads`` on the command line;
* the baseline: a bare Flask app whose ``POST /v1/events`` only XADDs the body (a batch:
  each of its events).

``wrk`` (``apt-get install wrk``) on 127.0.0.1 posts one ~500-byte event per request
(``--batch N``: a JSON array of N such events, which the baseline parses and XADDs one
entry per event, the same writes as the app, one round trip each as a bare app would;
with ``--baseline-pipeline`` in one pipeline) for a bounded time.
Printed: requests/s, latency, non-2xx responses, entries that reached the stream, and
the ratio of the app to the baseline under the same configuration. Nothing
consumes the stream; Redis is flushed before every run and the backlog limit is lifted.

    .venv/bin/python benchmarks/http_ingest.py [--duration 8] [--connections 32] \
        [--rounds 1] [--configs sync:2:1,gthread:2:4] [--batch 100] [--source DIR]

``--source`` runs the app from another copy of the tree (e.g. ``git archive HEAD``
unpacked), so edits in the working tree during a long run do not change what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import redis
from processes import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
DEFAULT_CONFIGS = "sync:2:1,sync:4:1,gthread:1:8,gthread:2:4,gthread:4:2,gthread:2:8,gthread:4:4"
APP_STREAM = "audit:ingest:http"  # events accepted over HTTP have a stream of their own
BASELINE_STREAM = "bench:baseline"

BASELINE_APP = f'''
import os

import json

import redis
from flask import Flask, Response, request

client = redis.Redis.from_url(os.environ["REDIS_URL"])
app = Flask(__name__)


@app.post("/v1/events")
def ingest():
    body = request.get_data()
    if body[:1] != b"[":
        client.xadd("{BASELINE_STREAM}", {{"event": body}})
        return Response(b'{{"status":"accepted"}}', status=202, mimetype="application/json")
    # a batch: one entry per event, as the product writes (BENCH_PIPELINE=1: one pipeline)
    writer = client.pipeline(transaction=False) if os.environ.get("BENCH_PIPELINE") else client
    for event in json.loads(body):
        writer.xadd("{BASELINE_STREAM}", {{"event": json.dumps(event)}})
    if writer is not client:
        writer.execute()
    return Response(b'{{"accepted":true}}', status=202, mimetype="application/json")


@app.get("/healthz")
def healthz():
    return Response(b'{{"status":"ok"}}', mimetype="application/json")
'''

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def event_body() -> bytes:
    """One v1 event of about 500 bytes serialized."""
    event = {
        "type": "invoice.paid",
        "service": "billing",
        "tenant": "acme",
        "occurred_at": "2026-11-28T09:15:00Z",
        "actor": {"id": "alice", "type": "user", "ip": "203.0.113.7", "user_agent": "bench/1.0"},
        "target": {"id": "invoice-42", "type": "invoice"},
        "outcome": "success",
        "request_id": "req-0193c7c4-6f4e-7b1a",
        "data": {"amount": 1200, "currency": "EUR", "note": ""},
    }
    size = len(json.dumps(event, separators=(",", ":")))
    event["data"]["note"] = "x" * max(0, 500 - size)
    return json.dumps(event, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Config:
    worker_class: str
    workers: int
    threads: int

    @classmethod
    def parse(cls, text: str) -> Config:
        kind, workers, threads = text.split(":")
        if kind not in ("sync", "gthread", "gevent"):
            raise ValueError(f"worker class must be sync, gthread or gevent: {text!r}")
        if kind in ("sync", "gevent") and int(threads) != 1:
            raise ValueError(f"{kind} workers have one thread: {text!r}")
        return cls(kind, int(workers), int(threads))

    def __str__(self) -> str:
        if self.worker_class in ("sync", "gevent"):
            return f"{self.worker_class} w={self.workers}"
        return f"gthread w={self.workers} t={self.threads}"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    stored: int
    requests: int
    cpu_ms: float = 0.0  # gunicorn's CPU time (all its processes) per request


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(p) for p in task.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")
        time.sleep(0.05)


def start_redis(folder: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            folder,
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            os.path.join(folder, "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_until(up, 10, "redis-server")
    return proc, port


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wrk(url: str, seconds: float, args: argparse.Namespace, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            env["BENCH_SCRIPT"],
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def measure(
    target: str, config: Config, redis_port: int, tmp: str, args: argparse.Namespace
) -> Result:
    """One gunicorn run of ``target`` ("app" or "baseline") under ``config``."""
    client = redis.Redis(port=redis_port)
    client.flushall()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AUDIT_AUTH": "off",
        "AUDIT_MAX_BACKLOG": str(10**9),  # nothing consumes: the stream only grows
        "AUDIT_MAX_BACKLOG_BYTES": str(10**12),
        "BENCH_BODY": os.path.join(tmp, "event.json"),
        "BENCH_SCRIPT": os.path.join(tmp, "post.lua"),
        "BENCH_PIPELINE": "1" if args.baseline_pipeline else "",
    }
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS"):
        env.pop(name, None)
    command = [
        str(GUNICORN),
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        config.worker_class,
        "--workers",
        str(config.workers),
        "--threads",
        str(config.threads),
        "--log-level",
        "warning",
    ]
    if target == "app":
        command.append("api:create_app()")
        stream = APP_STREAM
    else:
        command += ["--pythonpath", tmp, "bench_baseline:app"]
        stream = BASELINE_STREAM
    log = open(os.path.join(tmp, f"gunicorn-{target}.log"), "ab")  # noqa: SIM115
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.source), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(command, cwd=args.source, env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(f"{base}/healthz"), 30, f"gunicorn ({target}, {config})")
        run_wrk(f"{base}/v1/events", args.warmup, args, env)
        before, cpu = int(client.xlen(stream)), tree_cpu_s(proc.pid)
        stats = run_wrk(f"{base}/v1/events", args.duration, args, env)
        cpu = tree_cpu_s(proc.pid) - cpu
        stored = (int(client.xlen(stream)) - before) // args.batch
    finally:
        stop(proc)
        log.close()
    return Result(
        rps=stats["requests"] / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        non2xx=stats["non2xx"],
        socket_errors=stats["socket_errors"],
        stored=stored,
        requests=stats["requests"],
        cpu_ms=cpu * 1000 / max(1, stats["requests"]),
    )


def median_result(results: list[Result]) -> Result:
    """The run with the median throughput (its latencies go with it); errors are summed."""
    ordered = sorted(results, key=lambda r: r.rps)
    mid = ordered[len(ordered) // 2]
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=mid.p50_ms,
        p99_ms=mid.p99_ms,
        non2xx=sum(r.non2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        stored=sum(r.stored for r in results),
        requests=sum(r.requests for r in results),
        cpu_ms=statistics.median(r.cpu_ms for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="class:workers:threads,...")
    parser.add_argument("--duration", type=float, default=8, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=1, help="runs per config (median kept)")
    parser.add_argument("--batch", type=int, default=1, help="events per request (1: an object)")
    parser.add_argument(
        "--baseline-pipeline", action="store_true", help="the baseline pipelines a batch's XADDs"
    )
    parser.add_argument(
        "--source", type=Path, default=ROOT, help="tree to run the app from (default: this one)"
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.warmup <= 10 or not 1 <= args.rounds <= 5:
        parser.error("keep it bounded: duration 1-60 s, warmup 1-10 s, rounds 1-5")
    configs = [Config.parse(c) for c in args.configs.split(",") if c]
    args.source = args.source.resolve()
    if not (args.source / "api" / "__init__.py").exists():
        parser.error(f"--source {args.source}: no api package there")
    for tool in ("redis-server", "wrk"):
        if shutil.which(tool) is None:
            print(f"needs {tool} on PATH (apt-get install {tool})", file=sys.stderr)
            return 2
    if not GUNICORN.exists():
        print(f"needs gunicorn next to {sys.executable}", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="audit-trail-bench-")
    Path(tmp, "bench_baseline.py").write_text(BASELINE_APP)
    Path(tmp, "post.lua").write_text(WRK_SCRIPT)
    body = event_body()
    if args.batch > 1:
        body = b"[" + b",".join([body] * args.batch) + b"]"
    Path(tmp, "event.json").write_bytes(body)
    redis_proc, redis_port = start_redis(tmp)
    print(
        f"# {os.cpu_count()} CPUs; wrk -t{args.threads} -c{args.connections}, "
        f"{args.warmup:g}s warm-up + {args.duration:g}s per run, {args.rounds} round(s); "
        f"body of {len(body)} bytes ({args.batch} event(s)); app from {args.source}; "
        f"logs in {tmp} (kept on failure)",
        flush=True,
    )
    runs: dict[tuple[Config, str], list[Result]] = {}
    try:
        for round_no in range(args.rounds):
            for config in configs:
                for target in ("app", "baseline"):
                    result = measure(target, config, redis_port, tmp, args)
                    runs.setdefault((config, target), []).append(result)
                    print(
                        f"  round {round_no + 1} {config!s:<18} {target:<8} "
                        f"{result.rps:8.0f} req/s",
                        flush=True,
                    )
    finally:
        stop(redis_proc)

    rows = {key: median_result(value) for key, value in runs.items()}
    best_baseline = max(rows[(c, "baseline")].rps for c in configs)
    header = (
        f"{'config':<18} {'app req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'stored':>7} {'base req/s':>10} {'app/base':>8} {'app/best base':>13} "
        f"{'app CPU ms':>10} {'base CPU ms':>11} {'CPU base/app':>12}"
    )
    print()
    print(header)
    print("-" * len(header))
    for config in configs:
        app, base = rows[(config, "app")], rows[(config, "baseline")]
        errors = app.non2xx + app.socket_errors
        stored_ok = "ok" if app.stored >= app.requests - app.non2xx - args.connections else "LOW"
        print(
            f"{config!s:<18} {app.rps:9.0f} {app.p50_ms:7.1f} {app.p99_ms:7.1f} {errors:6d} "
            f"{stored_ok:>7} {base.rps:10.0f} {app.rps / base.rps:8.2f} "
            f"{app.rps / best_baseline:13.2f} {app.cpu_ms:10.2f} {base.cpu_ms:11.2f} "
            f"{base.cpu_ms / app.cpu_ms:12.2f}"
        )
    print(
        "CPU ms: gunicorn's CPU time (all its processes) per request; CPU base/app is the "
        "throughput ratio\nwhen the server's CPU is the limit, and moves far less with other "
        "load on the machine than req/s does."
    )
    best = max(configs, key=lambda c: rows[(c, "app")].rps)
    print(f"\nbest for the app: {best} ({rows[(best, 'app')].rps:.0f} req/s)")
    shutil.rmtree(tmp, ignore_errors=True)
    failed = sum(r.non2xx + r.socket_errors for r in rows.values())
    if failed:  # a 503 or a reset is answered faster than a request that is served
        print(f"\n{failed} requests failed: these req/s are not comparable", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
