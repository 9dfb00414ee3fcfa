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
import os
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
# Between steps while the store grows: a step then takes a few hundred events at once
# rather than one batch's worth, and costs fewer round trips per event.
CATCH_UP_PAUSE_S = 0.02
STOP_GRACE_S = 30.0  # a tenant's tend takes at most about a second


class Integrator:
    """Integrates what is stored as it comes and signs once a tick, until stopped."""

    def __init__(
        self, redis_client: redis.Redis, settings: Settings, parent: int | None = None
    ) -> None:
        self.integrity = Integrity(redis_client, settings)
        self._stopping = threading.Event()
        self.parent = parent  # the worker process this one serves; stop when it is gone

    def stop(self) -> None:
        """Warm stop: finish the tenant in hand, then return from ``run``."""
        self._stopping.set()

    def run(self) -> None:
        """Integrate as events come, sign once a tick (half AUDIT_CHECKPOINT_INTERVAL_MS)."""
        backoff = Backoff()
        while not self._stopping.is_set():
            if self.parent is not None and os.getppid() != self.parent:
                log.warning("integrator: worker process %d is gone; stopping", self.parent)
                return
            try:
                if self.integrity.seconds_to_tick() == 0:
                    integrated = self.integrity.run_due()
                else:
                    integrated = self.integrity.integrate_grown()
                backoff.reset()
                # while the store grows, integrate in steps; else wait for the next tick
                delay = CATCH_UP_PAUSE_S if integrated else self.integrity.seconds_to_tick()
            except REDIS_ERRORS as exc:
                delay = backoff.next()
                log.warning("integrator: Redis unavailable (%s); retrying in %.1fs", exc, delay)
            except Exception:  # a bug must not end integration silently: log, carry on
                delay = backoff.next()
                log.exception("integrator: unexpected error; retrying in %.1fs", delay)
            self._stopping.wait(delay)


def _main(settings: Settings, parent: int) -> None:
    """The integrator process (spawned: a fresh interpreter, no state from the parent)."""
    logs.configure(settings.log_format)
    integrator = Integrator(connect(settings.redis_url), settings, parent=parent)
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

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="integrator-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_main,
            args=(self.settings, os.getpid()),  # not the child's getppid(): we may be gone
            name="audit-trail-integrator",
            daemon=True,
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
