"""Retention policies and legal holds, per tenant.

A tenant's policy is its own number of days (``audit-trail retention set``), else
``AUDIT_RETENTION_DAYS``, else keep forever; days ``0`` in a tenant's own policy
means keep forever whatever the default. A held tenant (``audit-trail hold set``) is
never purged, whatever its policy: the purge script itself reads the hold, so a hold
set while a purge is under way stops it at the next step.

Purging removes the events whose ``occurred_at`` is older than the cutoff in steps
of a few hundred events, each one short script call, so Redis is never blocked long.
The workers run :meth:`Retention.run_scheduled` from their loop; a lock makes it once
a minute and one worker at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import orjson
import redis

from collector.connection import text
from collector.errors import ConfigError
from collector.keys import KeyNames
from collector.schema import is_valid_tenant
from collector.store import Store
from collector.timefmt import format_utc, now_utc, sort_key

log = logging.getLogger(__name__)

RUN_EVERY_S = 60
# Events removed per purge-script call: each costs ~8 commands, so ~2 ms of Redis.
PURGE_STEP = 250


@dataclass(frozen=True)
class Hold:
    """A legal hold on a tenant."""

    tenant: str
    reason: str
    since: str


@dataclass(frozen=True)
class TenantRetention:
    """A tenant's effective policy: ``days`` None is keep forever; ``source`` says where
    the number comes from (``tenant``, ``default`` or ``none``)."""

    tenant: str
    days: int | None
    source: str
    hold: Hold | None


@dataclass(frozen=True)
class PurgeResult:
    """What a retention run did (or, with ``dry_run``, would do) to one tenant."""

    tenant: str
    days: int | None
    cutoff: str | None
    purged: int
    held: bool
    dry_run: bool


def check_tenant(tenant: str) -> str:
    if not is_valid_tenant(tenant):
        raise ConfigError(f"invalid tenant name: {tenant!r}")
    return tenant


class Retention:
    """Policies, holds and purges over one Redis."""

    def __init__(
        self,
        redis_client: redis.Redis,
        key_names: KeyNames,
        default_days: int | None,
        integrity: bool = False,
    ) -> None:
        # With integrity on, only events already in the tenant's Merkle tree are purged.
        self.integrity = integrity
        self.redis = redis_client
        self.key_names = key_names
        self.default_days = default_days
        self.store = Store(redis_client, key_names)

    # -- policies ---------------------------------------------------------------------
    def set_policy(self, tenant: str, days: int | None) -> None:
        """The tenant keeps events ``days`` days; None is keep forever."""
        if days is not None and days < 1:
            raise ConfigError("--days must be at least 1")
        self.redis.hset(self.key_names.retention, check_tenant(tenant), days or 0)

    def unset_policy(self, tenant: str) -> bool:
        """Back to the default policy; False if the tenant had none of its own."""
        return bool(self.redis.hdel(self.key_names.retention, check_tenant(tenant)))

    def policies(self) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key_names.retention))
        return {text(t): int(d) for t, d in raw.items()}

    def effective(self, tenant: str, own: dict[str, int] | None = None) -> tuple[int | None, str]:
        """(days or None for forever, where it comes from) for one tenant."""
        own = self.policies() if own is None else own
        if tenant in own:
            return (own[tenant] or None), "tenant"
        if self.default_days:
            return self.default_days, "default"
        return None, "none"

    # -- holds ------------------------------------------------------------------------
    def set_hold(self, tenant: str, reason: str) -> Hold:
        if not reason.strip():
            raise ConfigError("--reason must not be empty")
        hold = Hold(check_tenant(tenant), reason, format_utc(now_utc()))
        record = orjson.dumps({"reason": hold.reason, "since": hold.since})
        # The tenant's own key first: it is what purging obeys; the list follows.
        self.redis.set(self.key_names.hold(tenant), record)
        self.redis.hset(self.key_names.holds, tenant, record)
        return hold

    def clear_hold(self, tenant: str) -> bool:
        """Lift a hold; False if the tenant was not held."""
        existed = bool(self.redis.delete(self.key_names.hold(check_tenant(tenant))))
        return bool(self.redis.hdel(self.key_names.holds, tenant)) or existed

    def holds(self) -> dict[str, Hold]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key_names.holds))
        out = {}
        for tenant, record in raw.items():
            data = orjson.loads(record)
            out[text(tenant)] = Hold(text(tenant), data["reason"], data["since"])
        return out

    def is_held(self, tenant: str) -> bool:
        return bool(self.redis.exists(self.key_names.hold(tenant)))

    # -- what `retention show` prints --------------------------------------------------
    def show(self) -> list[TenantRetention]:
        """Every tenant with events, a policy or a hold."""
        own, holds = self.policies(), self.holds()
        tenants = {text(t) for t in cast(set[bytes], self.redis.smembers(self.key_names.tenants))}
        out = []
        for tenant in sorted(tenants | set(own) | set(holds)):
            days, source = self.effective(tenant, own)
            out.append(TenantRetention(tenant, days, source, holds.get(tenant)))
        return out

    # -- purging ----------------------------------------------------------------------
    def run(
        self,
        tenant: str | None = None,
        days: int | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
        on_step: Callable[[], object] | None = None,
    ) -> list[PurgeResult]:
        """Purge now: one tenant or all, by their policies or by ``days`` for this run.

        ``on_step`` is called between purge steps (the scheduled run keeps its lock).
        """
        if days is not None and days < 1:
            raise ConfigError("--days must be at least 1")
        now = now or now_utc()
        own = self.policies()
        tenants = [check_tenant(tenant)] if tenant else self.store.tenants()
        results = []
        for name in tenants:
            limit = days if days is not None else self.effective(name, own)[0]
            if limit is None:
                results.append(PurgeResult(name, None, None, 0, self.is_held(name), dry_run))
                continue
            cutoff = now - timedelta(days=limit)
            if self.is_held(name):
                results.append(PurgeResult(name, limit, format_utc(cutoff), 0, True, dry_run))
                continue
            if dry_run:
                count = self.count_before(name, cutoff)
            else:
                count = self.store.purge_before(
                    name, cutoff, PURGE_STEP, integrity=self.integrity, on_step=on_step
                )
            results.append(
                PurgeResult(name, limit, format_utc(cutoff), count, self.is_held(name), dry_run)
            )
        return results

    def count_before(self, tenant: str, cutoff: datetime) -> int:
        """Events of the tenant whose ``occurred_at`` is before ``cutoff`` (one ZLEXCOUNT)."""
        return int(
            self.redis.zlexcount(self.key_names.time_index(tenant), "-", "(" + sort_key(cutoff))
        )

    def run_scheduled(self) -> list[PurgeResult]:
        """Apply every policy if this process wins the minute's lock, else do nothing.

        The lock is not released at the end: it expires a minute after the last step,
        which is what makes the schedule once a minute across all workers.
        """
        lock = self.redis.lock(self.key_names.lock("retention"), timeout=RUN_EVERY_S)
        if not lock.acquire(blocking=False):
            return []
        results = self.run(on_step=lock.reacquire)
        lock.reacquire()
        purged = [r for r in results if r.purged]
        for result in purged:
            log.info(
                "retention: purged %d events of tenant %s older than %s",
                result.purged,
                result.tenant,
                result.cutoff,
                extra={"tenant": result.tenant, "purged": result.purged, "cutoff": result.cutoff},
            )
        return results
