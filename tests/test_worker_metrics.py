"""A worker's own metrics, served on a port of its own as any exporter does."""

from __future__ import annotations

import urllib.request

from helpers import free_port
from prometheus_client.parser import text_string_to_metric_families

from worker.metrics import WorkerMetrics


def test_batches_are_observed_and_served():
    metrics = WorkerMetrics()
    metrics.observe_batch(events=10, stored=7, duplicates=2, dead=1, seconds=0.004)
    metrics.observe_batch(events=300, stored=300, duplicates=0, dead=0, seconds=0.2)
    metrics.claimed.inc(3)
    port = free_port()
    server, thread = metrics.serve(port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    got = {
        (s.name, s.labels.get("le")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert got[("audit_worker_events_stored_total", None)] == 307
    assert got[("audit_worker_events_duplicate_total", None)] == 2
    assert got[("audit_worker_dead_letters_total", None)] == 1
    assert got[("audit_worker_claimed_total", None)] == 3
    assert got[("audit_worker_batch_events_count", None)] == 2
    assert got[("audit_worker_batch_events_bucket", "10.0")] == 1
    assert got[("audit_worker_batch_events_sum", None)] == 310
    assert got[("audit_worker_batch_duration_seconds_bucket", "0.005")] == 1
