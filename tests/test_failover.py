"""A master of the cluster dies under HTTP load: ingest answers 202 or 503 and nothing else,
every 202 is stored afterwards, and the workers carry on with no restart.

With ``AUDIT_DURABILITY=replica`` a 202 means one replica had the events, so the
replica that takes over has them all.
"""

from __future__ import annotations

import threading

import pytest
from helpers import wait_for
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
    settings = Settings(redis_url=redis_cluster.url, auth=False, partitions=6)
    app = create_app(settings, connect(redis_cluster.url))
    workers = [StreamWorker(connect(redis_cluster.url), settings, name=f"w{i}") for i in range(2)]
    for worker in workers:
        threading.Thread(target=worker.run, name=worker.name, daemon=True).start()
    service = AuditService(connect(redis_cluster.url), settings)
    load = HttpLoad(app)
    # the master of the stream of the first tenant's partition
    victim = redis_cluster.node_for_key(service.streams.stream_for(load.tenants[0]))
    load.start()
    try:
        wait_for(lambda: load.count(202) >= 50, timeout=30)
        redis_cluster.kill(victim)
        redis_cluster.wait_healthy(timeout=60)  # its replica took over
        redis_cluster.restart(victim)  # back, as the new master's replica
        redis_cluster.wait_healthy(timeout=60)
        before = load.count(202)
        wait_for(lambda: load.count(202) >= before + 50, timeout=60)
    finally:
        load.stop()
    wait_for(lambda: every_accepted_is_stored(service, load), timeout=60)
    for worker in workers:
        worker.stop()
    print(load.statuses())
    assert set(load.statuses()) <= {202, 503}
    assert all(a.retry_after for a in load.answers if a.status == 503)
