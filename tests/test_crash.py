"""A 202 survives a crash of Redis itself when Redis writes every command to its AOF.

A redis-server with ``appendonly yes`` and ``appendfsync always`` is killed (SIGKILL)
while producers post over HTTP and workers store, then started again on the same files:
every event that was answered 202 is stored, and the workers resumed with no restart.
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

pytestmark = pytest.mark.real


def run_workers(url: str, settings: Settings, count: int = 2) -> list[StreamWorker]:
    """``count`` stream workers on their own threads (each with its own client)."""
    workers = [StreamWorker(connect(url), settings, name=f"w{i}") for i in range(count)]
    for worker in workers:
        threading.Thread(target=worker.run, name=worker.name, daemon=True).start()
    return workers


def every_accepted_is_stored(service: AuditService, load: HttpLoad) -> bool:
    missing = [
        eid
        for answer in load.accepted()
        for eid in answer.ids
        if service.store.get_raw(answer.tenant, eid) is None
    ]
    return not missing


def test_a_killed_aof_redis_keeps_every_accepted_event(start_redis):
    server = start_redis("--appendonly", "yes", "--appendfsync", "always", "--save", "")
    settings = Settings(redis_url=server.url, auth=False, partitions=2)
    app = create_app(settings, connect(server.url))
    workers = run_workers(server.url, settings)
    load = HttpLoad(app)
    load.start()
    try:
        wait_for(lambda: load.count(202) >= 20, timeout=30)
        server.kill()
        wait_for(lambda: load.count(503) >= 5, timeout=30)  # answered while Redis is down
        server.start()
        before = load.count(202)
        wait_for(lambda: load.count(202) >= before + 20, timeout=30)  # ingest is back
    finally:
        load.stop()
    service = AuditService(connect(server.url), settings)
    wait_for(lambda: every_accepted_is_stored(service, load), timeout=60)
    for worker in workers:
        worker.stop()
    assert set(load.statuses()) <= {202, 503}
    assert all(a.retry_after for a in load.answers if a.status == 503)
