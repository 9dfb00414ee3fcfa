"""A master of the cluster dies under HTTP load: ingest answers 202 or 503 and nothing else,
every 202 is stored afterwards, and the workers carry on with no restart.

With ``AUDIT_DURABILITY=replica`` a 202 means one replica had the events, so the
replica that takes over has them all.
"""

from __future__ import annotations

import threading

import orjson
import pytest
import redis
from helpers import event, wait_for
from load import HttpLoad

from api import create_app
from collector.connection import connect
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker

pytestmark = pytest.mark.cluster


def every_accepted_is_stored(service: AuditService, load: HttpLoad) -> bool:
    return all(
        service.store.get_raw(answer.tenant, eid) is not None
        for answer in load.accepted()
        for eid in answer.ids
    )


def test_killing_a_master_under_load_loses_no_accepted_event(redis_cluster):
    settings = Settings(redis_url=redis_cluster.url, auth=False, partitions=6, durability="replica")
    app = create_app(settings, connect(redis_cluster.url))
    workers = [StreamWorker(connect(redis_cluster.url), settings, name=f"w{i}") for i in range(2)]
    for worker in workers:
        threading.Thread(target=worker.run, name=worker.name, daemon=True).start()
    service = AuditService(connect(redis_cluster.url), settings)
    load = HttpLoad(app)
    idle = create_app(settings, connect(redis_cluster.url)).test_client()  # sees no traffic
    assert idle.get("/readyz").status_code == 200
    # the master of the stream of the first tenant's partition
    victim = redis_cluster.node_for_key(service.streams.stream_for(load.tenants[0]))
    load.start()
    try:
        wait_for(lambda: load.count(202) >= 50, timeout=30)
        redis_cluster.kill(victim)
        redis_cluster.wait_healthy(timeout=60)  # its replica took over
        # an API that saw no traffic meanwhile finds the new master on its own
        assert idle.get("/readyz").status_code == 200
        redis_cluster.restart(victim)  # back, as the new master's replica
        redis_cluster.wait_healthy(timeout=60)
        before = load.count(202)
        wait_for(lambda: load.count(202) >= before + 50, timeout=60)
    finally:
        load.stop()
        if victim.process is None:  # the test failed half way: leave a whole cluster behind
            redis_cluster.restart(victim)
            redis_cluster.wait_healthy(timeout=60)
    wait_for(lambda: every_accepted_is_stored(service, load), timeout=60)
    for worker in workers:
        worker.stop()
    assert set(load.statuses()) <= {202, 503}
    assert all(a.retry_after for a in load.answers if a.status == 503)


def test_with_replica_durability_a_202_means_the_replica_has_it(redis_cluster):
    settings = Settings(redis_url=redis_cluster.url, auth=False, durability="replica")
    client = create_app(settings, connect(redis_cluster.url)).test_client()
    answer = client.post("/v1/events", json=event(id="twice-kept", tenant="acme"))
    assert answer.status_code == 202
    stream = settings.key_names.ingest_streams()[0]
    replica = next(
        n
        for n in redis_cluster.running()
        if redis_cluster.replica_of(n) == redis_cluster.node_for_key(stream)
    )
    reader = replica.client()
    reader.execute_command("READONLY")
    [(_, fields)] = reader.xrange(stream)
    assert orjson.loads(fields[b"event"])["id"] == "twice-kept"


@pytest.mark.real
def test_with_replica_durability_and_no_replica_ingest_is_503(redis_server):
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    settings = Settings(auth=False, durability="replica")
    answer = create_app(settings, client).test_client().post("/v1/events", json=event())
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "No replica confirmed" in answer.get_json()["detail"]
