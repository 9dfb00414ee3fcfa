"""Per-request bookkeeping: the request id, one log line, the HTTP metrics.

``X-Request-ID`` is kept when it is up to 128 of ``A-Z a-z 0-9 . _ -``, else one is
made; it is echoed in the response header and in problem+json bodies. Labels stay
bounded: the route is the URL rule (``/v1/events/<event_id>``), never the path, and
a method outside the usual few is counted as ``other``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger("api.requests")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # kept out of log lines (text format)
# From a cached read (~1 ms) to a large export or a slow Redis.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """The API process's own families. Under gunicorn with ``PROMETHEUS_MULTIPROC_DIR``
    set, prometheus-client keeps their values in files that ``/metrics`` sums over
    every process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "audit_http_requests",
            "HTTP requests answered, by method, URL rule and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "audit_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of its body)",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.accepted = Counter(
            "audit_events_accepted",
            "Events accepted over HTTP (v1, CloudEvents and the legacy routes)",
            registry=registry,
        )
        # (method, route, status) -> the two children: ``labels`` takes a lock and checks
        # its arguments on every call; the label sets are bounded (see the module's doc)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


def request_id() -> str | None:
    """This request's id (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    rid: str | None = g.get("request_id")
    if rid is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def count_accepted(n: int) -> None:
    """Count events this request handed to the ingest stream."""
    current_app.extensions["audit.http_metrics"].accepted.inc(n)


def _start() -> None:
    g.started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    rid = request_id() or ""
    response.headers[REQUEST_ID_HEADER] = rid
    metrics: HttpMetrics = current_app.extensions["audit.http_metrics"]
    started = g.get("started", time.perf_counter())
    method = request.method if request.method in _METHODS else "other"
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    path, status = _CONTROL.sub("?", request.path), response.status_code

    def done() -> None:
        seconds = time.perf_counter() - started
        metrics.observe(method, route, status, seconds)
        log.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            seconds * 1000,
            extra={
                "request_id": rid,
                "method": method,
                "route": route,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
            },
        )

    if response.is_streamed:
        # When the server has sent the whole body, so an export's line and histogram
        # cover all of it.
        response.call_on_close(done)
    else:
        done()
    return response


def init_app(app: Flask, registry: CollectorRegistry) -> HttpMetrics:
    """Install the hooks; returns the app's metrics (also in ``app.extensions``)."""
    metrics = HttpMetrics(registry)
    app.extensions["audit.http_metrics"] = metrics
    app.before_request(_start)
    app.after_request(_finish)
    return metrics
