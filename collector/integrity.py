"""Keeping each tenant's Merkle tree up to date and signing its checkpoints.

Workers call :meth:`Integrity.run_due` from their loop. Every half
``AUDIT_CHECKPOINT_INTERVAL_MS`` it looks for tenants whose ``seq`` counter is past
their latest checkpoint and, for each, under the tenant's lock (one worker at a time):

1. *integrates*: reads the events after the tree's size in ``seq`` order, computes their
   leaf hashes here, and appends them with a script that writes only if the tree size
   has not moved (a crash anywhere leaves the tree at its last append; the next run
   resumes from there);
2. *signs*: a checkpoint of the whole tree, after checking the tree still reproduces the
   latest checkpoint's root, written first to ``AUDIT_CHECKPOINT_DIR`` (when set) and
   then to Redis by a script that never lets the latest checkpoint shrink.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import redis

from collector import merkle, scripts
from collector.checkpoint import Checkpoint, CheckpointError, open_checkpoint, origin_of
from collector.checkpointdir import write_checkpoint
from collector.leaves import leaf_hash_of
from collector.scripts import ScriptCall
from collector.settings import Settings
from collector.signednote import Signer, parse
from collector.signing import configured_signer
from collector.store import Store
from collector.treestore import tenant_tree

log = logging.getLogger(__name__)

INTEGRATE_BATCH = 2000
LOCK_TIMEOUT_S = 30
TEND_BUDGET_S = 0.5  # integrate at most this long per tenant and tick, then sign


def note_size(note: bytes | str | None) -> int:
    """The tree size a stored checkpoint note claims (0 for none), signature unchecked."""
    if note is None:
        return 0
    text = note.decode() if isinstance(note, bytes) else note
    try:
        return Checkpoint.parse(parse(text)[0]).size
    except (CheckpointError, ValueError):
        return 0


class Integrity:
    """Integrates stored events into tenants' trees and signs their checkpoints."""

    def __init__(
        self, redis_client: redis.Redis, settings: Settings, signer: Signer | None = None
    ) -> None:
        self.redis = redis_client
        self.settings = settings
        self.key_names = settings.key_names
        self.store = Store(redis_client, self.key_names)  # reads bodies as stored (decoded)
        self.signer = signer or configured_signer(settings)
        self._next_tick = 0.0
        # What was last logged per tenant, so a stuck tenant is logged once, not every tick.
        self._stuck: dict[str, int] = {}  # the seq integration waits at
        self._refused: dict[str, str] = {}  # why it is not signed

    @property
    def enabled(self) -> bool:
        return self.signer is not None

    @property
    def tick_s(self) -> float:
        """How often a worker looks for grown tenants: half the checkpoint interval."""
        return max(self.settings.checkpoint_interval_ms / 2000, 0.01)

    def origin(self, tenant: str) -> str:
        return origin_of(self.settings.log_origin, tenant)

    # -- the loop's entry point ---------------------------------------------------------
    def run_due(self, force: bool = False) -> int:
        """Integrate and sign every grown tenant, if a tick is due (or ``force``); returns
        how many events were integrated."""
        if not self.enabled or (not force and time.monotonic() < self._next_tick):
            return 0
        self._next_tick = time.monotonic() + self.tick_s
        return sum(self.tend(tenant) for tenant in self.grown())

    def seconds_to_tick(self) -> float:
        """How long until :meth:`run_due` has something to do (0 when it is due)."""
        return max(0.0, self._next_tick - time.monotonic())

    def integrate_grown(self) -> int:
        """Integrate every grown tenant, signing nothing (between ticks, an integrator
        keeps up with a busy store in small steps); returns how many events."""
        if not self.enabled:
            return 0
        return sum(self.tend(tenant, sign=False) for tenant in self.grown())

    def grown(self) -> list[str]:
        """Tenants with events stored past their latest checkpoint."""
        tenants = sorted(
            t.decode() for t in cast(set[bytes], self.redis.smembers(self.key_names.tenants))
        )
        if not tenants:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for tenant in tenants:
            pipe.get(self.key_names.seq(tenant))
            pipe.get(self.key_names.checkpoint(tenant))
        replies: list[Any] = pipe.execute()
        return [
            tenant
            for tenant, seq, note in zip(tenants, replies[::2], replies[1::2], strict=True)
            if int(seq or 0) > note_size(note)
        ]

    def tend(self, tenant: str, sign: bool = True) -> int:
        """Integrate, then sign (unless not ``sign``), one tenant, if no other worker is
        doing it now; returns how many events were integrated."""
        lock = self.redis.lock(self.key_names.tree_lock(tenant), timeout=LOCK_TIMEOUT_S)
        if not lock.acquire(blocking=False):
            return 0
        integrated = 0
        try:
            deadline = time.monotonic() + TEND_BUDGET_S
            while time.monotonic() < deadline:
                appended = self.integrate(tenant)
                integrated += appended
                if not appended:
                    break
            if sign:
                self.sign(tenant)
            return integrated
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("integrity: the lock of tenant %r expired while held", tenant)

    # -- the two steps ------------------------------------------------------------------
    def integrate(self, tenant: str, batch: int = INTEGRATE_BATCH) -> int:
        """Append the next events in ``seq`` order to the tenant's tree; returns how many.

        Stops at the first seq with no event (a hole is for ``verify`` to report, never
        to skip), and appends nothing if another writer moved the tree meanwhile.
        """
        tree = tenant_tree(self.redis, self.key_names, tenant)
        size = tree.size()
        pairs = cast(
            list[tuple[bytes, float]],
            self.redis.zrange(
                self.key_names.seq_index(tenant),
                size + 1,
                size + batch,
                byscore=True,
                withscores=True,
            ),
        )
        ids: list[bytes] = []
        for event_id, score in pairs:
            if int(score) != size + len(ids) + 1:
                break
            ids.append(event_id)
        bodies = self.store.get_raw_many(tenant, ids, keep_undecodable=True)
        leaves = []
        for body in bodies:
            if body is None:
                break
            leaves.append(leaf_hash_of(body))
        waiting_at = size + len(leaves) + 1
        if len(leaves) < len(pairs) and self._stuck.get(tenant) != waiting_at:
            self._stuck[tenant] = waiting_at
            log.warning(
                "integrity: tenant %r: seq %d has no single stored event; integration waits"
                " (run audit-trail verify)",
                tenant,
                waiting_at,
            )
        if not leaves or not tree.append(leaves, size):
            return 0
        return len(leaves)

    def sign(self, tenant: str) -> str | None:
        """Sign a checkpoint of the tenant's whole tree if it grew; returns the note.

        What looks tampered with is left as it is, for ``verify`` to report, and logged: a
        latest checkpoint that does not verify, one smaller than a checkpoint already
        signed (a rollback), or a tree that no longer reproduces the latest root.
        """
        assert self.signer is not None
        keys = self.key_names
        tree = tenant_tree(self.redis, keys, tenant)
        size = tree.size()
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(keys.checkpoint(tenant))
        pipe.zrange(keys.checkpoints(tenant), -1, -1, withscores=True)
        latest, newest = pipe.execute()
        previous = Checkpoint(self.origin(tenant), 0, merkle.EMPTY_ROOT)
        if latest is not None:
            try:
                previous = open_checkpoint(latest.decode(), self.signer.verifier(), previous.origin)
            except CheckpointError as exc:
                self._refuse(tenant, f"the latest checkpoint does not verify ({exc})")
                return None
        if newest and int(newest[0][1]) > previous.size:
            self._refuse(tenant, f"the latest checkpoint was rolled back to {previous.size}")
            return None
        if size <= previous.size:
            return None
        if previous.size and tree.root(previous.size) != previous.root:
            self._refuse(tenant, f"the tree no longer reproduces checkpoint {previous.size}")
            return None
        note = Checkpoint(previous.origin, size, tree.root(size)).sign(self.signer)
        if self.settings.checkpoint_dir:
            write_checkpoint(self.settings.checkpoint_dir, tenant, size, note)
        scripts.run(self.redis, self.checkpoint_call(tenant, size, note))
        return note

    def _refuse(self, tenant: str, why: str) -> None:
        """Log (once per reason) why a tenant is not signed."""
        if self._refused.get(tenant) != why:
            self._refused[tenant] = why
            log.error("integrity: tenant %r: %s; not signing (run audit-trail verify)", tenant, why)

    def checkpoint_call(self, tenant: str, size: int, note: str) -> ScriptCall:
        """The script call that publishes a signed checkpoint unless the latest is as large."""
        keys = [self.key_names.checkpoint(tenant), self.key_names.checkpoints(tenant)]
        return ScriptCall("checkpoint", keys, [size, note])
