"""Row 3: the documented RQ worker runs ``collector.jobs.ingest`` and nothing else; in
``json`` mode it never unpickles."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
import redis
from helpers import event
from rq import Queue
from rq.serializers import JSONSerializer

from collector.jobs import QUEUE
from worker.rq_worker import AuditSimpleWorker

PROCFILE = os.path.join(os.path.dirname(__file__), "..", "Procfile")


def _rq_command() -> list[str]:
    """The Procfile's rqworker command, as a list (without ``--url $REDIS_URL``)."""
    with open(PROCFILE) as procfile:
        line = next(x for x in procfile if x.startswith("rqworker:"))
    words = line.split(":", 1)[1].split()
    if "--url" in words:
        at = words.index("--url")
        del words[at : at + 2]
    return words


def test_a_job_naming_another_function_is_dead_lettered_not_run(
    redis_client, queue_redis, tmp_path
):
    target = str(tmp_path / "made-by-a-job")
    queue = Queue(QUEUE, connection=queue_redis)
    bad = queue.enqueue("os.makedirs", target)
    good = queue.enqueue("collector.jobs.ingest", [event(id="kept")])
    AuditSimpleWorker([queue], connection=queue_redis).work(burst=True)
    assert not os.path.exists(target)
    [(_, fields)] = redis_client.xrange("audit:dead")
    assert b"os.makedirs" in fields[b"reason"] and b"not allowed" in fields[b"reason"]
    assert fields[b"source"] == b"rq" and fields[b"source_id"] == bad.id.encode()
    assert not queue_redis.exists(bad.key)  # deleted, never run
    assert redis_client.hexists("audit:t:{default}:events", "kept")
    good.refresh()
    assert good.return_value() == {"stored": 1, "duplicates": 0, "dead": 0}


def test_json_mode_never_unpickles(redis_client, queue_redis, monkeypatch, tmp_path):
    """A pickled job whose data would run code when unpickled: in json mode it is only
    ever parsed as JSON, fails to parse, and is dead-lettered."""
    monkeypatch.setenv("AUDIT_RQ_SERIALIZER", "json")
    target = str(tmp_path / "unpickled")
    pickle_queue = Queue(QUEUE, connection=queue_redis)  # RQ's default: pickle
    pickle_queue.enqueue(os.makedirs, target)  # unpickling this imports and names os.makedirs
    json_queue = Queue(QUEUE, connection=queue_redis, serializer=JSONSerializer)
    json_queue.enqueue("collector.jobs.ingest", [event(id="json-ok")])
    AuditSimpleWorker([json_queue], connection=queue_redis).work(burst=True)
    assert not os.path.exists(target)
    [(_, fields)] = redis_client.xrange("audit:dead")
    assert b"unreadable" in fields[b"reason"]
    assert redis_client.hexists("audit:t:{default}:events", "json-ok")


@pytest.mark.real
def test_the_documented_rq_worker_refuses_other_functions(redis_server):
    """`rq worker` as the Procfile runs it, with a job a foreign producer enqueued."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    target = os.path.join(tempfile.mkdtemp(), "made-by-a-job")
    Queue(QUEUE, connection=client).enqueue("os.makedirs", target)
    command = _rq_command()
    assert command[:3] == ["rq", "worker", QUEUE]
    rq_bin = os.path.join(os.path.dirname(sys.executable), "rq")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_")}
    subprocess.run(
        [rq_bin, *command[1:], "--burst", "--url", redis_server.url],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert not os.path.exists(target)
    [(_, fields)] = client.xrange("audit:dead")
    assert b"not allowed" in fields[b"reason"]
