"""The RQ ingest path: a job enqueued by path, run by an RQ worker, stored like the stream's."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
import redis
from helpers import event
from redis.cluster import RedisCluster
from rq import Queue, SimpleWorker

from cli import main
from collector.jobs import QUEUE
from collector.service import AuditService
from collector.settings import Settings


def _run_burst(queue_redis) -> None:
    queue = Queue(QUEUE, connection=queue_redis)
    SimpleWorker([queue], connection=queue_redis).work(burst=True)


@pytest.fixture
def queue_redis(request, redis_client, monkeypatch):
    """The Redis of the audit queue: the test's own, except beside a cluster, where RQ
    cannot go: there the queue is on the private standalone server (AUDIT_RQ_REDIS_URL)
    and jobs store into the cluster (REDIS_URL), as the RQ worker's environment says."""
    if not isinstance(redis_client, RedisCluster):
        return redis_client
    cluster = request.getfixturevalue("redis_cluster")
    server = request.getfixturevalue("redis_server")
    standalone = redis.Redis(port=server.port)
    standalone.flushall()
    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.setenv("AUDIT_RQ_REDIS_URL", server.url)
    return standalone


def test_job_stores_events_and_dead_letters_invalid_ones(redis_client, queue_redis, settings):
    queue = Queue(QUEUE, connection=queue_redis)
    job = queue.enqueue(
        "collector.jobs.ingest",
        [event(id="r1", tenant="acme"), event(id="r1", tenant="acme"), {"type": "bad"}],
    )
    _run_burst(queue_redis)
    job.refresh()
    assert job.return_value() == {"stored": 1, "duplicates": 1, "dead": 1}
    svc = AuditService(redis_client, settings)
    assert svc.store.get("acme", "r1")["seq"] == 1
    [(_, fields)] = redis_client.xrange(svc.key_names.dead)
    assert fields[b"reason"] == b"invalid event"
    assert fields[b"source"] == b"rq"
    assert b"service" in fields[b"errors"]


def test_job_with_one_event_dict_and_no_id_is_idempotent_on_retry(
    redis_client, queue_redis, settings
):
    queue = Queue(QUEUE, connection=queue_redis)
    job = queue.enqueue("collector.jobs.ingest", event(tenant="acme"))
    _run_burst(queue_redis)
    # RQ retries re-run the same job id: the derived event id makes it a duplicate
    job.refresh()
    queue.enqueue_job(job)
    _run_burst(queue_redis)
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


@pytest.mark.cluster
def test_beside_a_cluster_without_a_queue_redis_the_rq_path_refuses(
    redis_cluster, redis_server, monkeypatch, capsys
):
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.delenv("AUDIT_RQ_REDIS_URL", raising=False)
    # the producer side: one line, exit 2, nothing enqueued anywhere
    assert main(["emit", "--rq", "--type", "t.x", "--service", "s", "--actor", "a"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AUDIT_RQ_REDIS_URL" in err
    # the job side: an RQ worker on some standalone Redis fails the job, storing nothing
    standalone = redis.Redis(port=redis_server.port)
    standalone.flushall()
    job = Queue(QUEUE, connection=standalone).enqueue("collector.jobs.ingest", event(id="lost"))
    _run_burst(standalone)
    job.refresh()
    assert job.is_failed
    assert "AUDIT_RQ_REDIS_URL" in (job.latest_result().exc_string or "")
    assert standalone.hget("audit:t:{default}:events", "lost") is None


@pytest.mark.cluster
def test_emit_rq_enqueues_on_the_queue_redis_and_the_job_stores_into_the_cluster(
    redis_cluster, redis_server, monkeypatch, capsys
):
    redis_cluster.flush()
    standalone = redis.Redis(port=redis_server.port)
    standalone.flushall()
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("AUDIT_RQ_REDIS_URL", redis_server.url)
    args = ["emit", "--rq", "--type", "t.x", "--service", "s", "--actor", "a", "--id", "via-rq"]
    assert main(args) == 0
    _run_burst(standalone)
    stored = AuditService(redis_cluster.client(), Settings()).store.get("default", "via-rq")
    assert stored is not None and stored["seq"] == 1
