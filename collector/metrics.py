"""System-wide Prometheus families, read from Redis at scrape time.

These describe the whole system, not the process that is scraped, so they are right
however many API processes and workers run on however many hosts:

- counters kept in Redis by the step that does the work: a tenant's ``seq`` (grows by
  one per stored event, never goes back), its ``:duplicates`` counter (the store
  script's), and the dead-letter total (the dead-letter script's);
- gauges read now: lag and pending of the group per ingest stream, the dead-letter
  stream's length, workers with a recent heartbeat.

Labels are bounded: the stream name only (a handful); never a tenant.
Every API process serves the same values, so a dashboard takes ``max`` across
instances for these families, not ``sum``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from collector.connection import REDIS_ERRORS
from collector.keys import KeyNames
from collector.status import count_alive, read_stream
from collector.stream_watch import StreamWatch

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The folder of prometheus-client's multiprocess mode, made if missing, or None.

    prometheus-client opens a file there for every metric made while it is set; a
    folder that does not exist (set by hand, or wiped by a reboot) would fail that.
    """
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return folder or None


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class SystemMetrics(Collector):
    """A prometheus-client collector: register it on the registry ``/metrics`` serves."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names

    def describe(self) -> list[Metric]:
        # Registering must not touch Redis: describe without reading.
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("audit_redis_up", "1 if Redis answered this scrape, else 0")
        try:
            families = self._read()
        except REDIS_ERRORS as exc:  # a cluster's errors too, which are not RedisError
            log.warning("metrics: Redis unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        """Every system-wide family, read before any is yielded (all or nothing)."""
        k, client = self.key_names, self.redis
        tenants = sorted(t.decode() for t in client.smembers(k.tenants))  # type: ignore[union-attr]
        pipe = client.pipeline(transaction=False)
        for tenant in tenants:
            pipe.get(k.seq(tenant))
            pipe.get(k.duplicates(tenant))
        pipe.get(k.dead_total)
        pipe.xlen(k.dead)
        replies = pipe.execute()
        dead_total, dead_now = replies[-2:]
        stored = sum(_int(v) for v in replies[0:-2:2])
        duplicates = sum(_int(v) for v in replies[1:-2:2])

        lag = GaugeMetricFamily(
            "audit_ingest_lag",
            "Entries of the ingest stream not yet delivered to the group audit-workers",
            labels=["stream"],
        )
        pending = GaugeMetricFamily(
            "audit_ingest_pending",
            "Entries delivered to a worker of audit-workers and not yet acknowledged",
            labels=["stream"],
        )
        ahead = GaugeMetricFamily(
            "audit_ingest_ahead_seconds",
            "How far the stream's last entry id is ahead of the clock (0 unless a producer"
            " added an id in the future)",
            labels=["stream"],
        )
        for stream in k.all_ingest_streams():
            state = read_stream(client, stream)
            lag.add_metric([stream], state.lag)
            pending.add_metric([stream], state.pending)
        reports = StreamWatch(client, k, 0).report(k.all_ingest_streams())
        for report in reports:
            ahead.add_metric([report.stream], report.ahead_ms / 1000)
        return [
            CounterMetricFamily("audit_events_stored", "Events stored, system-wide", value=stored),
            CounterMetricFamily(
                "audit_events_duplicate",
                "Deliveries of an already stored (tenant, id), system-wide",
                value=duplicates,
            ),
            CounterMetricFamily(
                "audit_dead_letters", "Entries dead-lettered, system-wide", value=_int(dead_total)
            ),
            GaugeMetricFamily(
                "audit_dead_letters", "Entries in the dead-letter stream now", value=dead_now
            ),
            lag,
            pending,
            CounterMetricFamily(
                "audit_ingest_deleted_unconsumed",
                "Ingest stream entries deleted (trimmed) before a worker stored them",
                value=sum(r.deleted_unconsumed for r in reports),
            ),
            ahead,
            GaugeMetricFamily(
                "audit_workers_alive",
                "Workers that sent a heartbeat in the last 30 s",
                value=count_alive(client, k),
            ),
        ]
