"""The stream consumer: read a batch, validate, store, dead-letter, ack; survive outages.

Order of effects for a batch: (1) store the valid events and add the dead letters,
(2) ack what (1) settled. A crash between the two redelivers entries whose effects
are already in place; the store is idempotent by (tenant, id), so they land once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import redis

from collector import scripts
from collector.events import PreparedEvent
from collector.integrity import Integrity
from collector.maintenance import Maintenance
from collector.queue_input import from_entry, kept_payload
from collector.settings import Settings
from collector.streams import DeadLetter, Entry, IngestStreams
from collector.timefmt import now_utc
from collector.writer import BatchWriter, Delivery
from worker.backoff import Backoff
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

# Redis away for now: the worker backs off and comes back. On a cluster that includes a
# slot without a master during a failover (CLUSTERDOWN, TRYAGAIN, a slot not covered).
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)
# What leaves the last batch unsettled at a stop (it stays pending for a restart).
UNSETTLED: tuple[type[Exception], ...] = (*REDIS_DOWN, redis.ResponseError)


def default_name() -> str:
    """``host-pid``: unique on a machine; pass a stable ``--name`` to resume own entries."""
    return f"{socket.gethostname()}-{os.getpid()}"


class StreamWorker:
    """One consumer in the group ``audit-workers``.

    ``run()`` loops until :meth:`stop`; ``run_burst()`` drains what is there and returns
    (tests, one-off catch-up). The Redis client is passed in: its socket timeout must
    exceed ``block_ms``.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        settings: Settings,
        name: str | None = None,
        batch_size: int = 256,
        block_ms: int = 1000,
        metrics: WorkerMetrics | None = None,
        integrate: bool = True,
    ) -> None:
        self.redis = redis_client
        self.metrics = metrics
        self.settings = settings
        self.name = name or default_name()
        self.batch_size = batch_size
        self.block_ms = block_ms
        keys = settings.key_names
        self.streams = IngestStreams(
            redis_client, keys, settings.max_clock_skew_s * 1000, settings.max_event_bytes
        )
        self.batch_writer = BatchWriter(redis_client, settings)
        self.maintenance = Maintenance(redis_client, keys, settings)
        # With integrity on, this worker tends the trees too, unless ``integrate`` is False:
        # an integrator process does it then (worker.integrator), on another core.
        self.integrity = Integrity(redis_client, settings)
        self.integrates = integrate and self.integrity.enabled
        if self.integrates:  # wake up often enough to sign within the interval
            self.block_ms = max(1, min(block_ms, int(self.integrity.tick_s * 1000)))
        self.stats = {"stored": 0, "duplicates": 0, "dead": 0, "batches": 0}
        self._stopping = threading.Event()
        self._ready = False
        self._next_claim = 0.0
        self._rotation = 0
        self._trimmed = True  # nothing consumed since the last trim
        # Storing batch N (a Redis round trip, GIL released while waiting) overlaps the
        # validation of batch N+1 (Python) on this one writer thread.
        self._writer: ThreadPoolExecutor | None = None  # made on first use, closed on exit
        self._inflight: Future[None] | None = None

    # -- lifecycle --------------------------------------------------------------------
    def stop(self) -> None:
        """Warm stop: finish the batch in hand, then return from ``run``."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Consume until stopped, backing off while Redis is away."""
        backoff = Backoff()
        log.info("worker %s consuming %s", self.name, ", ".join(self.streams.streams))
        while not self.stopping:
            try:
                self.step(overlap=True)
                backoff.reset()
            except REDIS_DOWN as exc:
                self._pause(backoff, f"Redis unavailable ({exc})")
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("worker %s: consumer group missing; recreating it", self.name)
                    self._ready = False
                else:  # OOM, BUSY, a script error: keep the entries pending, retry later
                    self._pause(backoff, f"Redis error ({exc})")
            except Exception:
                # A bug must not silently end consumption (in `run` the worker is a thread):
                # log it, leave the batch pending (delivery limit applies), carry on.
                log.exception("worker %s: unexpected error", self.name)
                self._pause(backoff, "unexpected error")
        try:
            self.flush()
        except UNSETTLED as exc:
            log.warning("worker %s: last batch not settled (%s); it stays pending", self.name, exc)
        self.close()
        log.info("worker %s stopped: %s", self.name, self.stats)

    def close(self) -> None:
        """Stop the writer thread (after :meth:`flush`); the worker can still be used after."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _pause(self, backoff: Backoff, why: str) -> None:
        self._ready = False
        delay = backoff.next()
        log.warning("worker %s: %s; retrying in %.1fs", self.name, why, delay)
        self._stopping.wait(delay)

    def run_burst(self, claim_idle_ms: int | None = None) -> dict[str, int]:
        """Process until nothing is new or claimable, then return the counters."""
        self._setup()
        while True:
            entries = self.streams.read(self.name, self.batch_size, block_ms=0)
            if entries:
                self.handle(entries, overlap=True)
                continue
            self.flush()  # nothing new: settle the batch in flight, then look for idle ones
            if not self.claim_idle(claim_idle_ms):
                self.close()
                if self.integrates:
                    self.integrity.run_due(force=True)
                return dict(self.stats)

    def step(self, overlap: bool = False) -> None:
        """One round: set up if needed, heartbeat, reclaim when due, read and handle a batch."""
        if not self._ready:
            self._setup()
        self.maintenance.heartbeat(self.name)
        if time.monotonic() >= self._next_claim:
            self.flush()  # never claim this worker's own batch in flight
            self._next_claim = time.monotonic() + min(self.settings.claim_idle_ms / 2000, 5.0)
            self.claim_idle()
            self.maintenance.run_due()
        self._rotation += 1
        entries = self.streams.read(self.name, self.batch_size, self.block_ms, self._rotation)
        if entries:
            self._trimmed = False
        elif not self._trimmed:
            # Caught up: drop the consumed entries now rather than at the next periodic
            # trim, so a drained stream does not hold seconds of events in Redis's memory.
            self.flush()
            self.streams.trim_consumed()
            self._trimmed = True
        self.handle(entries, overlap)  # the tree is tended after a batch is stored
        if not entries and self.integrates:
            self.integrity.run_due()

    def _setup(self) -> None:
        """Create the group if missing, then finish this consumer's own pending entries."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:  # let it finish or fail, so its entries are not taken twice
            futures.wait([inflight])
        self.streams.ensure_groups()
        scripts.load_all(self.redis)
        self.maintenance.heartbeat(self.name)
        while True:
            mine = self.streams.claim(self.name, 0, self.batch_size, owner=self.name)
            self.handle(mine)
            if len(mine) < self.batch_size:
                break
        self._ready = True

    # -- the batch --------------------------------------------------------------------
    def claim_idle(self, min_idle_ms: int | None = None) -> int:
        """Take over entries other consumers left pending too long; returns how many."""
        idle = self.settings.claim_idle_ms if min_idle_ms is None else min_idle_ms
        entries = self.streams.claim(self.name, idle, self.batch_size)
        if entries and self.metrics is not None:
            self.metrics.claimed.inc(len(entries))
        self.handle(entries)
        return len(entries)

    def flush(self) -> None:
        """Wait for the batch in flight to be stored and acked; raises what it raised."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()

    def handle(self, entries: Sequence[Entry], overlap: bool = False) -> None:
        """Validate one batch; store, dead-letter and ack it.

        With ``overlap`` (the consuming loops) the storing runs on the writer thread while
        the caller reads and validates the next batch: this returns once the previous
        batch is settled and this one is handed over (:meth:`flush` waits for it).
        Without, the batch is settled when this returns.
        """
        if not entries:
            return
        started = time.perf_counter()
        now = now_utc()
        deliveries = [Delivery(e, self._decode(e, now), e.stream, e.id) for e in entries]
        self.flush()
        if overlap:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"store-{self.name}")
            self._inflight = self._writer.submit(self._settle, deliveries, started)
        else:
            self._settle(deliveries, started)

    def _decode(self, entry: Entry, now: datetime) -> PreparedEvent | DeadLetter:
        """One entry as an event or a dead letter; whatever goes wrong stays with it."""
        s = self.settings
        if b"__truncated" in entry.fields:  # a huge value: dead-lettered with its digest
            letter = from_entry(entry, now, s.max_deliveries, s.max_event_bytes)
            if isinstance(letter, DeadLetter):
                letter.extra["sha256"] = self._digest(entry)
            return letter
        try:
            return from_entry(
                entry,
                now,
                s.max_deliveries,
                s.max_event_bytes,
                trusted=self.streams.is_http(entry.stream),
                max_skew=s.max_skew,
            )
        except Exception as exc:  # a bug must cost one entry, not its batch
            log.exception("worker %s: entry %s %s could not be decoded", self.name, *entry[:2])
            payload, extra = kept_payload(entry.fields.get(b"event", b""), s.max_event_bytes)
            reason = f"could not be decoded: {type(exc).__name__}"
            return DeadLetter(payload, reason, None, entry.stream, entry.id, extra)

    def _digest(self, entry: Entry) -> str:
        """SHA-256 of an entry's whole event field, read alone (the batch read had only a
        preview of it): one huge entry in memory at a time, never a batch of them."""
        rows = self.redis.xrange(entry.stream, entry.id, entry.id)
        fields = rows[0][1] if rows else None
        whole = fields.get(b"event") if fields else None
        return hashlib.sha256(whole if isinstance(whole, bytes) else b"").hexdigest()

    def _settle(self, deliveries: list[Delivery[Entry]], started: float) -> None:
        """Store and dead-letter, then ack what that settled (on the writer thread)."""
        result = self.batch_writer.write(deliveries)
        for error in {str(e) for _, e in result.failed}:
            log.error("worker %s: writing failed, left pending: %s", self.name, error)
        if result.dead_lettered:
            reasons = {
                (d.source.stream, d.source.id): d.item.reason
                for d in deliveries
                if isinstance(d.item, DeadLetter)
            }
            for entry in result.dead_lettered:
                reason = reasons.get((entry.stream, entry.id))
                if reason is not None:  # the writer logs the letters it made itself
                    log.warning(
                        "worker %s: dead letter %s %s: %s",
                        self.name,
                        entry.stream,
                        entry.id,
                        reason,
                    )
        settled = result.settled
        if settled:
            pipe = self.redis.pipeline(transaction=False)
            self.streams.pipe_ack(pipe, settled)
            pipe.execute()
        stored, duplicates = len(result.stored), len(result.duplicates)
        dead = len(result.dead_lettered)
        self.stats["stored"] += stored
        self.stats["duplicates"] += duplicates
        self.stats["dead"] += dead
        self.stats["batches"] += 1
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe_batch(len(deliveries), stored, duplicates, dead, seconds)
        log.info(
            "worker %s: batch of %d: %d stored, %d duplicates, %d dead in %.1fms",
            self.name,
            len(deliveries),
            stored,
            duplicates,
            dead,
            seconds * 1000,
            extra={
                "worker": self.name,
                "events": len(deliveries),
                "stored": stored,
                "duplicates": duplicates,
                "dead": dead,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
        outage = next((e for _, e in result.failed if isinstance(e, REDIS_DOWN)), None)
        if outage is not None:
            # part of Redis is away (a master failing over): back off, then retry this
            # worker's own pending entries at once rather than after AUDIT_CLAIM_IDLE_MS
            raise outage
        # Here, on the writer thread, its Redis round trips overlap the next batch's
        # validation on the consuming thread.
        if self.integrates:
            self.integrity.run_due()
