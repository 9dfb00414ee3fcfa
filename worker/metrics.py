"""One worker's own metrics, served by ``audit-trail worker --metrics-port P``.

These count what this process did (the system-wide totals are the API's ``/metrics``,
read from Redis); Prometheus sums them over workers if asked.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from collector.metrics import multiprocess_dir

BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 256, 512, 1024)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WorkerMetrics:
    """Batch size and duration histograms, and counters of what batches did."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        multiprocess_dir()  # set for the API's processes and inherited: must exist
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.batch_events = Histogram(
            "audit_worker_batch_events",
            "Entries per handled batch",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_duration = Histogram(
            "audit_worker_batch_duration_seconds",
            "Time to validate, store, dead-letter and ack one batch",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.stored = Counter("audit_worker_events_stored", "Events this worker stored", registry=r)
        self.duplicates = Counter(
            "audit_worker_events_duplicate",
            "Deliveries of an already stored (tenant, id) this worker saw",
            registry=r,
        )
        self.dead = Counter(
            "audit_worker_dead_letters", "Entries this worker dead-lettered", registry=r
        )
        self.claimed = Counter(
            "audit_worker_claimed",
            "Entries this worker took over from consumers that stopped acking",
            registry=r,
        )

    def observe_batch(
        self, events: int, stored: int, duplicates: int, dead: int, seconds: float
    ) -> None:
        self.batch_events.observe(events)
        self.batch_duration.observe(seconds)
        self.stored.inc(stored)
        self.duplicates.inc(duplicates)
        self.dead.inc(dead)

    def serve(self, port: int, addr: str = "0.0.0.0") -> tuple[WSGIServer, threading.Thread]:
        """Serve ``/metrics`` on a daemon thread (prometheus-client's own server)."""
        return start_http_server(port, addr, registry=self.registry)
