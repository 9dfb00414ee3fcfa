"""The RQ ingest path: a job enqueued by path, run by an RQ worker, stored like the stream's."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from helpers import event
from rq import Queue, SimpleWorker

from collector.jobs import QUEUE
from collector.service import AuditService


def _run_burst(redis_client) -> None:
    queue = Queue(QUEUE, connection=redis_client)
    SimpleWorker([queue], connection=redis_client).work(burst=True)


def test_job_stores_events_and_dead_letters_invalid_ones(redis_client, settings):
    queue = Queue(QUEUE, connection=redis_client)
    job = queue.enqueue(
        "collector.jobs.ingest",
        [event(id="r1", tenant="acme"), event(id="r1", tenant="acme"), {"type": "bad"}],
    )
    _run_burst(redis_client)
    job.refresh()
    assert job.return_value() == {"stored": 1, "duplicates": 1, "dead": 1}
    svc = AuditService(redis_client, settings)
    assert svc.store.get("acme", "r1")["seq"] == 1
    [(_, fields)] = redis_client.xrange(svc.key_names.dead)
    assert fields[b"reason"] == b"invalid event"
    assert fields[b"source"] == b"rq"
    assert b"service" in fields[b"errors"]


def test_job_with_one_event_dict_and_no_id_is_idempotent_on_retry(redis_client, settings):
    queue = Queue(QUEUE, connection=redis_client)
    job = queue.enqueue("collector.jobs.ingest", event(tenant="acme"))
    _run_burst(redis_client)
    # RQ retries re-run the same job id: the derived event id makes it a duplicate
    job.refresh()
    queue.enqueue_job(job)
    _run_burst(redis_client)
    svc = AuditService(redis_client, settings)
    assert svc.store.count("acme") == 1


@pytest.mark.real
def test_foreign_producer_and_rq_worker_cli(redis_server):
    """A producer that imports nothing of ours; `rq worker audit` with this package installed."""
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    producer = (
        "import sys, redis, rq; r = redis.Redis.from_url(sys.argv[1]); "
        "rq.Queue('audit', connection=r).enqueue('collector.jobs.ingest', "
        "{'id': 'from-outside', 'type': 'user.login', 'service': 'legacy', "
        "'actor': {'id': 'bob'}})"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_")}
    subprocess.run([sys.executable, "-c", producer, redis_server.url], check=True, env=env, cwd="/")
    rq_bin = os.path.join(os.path.dirname(sys.executable), "rq")
    subprocess.run(
        [rq_bin, "worker", QUEUE, "--burst", "--url", redis_server.url],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    stored = client.hget("audit:t:{default}:events", "from-outside")
    assert stored is not None
    assert orjson.loads(stored)["actor"] == {"id": "bob", "type": "user"}
