"""The integrator: tenants' Merkle trees and checkpoints kept up to date in a process of
their own.

Integrating hashes every stored event once more (its RFC 8785 form, then the tree). In
a consumer's own process that time is taken from validation, on the same core, and
costs about a fifth of the drain rate. So ``audit-trail worker``, with integrity on,
starts one integrator process beside its consumer (:class:`IntegratorProcess`), which
the operating system runs on another core. It reads the events back from Redis, so it
needs nothing from the consumer, and a crash of either loses nothing: the next run
resumes from the tree's size. Any number may run; one at a time tends a tenant (its
lock in Redis).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.process import BaseProcess

import redis

from collector import logs
from collector.connection import REDIS_ERRORS, connect
from collector.integrity import Integrity
from collector.settings import Settings
from worker.backoff import Backoff
from worker.signals import stop_on_signals

log = logging.getLogger(__name__)

WATCH_S = 1.0  # how often the parent looks whether its integrator is still alive
STOP_GRACE_S = 30.0  # a tenant's tend takes at most about a second


class Integrator:
    """Tends every grown tenant each tick, until stopped (the integrator process's loop)."""

    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.integrity = Integrity(redis_client, settings)
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Warm stop: finish the tenant in hand, then return from ``run``."""
        self._stopping.set()

    def run(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                integrated = self.integrity.run_due(force=True)
                backoff.reset()
                delay = 0.0 if integrated else self.integrity.tick_s  # behind: go on at once
            except REDIS_ERRORS as exc:
                delay = backoff.next()
                log.warning("integrator: Redis unavailable (%s); retrying in %.1fs", exc, delay)
            except Exception:  # a bug must not end integration silently: log, carry on
                delay = backoff.next()
                log.exception("integrator: unexpected error; retrying in %.1fs", delay)
            self._stopping.wait(delay)


def _main(settings: Settings) -> None:
    """The integrator process (spawned: a fresh interpreter, no state from the parent)."""
    logs.configure(settings.log_format)
    integrator = Integrator(connect(settings.redis_url), settings)
    stop_on_signals(integrator.stop)
    log.info("integrator started")
    integrator.run()
    log.info("integrator stopped")


class IntegratorProcess:
    """One :class:`Integrator` in a child process: restarted if it dies, stopped with the
    parent (:meth:`stop`). Needs a Redis URL: the embedded store is not shared."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("an integrator process needs REDIS_URL")
        self.settings = settings
        # spawn, not fork: the parent has threads (the metrics server) and sockets
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="integrator-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_main, args=(self.settings,), name="audit-trail-integrator", daemon=True
        )
        process.start()
        self._process = process

    def _watch(self) -> None:
        backoff = Backoff(first=1.0, cap=30.0)
        while not self._stopping.wait(WATCH_S):
            process = self._process
            if process is None or process.is_alive():
                backoff.reset()
                continue
            delay = backoff.next()
            log.warning(
                "integrator process %s ended (exit code %s); starting another in %.1fs",
                process.pid,
                process.exitcode,
                delay,
            )
            if self._stopping.wait(delay):
                return
            self._spawn()

    def stop(self) -> None:
        """Ask the integrator to stop (warm), wait for it, kill it if it hangs."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        process = self._process
        if process is None:
            return
        # A Ctrl-C in a terminal reached it already: give it a moment before a second
        # signal, which would make it exit at once (safe, but noisier).
        process.join(timeout=0.5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
