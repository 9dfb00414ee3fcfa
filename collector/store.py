"""The write path and lookups by id: idempotent by (tenant, id), dense ``seq`` per tenant.

One Lua script per tenant and batch stores every new event, assigns its ``seq``
and updates every index in one atomic step; all its keys share the tenant's hash
tag, so the step stays on one Redis Cluster node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
import redis

from collector.events import PreparedEvent, index_of
from collector.keys import Keys
from collector.scripts import load_script
from collector.timefmt import sort_key


@dataclass(frozen=True)
class ScriptCall:
    """The keys and arguments of one script call (kept apart so tests can check slots)."""

    keys: list[str]
    args: list[Any]


class Store:
    """Events in Redis: write batches, read by id, purge by age."""

    def __init__(self, redis_client: redis.Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys
        self._store = redis_client.register_script(load_script("store.lua"))
        self._purge = redis_client.register_script(load_script("purge.lua"))

    # -- writes -----------------------------------------------------------------------
    def store_calls(self, events: Iterable[PreparedEvent]) -> dict[str, ScriptCall]:
        """Group events by tenant into one store-script call each."""
        calls: dict[str, ScriptCall] = {}
        for event in events:
            call = calls.get(event.tenant)
            if call is None:
                k = self.keys
                call = calls[event.tenant] = ScriptCall(
                    [
                        k.events(event.tenant),
                        k.seq(event.tenant),
                        k.time_index(event.tenant),
                        k.seq_index(event.tenant),
                        k.duplicates(event.tenant),
                    ],
                    [],
                )
            call.keys.extend(self.keys.field_indexes(event.tenant, event.indexed))
            call.args.extend((event.id, event.member, event.body, len(event.indexed)))
        return calls

    def queue_store(self, pipe: Any, events: Sequence[PreparedEvent]) -> list[str]:
        """Add the store calls for ``events`` to a pipeline; returns the tenants in call order.

        The pipeline's result for each call is the list of seqs (0 for a duplicate) in
        the order the tenant's events were given.
        """
        calls = self.store_calls(events)
        sha = self._store.sha
        for call in calls.values():
            # EVALSHA directly: a registered Script on a pipeline costs a SCRIPT EXISTS
            # round trip per execute. Callers load the script first (load_scripts) and
            # reload on NOSCRIPT (a restarted or flushed Redis).
            pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
        if calls:
            pipe.sadd(self.keys.tenants, *calls)
        return list(calls)

    def load_scripts(self) -> None:
        """Load the store script into Redis (once per connection setup; idempotent)."""
        self.redis.script_load(self._store.script)

    def run_pipeline(self, fill: Callable[[Any], list[str]]) -> tuple[list[str], list[Any]]:
        """Execute a pipeline that ``fill`` builds (store calls first, from :meth:`queue_store`,
        whose tenants it returns); results come back unraised, errors in place.

        If Redis lost the store script (a restart, SCRIPT FLUSH), it is loaded and the whole
        pipeline runs once more: every step in it is idempotent.
        """
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            tenants = fill(pipe)
            results = pipe.execute(raise_on_error=False)
            lost = any(isinstance(r, redis.exceptions.NoScriptError) for r in results)
            if not lost or attempt == 2:
                return tenants, results
            self.load_scripts()
        raise AssertionError("unreachable")

    def store(self, events: Sequence[PreparedEvent]) -> list[int]:
        """Store events now; returns each event's seq, or 0 where its id was already stored."""
        if not events:
            return []
        tenants, results = self.run_pipeline(lambda pipe: self.queue_store(pipe, events))
        for result in results:
            if isinstance(result, Exception):
                raise result
        by_tenant = {t: iter(r) for t, r in zip(tenants, results[: len(tenants)], strict=True)}
        return [int(next(by_tenant[e.tenant])) for e in events]

    # -- reads ------------------------------------------------------------------------
    def get_raw(self, tenant: str, event_id: str) -> bytes | None:
        """The stored JSON of one event, as bytes, or None."""
        return self.redis.hget(self.keys.events(tenant), event_id)  # type: ignore[return-value]

    def get(self, tenant: str, event_id: str) -> dict[str, Any] | None:
        """One stored event, or None."""
        raw = self.get_raw(tenant, event_id)
        return None if raw is None else orjson.loads(raw)

    def count(self, tenant: str) -> int:
        """How many events the tenant has stored."""
        return int(self.redis.hlen(self.keys.events(tenant)))

    def tenants(self) -> list[str]:
        """Every tenant that has stored an event."""
        return sorted(t.decode() for t in self.redis.smembers(self.keys.tenants))  # type: ignore[union-attr]

    # -- retention --------------------------------------------------------------------
    def purge_before(
        self,
        tenant: str,
        cutoff: datetime,
        chunk: int = 500,
        on_step: Callable[[], object] | None = None,
    ) -> int:
        """Remove the tenant's events whose ``occurred_at`` is before ``cutoff``, ``chunk``
        at a time (``on_step`` is called before each step); returns how many. Nothing is
        removed from a tenant under legal hold (the purge script checks, each step)."""
        removed = 0
        upper = "(" + sort_key(cutoff)
        while True:
            if on_step is not None:
                on_step()
            members = cast(
                list[bytes],
                self.redis.zrangebylex(
                    self.keys.time_index(tenant), "-", upper, start=0, num=chunk
                ),
            )
            if not members:
                return removed
            docs: list[bytes | None] = self.redis.hmget(  # type: ignore[assignment]
                self.keys.events(tenant), [m.decode().split("|", 1)[1] for m in members]
            )
            call = self.purge_call(tenant, members, docs)
            step = int(self._purge(keys=call.keys, args=call.args))
            if step < 0:  # the tenant is under legal hold: the script removed nothing
                return removed
            removed += step

    def purge_call(self, tenant: str, members: list[bytes], docs: list[bytes | None]) -> ScriptCall:
        """The purge-script call removing these index members and their events."""
        k = self.keys
        call = ScriptCall(
            [k.events(tenant), k.time_index(tenant), k.seq_index(tenant), k.hold(tenant)], []
        )
        for member, raw in zip(members, docs, strict=True):
            index = index_of(orjson.loads(raw)) if raw else ()
            call.keys.extend(self.keys.field_index(tenant, f, v) for f, v in index)
            call.args.extend((member.decode().split("|", 1)[1], member, len(index)))
        return call
