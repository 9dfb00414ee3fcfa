"""The production way: gunicorn with its config and 3 processes, plus a separate worker.

Known numbers of events go in by HTTP and the stream; ``/metrics`` is scraped again and
again (each scrape answered by whichever process gets it) and must agree with what was
sent; every log line of every process must be one JSON object, and a request id must be
followed from the request to its log line.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
import pytest
import redis
from helpers import clean_env, event, free_port, start_gunicorn, wait_for
from prometheus_client.parser import text_string_to_metric_families

from collector.client import Producer
from collector.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def http(method: str, url: str, body: object = None, headers: dict[str, str] | None = None):
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    status, _, body = http("GET", base + "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of a family's samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture
def deployment(redis_server, tmp_path) -> Iterator[dict]:
    redis.Redis(port=redis_server.port).flushall()
    port, worker_port = free_port(), free_port()
    env = clean_env(
        REDIS_URL=redis_server.url,
        AUDIT_AUTH="off",
        AUDIT_LOG_FORMAT="json",
        PORT=str(port),
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="2",
    )
    logs = {"web": tmp_path / "web.log", "worker": tmp_path / "worker.log"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        with open(logs["web"], "wb") as web_log, open(logs["worker"], "wb") as worker_log:
            procs["web"] = start_gunicorn(env, web_log)
            procs["worker"] = subprocess.Popen(
                [
                    str(BIN / "audit-trail"),
                    "worker",
                    "--name",
                    "prod-worker",
                    "--metrics-port",
                    str(worker_port),
                ],
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(base), timeout=30)
        master = psutil.Process(procs["web"].pid)
        wait_for(lambda: len(master.children()) == 3, timeout=30)
        yield {
            "base": base,
            "worker_metrics": f"http://127.0.0.1:{worker_port}",
            "procs": procs,
            "logs": logs,
            "redis": redis_server,
            "env": env,
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _ready(base: str) -> bool:
    try:
        return http("GET", base + "/readyz")[0] == 200
    except OSError:
        return False


@pytest.mark.real
def test_metrics_across_gunicorn_processes_and_a_worker(deployment):
    base = deployment["base"]
    client = redis.Redis.from_url(deployment["redis"].url)
    posts = 0
    for i in range(20):
        status, _, _ = http("POST", base + "/v1/events", event(id=f"h{i}"))
        assert status == 202
        posts += 1
    for i in range(5):
        batch = [event(id=f"b{i}-{j}", tenant="acme") for j in range(4)]
        assert http("POST", base + "/v1/events", batch)[0] == 202
        posts += 1
    http_events = 20 + 5 * 4
    legacy = http("POST", base + "/event", {"event_type": "login"}, {"X-Client-ID": "old"})
    assert legacy[0] == 201
    assert http("POST", base + "/v1/events", {"type": "x"})[0] == 422
    producer = Producer(redis=client, settings=Settings())
    producer.xadd([event(id=f"s{i}", tenant="beta") for i in range(15)])
    producer.xadd([event(id="s0", tenant="beta"), event(id="h0")])  # two duplicates
    stream = "audit:ingest"
    for bad in (b"{nope", orjson.dumps({"type": "no actor", "service": "s"})):
        client.xadd(stream, {"event": bad})
    stored = http_events + 1 + 15

    def settled() -> bool:
        # Every entry delivered, handled and acknowledged: the two duplicates and the two
        # dead letters came after the last stored event, and may be read a moment later.
        got = scrape(base)
        return (
            got[("audit_events_stored_total", ())] == stored
            and got[("audit_events_duplicate_total", ())] == 2
            and got[("audit_dead_letters_total", ())] == 2
            and got[("audit_ingest_lag", (("stream", stream),))] == 0
            and got[("audit_ingest_pending", (("stream", stream),))] == 0
        )

    wait_for(settled, timeout=30)

    # A gunicorn worker dies and is replaced: what it counted still counts.
    victim = psutil.Process(deployment["procs"]["web"].pid).children()[0]
    victim.kill()
    master = psutil.Process(deployment["procs"]["web"].pid)
    wait_for(
        lambda: victim.pid not in [c.pid for c in master.children()] and len(master.children()) == 3
    )

    for _ in range(12):  # each scrape may be answered by a different process
        got = scrape(base)
        assert got[("audit_events_accepted_total", ())] == http_events + 1
        assert got[("audit_events_stored_total", ())] == stored
        assert got[("audit_events_duplicate_total", ())] == 2
        assert got[("audit_dead_letters_total", ())] == 2
        assert got[("audit_dead_letters", ())] == 2
        assert got[("audit_ingest_lag", (("stream", stream),))] == 0
        assert got[("audit_workers_alive", ())] == 1
        assert (
            total(got, "audit_http_requests_total", method="POST", route="/v1/events", status="202")
            == posts
        )
        assert total(got, "audit_http_requests_total", route="/v1/events", status="422") == 1
        assert total(got, "audit_http_requests_total", route="/event", status="201") == 1
        assert (
            total(
                got, "audit_http_request_duration_seconds_count", method="POST", route="/v1/events"
            )
            == posts + 1
        )
        assert not any(label == "tenant" for (_, ls) in got for label, _ in ls)

    # The worker's own figures, on its own port: it did all the storing.
    own = scrape(deployment["worker_metrics"])
    assert own[("audit_worker_events_stored_total", ())] == stored
    assert own[("audit_worker_events_duplicate_total", ())] == 2
    assert own[("audit_worker_dead_letters_total", ())] == 2
    assert own[("audit_worker_batch_events_count", ())] >= 1
    assert own[("audit_worker_batch_events_sum", ())] == stored + 4


@pytest.mark.real
def test_every_log_line_is_json_and_a_request_id_can_be_followed(deployment):
    base = deployment["base"]
    status, headers, _ = http(
        "POST", base + "/v1/events", event(id="traced"), {"X-Request-ID": "trace-me.42"}
    )
    assert status == 202 and headers["X-Request-ID"] == "trace-me.42"
    status, headers, body = http(
        "GET", base + "/v1/events/missing", headers={"X-Request-ID": "t-404"}
    )
    assert status == 404, (status, headers, body)
    assert orjson.loads(body)["request_id"] == "t-404", body
    client = redis.Redis.from_url(deployment["redis"].url)
    Producer(redis=client, settings=Settings()).xadd([event(id=f"w{i}") for i in range(3)])
    wait_for(lambda: scrape(base)[("audit_events_stored_total", ())] == 4, timeout=30)

    for proc in deployment["procs"].values():
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = {
        name: [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        for name, path in deployment["logs"].items()
    }
    for name, parsed in lines.items():
        assert parsed, name
        for line in parsed:
            assert {"ts", "level", "logger", "msg"} <= set(line), (name, line)
    web = lines["web"]
    [traced] = [line for line in web if line.get("request_id") == "trace-me.42"]
    assert traced["route"] == "/v1/events" and traced["status"] == 202
    assert traced["method"] == "POST" and traced["duration_ms"] > 0
    assert any(line["logger"].startswith("gunicorn") for line in web)  # gunicorn's own too
    [missing] = [line for line in web if line.get("request_id") == "t-404"]
    assert missing["status"] == 404
    batches = [line for line in lines["worker"] if "stored" in line and "events" in line]
    assert sum(line["stored"] for line in batches) == 4
    for line in batches:
        assert line["worker"] == "prod-worker" and line["events"] >= 1
        assert {"duplicates", "dead", "duration_ms"} <= set(line)


def test_the_gunicorn_config_sets_the_metrics_folder_before_anything_imports_the_client():
    """prometheus-client picks its value store when imported: a master that imported it
    before PROMETHEUS_MULTIPROC_DIR was set would fork workers that count alone."""
    probe = (
        "import runpy, sys, os; runpy.run_path('gunicorn.conf.py'); "
        "print('prometheus_client' in sys.modules, "
        "bool(os.environ.get('PROMETHEUS_MULTIPROC_DIR')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=clean_env(), capture_output=True, text=True
    )
    assert done.stdout.split() == ["False", "True"], done.stderr
