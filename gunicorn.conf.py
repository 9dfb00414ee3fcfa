"""Gunicorn settings for ``gunicorn --config gunicorn.conf.py "api:create_app()"``.

Every choice can be overridden from the environment (and, as always with gunicorn, by
command-line flags or ``GUNICORN_CMD_ARGS``):

=============================  =========  ====================================================
variable                       default    meaning
=============================  =========  ====================================================
``PORT``                       ``8000``   port to listen on, on all interfaces (0.0.0.0)
``WEB_CONCURRENCY``            see below  worker processes
``GUNICORN_THREADS``           see below  threads per worker (``gthread`` worker class only)
``GUNICORN_WORKER_CLASS``      see below  ``gevent`` (the default), ``gthread`` or ``sync``
``GUNICORN_CONNECTIONS``       ``1000``   open connections per worker (``gevent``)
``GUNICORN_TIMEOUT``           ``30``     seconds a silent worker lives before it is restarted
``GUNICORN_GRACEFUL_TIMEOUT``  ``25``     seconds in-flight requests get to finish on SIGTERM
``GUNICORN_KEEPALIVE``         ``5``      seconds an idle keep-alive connection stays open
``GUNICORN_ACCESS_LOG``        unset      ``-`` for stdout, or a file; unset: no access log
``GUNICORN_LOG_LEVEL``         ``info``   error log level (the error log goes to stderr)
``AUDIT_LOG_FORMAT``           see below  ``text`` or ``json``: every log line, gunicorn's too
``PROMETHEUS_MULTIPROC_DIR``   see below  folder of the processes' metric files (made, wiped)
=============================  =========  ====================================================

Workers and the worker class were chosen by measurement (benchmarks/http_ingest.py,
benchmarks/slow_clients.py); the figures are in the comments above ``worker_class``.

gunicorn answers a request it cannot parse (a bad request line, a header without a
colon, a bad ``Content-Length`` or chunk size) itself, before the app sees it, with an
HTML page: :func:`post_worker_init` makes those answers problem+json like the app's.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from collector.errors import ConfigError
from collector.logs import dict_config, resolve_format
from collector.runtime import tune_gc
from collector.settings import Settings


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"gunicorn.conf.py: {name} must be at least {minimum}, got {value}")
    return value


bind = [f"0.0.0.0:{_int('PORT', 8000, minimum=0)}"]

# Measured with benchmarks/http_ingest.py on a 2-core machine (wrk on the same host, 32
# connections, one ~500-byte event per POST /v1/events, 6 runs of 6 s per config, medians;
# the machine was shared, so single runs varied by +-30%):
#
#   config             app req/s (median, best)   p99 ms   bare Flask+XADD baseline
#   sync    2 x 1      2250, 2470                 24-34    2290-3440
#   sync    4 x 1      2195 (3 runs)              25
#   gthread 1 x 8      1290 (3 runs)              42       one process: one core (GIL)
#   gthread 2 x 4      2285, 3220                 30-45    2500-5100
#   gthread 2 x 8      1890, 2590                 39-48
#   gthread 4 x 2      2285, 2450                 61-72
#   gthread 4 x 4      2140 (3 runs)              41
#
# The app is CPU-bound Python (JSON, validation), so throughput needs one process per core
# (1 process: -44%) and gains nothing past it: workers = cores.
#
# Slow clients decide the worker class. A thread worker gives each connection a thread
# from the moment its first byte arrives until its request is done, so a client that
# sends its headers a byte a second holds a thread for hours, and so does a live tail.
# benchmarks/slow_clients.py, 2 workers, /healthz asked twice a second on new connections
# for 12 s while slow clients hold connections (same 2-core machine):
#
#   worker class     slowloris  held requests  2 MiB batches  /healthz median, max, >1 s
#   gthread 2 x 4           64             50              0  all probes failed (3 s)
#   gthread 2 x 64          64             50              0  2 ms, failed once, 1
#   gthread 2 x 128         64             50              0  2 ms, 97 ms, 0
#   gthread 2 x 128        256             50        2 loops  4 of 5 probes failed
#   gevent  2 x 1000        64             50              0  3 ms, 32 ms, 0
#   gevent  2 x 1000       256             50        2 loops  50 ms, 233 ms, 0
#
# gevent holds an idle or trickling connection for the cost of a greenlet, so slow
# clients and tails cost memory, not the workers' capacity; threads only move the cliff.
# It does not cost throughput either: benchmarks/http_ingest.py, same run, 32 connections,
# 5 s: gevent 2 workers 1,658 req/s (p99 64 ms), gthread 2 x 4 937 req/s (p99 84 ms).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gevent"
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 4)  # gthread only
worker_connections = _int("GUNICORN_CONNECTIONS", 1000)

# A request does at most a few Redis round trips whose sockets time out after 10 s
# (collector.connection); 30 s of silence means a stuck worker.
timeout = _int("GUNICORN_TIMEOUT", 30)
# SIGTERM (docker stop, a deploy) lets in-flight requests finish for this long.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Idle keep-alive connections (gthread) are closed after this many seconds.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# The app logs one line per request itself (with its request id); gunicorn's access log
# is off unless asked for. Every line goes to stderr in AUDIT_LOG_FORMAT (json unless
# stderr is a terminal), gunicorn's own included.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "").strip() or None


class AccessLogWhenAsked(Logger):
    """gunicorn's logger, but the access line is built only when ``accesslog`` is set:
    gunicorn builds it whenever ``logconfig_dict`` is (this file always sets it), and the
    quiet ``gunicorn.access`` logger then drops it (~3% of a single-event request)."""

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog) and bool(super().access_log_enabled)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = AccessLogWhenAsked
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "").strip() or "info"
try:
    _log_format = Settings.from_env().log_format
except ConfigError as exc:
    raise SystemExit(f"gunicorn.conf.py: {exc.detail}") from None
logconfig_dict = dict_config(
    resolve_format(_log_format), level=loglevel.upper(), access_log=accesslog is not None
)
# Python warnings (gevent's monkey-patching notice in each worker, say) become log
# records too, so every line on stderr is in the chosen format.
logging.captureWarnings(True)

# Prometheus multiprocess mode: each worker process writes its metrics to files in this
# folder and a scrape of /metrics, whichever process answers, sums them all. It must be
# in the environment before any worker imports prometheus_client (workers inherit it;
# this master never imports it at load). Unset, a folder of this master's own is made;
# set, the folder given is used. Either way it is wiped when gunicorn starts, so figures
# of a previous run are never summed in, and a dead worker's files are marked.
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED_ENV = "AUDIT_METRICS_DIR_OWNED"  # survives a config reload (HUP) in this master
if not os.environ.get(_MULTIPROC_ENV):
    _base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    os.environ[_MULTIPROC_ENV] = os.path.join(_base, f"audit-trail-metrics-{os.getpid()}")
    os.environ[_OWNED_ENV] = os.environ[_MULTIPROC_ENV]
# Made now, not only in on_starting: `gunicorn --check-config` builds the app (and its
# metrics) without starting.
os.makedirs(os.environ[_MULTIPROC_ENV], exist_ok=True)
_MASTER_PID = os.getpid()
_OWNED_DIR = os.environ.get(_OWNED_ENV)


def on_starting(server: Any) -> None:
    """Wipe the metrics folder before the first worker starts."""
    folder = os.environ[_MULTIPROC_ENV]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server: Any, worker: Any) -> None:
    """A worker process ended: drop its live-gauge files (its counters stay summed)."""
    from prometheus_client import multiprocess  # here: after the folder is in the env

    multiprocess.mark_process_dead(worker.pid)


def _remove_owned_folder() -> None:
    """Remove the metrics folder if this master made it (never from a worker process,
    which inherits this at-exit hook)."""
    if os.getpid() == _MASTER_PID and _OWNED_DIR:
        shutil.rmtree(_OWNED_DIR, ignore_errors=True)


def on_exit(server: Any) -> None:
    _remove_owned_folder()


atexit.register(_remove_owned_folder)  # also after --check-config, which never starts


# The worker heartbeat file lives in memory: a container's overlay filesystem can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No preload: every worker builds its own app and Redis client after the fork (and, with
# gevent, after the worker has patched the standard library).
preload_app = False

_REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed"}


def _write_problem(sock, status_int, reason, mesg):  # type: ignore[no-untyped-def]
    """gunicorn's ``util.write_error`` with an RFC 9457 problem+json body instead of HTML."""
    from gunicorn import util

    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason or _REASONS.get(status_int, "Error"),
            "status": status_int,
            "detail": mesg or reason,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Every error gunicorn writes itself is problem+json (set once per worker process);
    the app is loaded: the collector's settings for a long-running process apply."""
    from gunicorn import util

    util.write_error = _write_problem
    tune_gc()
