"""``GET /metrics``: Prometheus text format, open like ``/healthz``.

Two kinds of figures:

- this API's own (requests, durations, events accepted), from prometheus-client. Under
  gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` (wiped at start,
  dead workers marked), and a scrape sums the files of every process, whichever
  process answers it;
- the whole system's, read from Redis at scrape time (``collector.metrics``).

Always the text format 0.0.4: in it a counter's family is named with its ``_total``,
so ``audit_dead_letters_total`` (counter) and ``audit_dead_letters`` (gauge) are two
families, as the SPEC names them.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api import telemetry
from collector.metrics import SystemMetrics, multiprocess_dir

blp = Blueprint("metrics", __name__, description="Prometheus metrics.")

EXAMPLE = """\
# HELP audit_events_stored_total Events stored, system-wide
# TYPE audit_events_stored_total counter
audit_events_stored_total 1042.0
# HELP audit_ingest_lag Entries of the ingest stream not yet delivered to the group audit-workers
# TYPE audit_ingest_lag gauge
audit_ingest_lag{stream="audit:ingest"} 0.0
"""


def init_app(app: Flask, system: SystemMetrics) -> None:
    """Set up the app's own metrics and the registry a scrape reads: the app's (one
    process), or every process's files (multiprocess mode); the system-wide collector
    in both."""
    multiprocess = multiprocess_dir()
    own = CollectorRegistry()
    telemetry.init_app(app, own)
    if multiprocess:
        served = CollectorRegistry()
        add_process_files: Any = MultiProcessCollector  # untyped in prometheus-client
        add_process_files(served)
    else:
        served = own
    served.register(system)
    app.extensions["audit.metrics_registry"] = served


@blp.route("/metrics", methods=["GET"])
@blp.doc(
    summary="Prometheus metrics",
    description="Text exposition format 0.0.4. No API key needed.",
    responses={
        "200": {
            "description": "The metrics",
            "content": {"text/plain": {"schema": {"type": "string"}, "example": EXAMPLE}},
        }
    },
)
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["audit.metrics_registry"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
