"""Rows 4, 11, 12, 13 and 14: bounded memory per request, backpressure by bytes, bounded
script calls, the legacy routes."""

from __future__ import annotations

import tracemalloc

import orjson
import pytest
from helpers import event

from collector import scripts
from collector.settings import Settings
from collector.timefmt import now_utc


def _post(client, body: bytes, path: str = "/v1/events", **headers):
    return client.post(path, data=body, content_type="application/json", headers=headers)


def test_a_batch_over_the_limit_is_refused_without_building_it(client):
    """Row 4: a body of a million empty objects costs a fraction of itself, not 30x."""
    body = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    tracemalloc.start()
    response = _post(client, body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 3 * len(body)


def test_a_valid_large_batch_costs_a_few_times_its_body(service):
    from collector import http_input

    big = event(data={f"k{i}": "v" * 8 for i in range(400)})
    body = orjson.dumps([big] * 300)
    tracemalloc.start()
    http_input.decode(body, "application/json", {}, service.settings, now_utc(), "default")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * len(body)


def test_a_batch_of_tiny_values_is_parsed_one_event_at_a_time():
    """The split keeps its parses for validation only up to a budget: events of 60 KB of
    [] kept whole held 25x the body (each [] an object of ~56 bytes); one at a time ~4.5x
    (the items' copies, one event's parse, the error's work)."""
    from collector import http_input
    from collector.errors import InvalidEvent

    bad = event(data={"a": [[]] * 20_000})  # over 32 KiB of data: each one a 422
    body = orjson.dumps([bad] * 32)
    tracemalloc.start()
    with pytest.raises(InvalidEvent):
        http_input.decode(body, "application/json", {}, Settings(), now_utc(), "default")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * len(body)


def test_a_body_over_max_body_bytes_is_413(redis_client):
    from api import create_app

    settings = Settings(auth=False, max_body_bytes=1000)
    client = create_app(settings, redis_client).test_client()
    response = _post(client, orjson.dumps([event()] * 20))
    assert response.status_code == 413
    assert "AUDIT_MAX_BODY_BYTES" in response.get_json()["detail"]


def test_backpressure_by_bytes(redis_client):
    """Row 11: the HTTP stream's unconsumed bytes over their budget: 503, nothing added."""
    from api import create_app

    settings = Settings(auth=False, max_backlog_bytes=200_000)
    client = create_app(settings, redis_client).test_client()
    big = orjson.dumps(event(data={"pad": "x" * 30_000}))
    statuses = [_post(client, big).status_code for _ in range(12)]
    assert statuses[:6] == [202] * 6 and 503 in statuses
    accepted = statuses.count(202)
    assert accepted * 30_000 < 200_000 + 2 * 31_000  # at most one event over the budget


def test_backpressure_by_events_is_exact_under_concurrency(redis_client):
    from concurrent.futures import ThreadPoolExecutor

    from api import create_app

    settings = Settings(auth=False, max_backlog=50)
    apps = [create_app(settings, redis_client).test_client() for _ in range(4)]
    batch = orjson.dumps([event() for _ in range(10)])

    def post(n: int) -> int:
        return int(_post(apps[n % 4], batch).status_code)

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(20)))
    assert statuses.count(202) * 10 <= 50 + 10  # one batch over, at most


def test_a_large_rq_job_is_stored_in_bounded_script_calls(queue_redis, monkeypatch):
    """Row 12: one job of 5,000 events; no script call stores more than a few hundred."""
    from rq import Queue

    from worker.rq_worker import AuditSimpleWorker

    sizes: list[int] = []
    original = scripts.pipe_call

    def spy(pipe, call):
        if call.script == "store":
            sizes.append(sum(1 for a in call.args if isinstance(a, bytes) and a[:1] == b"{"))
        return original(pipe, call)

    monkeypatch.setattr(scripts, "pipe_call", spy)
    queue = Queue("audit", connection=queue_redis)
    job = queue.enqueue("collector.jobs.ingest", [event(id=f"j{n}") for n in range(5000)])
    AuditSimpleWorker([queue], connection=queue_redis).work(burst=True)
    job.refresh()
    assert job.return_value()["stored"] == 5000
    assert sizes and max(sizes) <= 500


def test_legacy_integers_beyond_64_bits_are_refused_not_rounded(client):
    """Row 14."""
    body = b'{"event_type": "user.login", "entity_json": {"n": 123456789012345678901234567890}}'
    response = _post(client, body, "/event", **{"X-Client-ID": "billing"})
    assert response.status_code == 400
    assert "64 bits" in response.get_json()["message"]
    ok = b'{"event_type": "user.login", "entity_json": {"n": 9007199254740991}}'
    assert _post(client, ok, "/event", **{"X-Client-ID": "billing"}).status_code == 201


def test_legacy_list_is_streamed(client, drain):
    """Row 13: GET /events streams its array (no whole-list body built in memory)."""
    for n in range(30):
        body = orjson.dumps({"event_type": "user.login", "entity_json": {"n": n}})
        assert _post(client, body, "/event", **{"X-Client-ID": "c"}).status_code == 201
    drain()
    response = client.get("/events", headers={"X-Client-ID": "c"})
    assert response.status_code == 200 and response.is_streamed
    items = orjson.loads(response.get_data())
    assert len(items) == 30 and {i["entity_json"]["n"] for i in items} == set(range(30))


@pytest.mark.parametrize("levels", [1000, 5000])
def test_legacy_deep_json_is_a_400_in_its_own_format(client, levels):
    body = b'{"event_type":"t","entity_json":' + b'{"a":' * levels + b"1" + b"}" * levels + b"}"
    response = _post(client, body, "/event", **{"X-Client-ID": "c"})
    assert response.status_code == 400
    assert response.get_json()["error"]


@pytest.mark.real
def test_ingest_pushes_back_near_redis_maxmemory(redis_server):
    """Row 11: within 10% of Redis's maxmemory, a 503 with Retry-After, nothing added;
    writes are refused by the service before Redis refuses (or evicts) them."""
    import redis

    from api import create_app

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    settings = Settings(auth=False)
    [stream] = settings.key_names.http_streams()
    api = create_app(settings, client).test_client()
    assert _post(api, orjson.dumps(event())).status_code == 202  # streams and groups made
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", int(used / 0.92))  # 92% used: past the 10% margin
    try:
        response = _post(create_app(settings, client).test_client(), orjson.dumps(event()))
        assert response.status_code == 503, response.get_json()
        assert "maxmemory" in response.get_json()["detail"], response.get_json()
        assert response.headers["Retry-After"] == "5"
        assert client.xlen(stream) == 1
    finally:
        client.config_set("maxmemory", 0)
    response = _post(create_app(settings, client).test_client(), orjson.dumps(event()))
    assert response.status_code == 202
    assert client.xlen(stream) == 2
