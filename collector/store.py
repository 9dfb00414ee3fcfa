"""The write path and lookups by id: idempotent by (tenant, id), dense ``seq`` per tenant.

One Lua script per tenant and batch stores every new event, assigns its ``seq``
and updates every index in one atomic step; all its keys share the tenant's hash
tag, so the step stays on one Redis Cluster node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

import orjson
import redis

from collector import scripts
from collector.events import PreparedEvent, index_of
from collector.keys import KeyNames
from collector.scripts import ScriptCall
from collector.timefmt import sort_key


class Store:
    """Events in Redis: write batches, read by id, purge by age."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames) -> None:
        self.redis = redis_client
        self.key_names = key_names

    # -- writes -----------------------------------------------------------------------
    def store_calls(self, events: Iterable[PreparedEvent]) -> dict[str, ScriptCall]:
        """Group events by tenant into one store-script call each (the batch writer runs them).

        Each call's reply is the list of seqs (0 for a duplicate) in the order the
        tenant's events were given.
        """
        calls: dict[str, ScriptCall] = {}
        for event in events:
            call = calls.get(event.tenant)
            if call is None:
                k = self.key_names
                call = calls[event.tenant] = ScriptCall(
                    "store",
                    [
                        k.events(event.tenant),
                        k.seq(event.tenant),
                        k.time_index(event.tenant),
                        k.seq_index(event.tenant),
                        k.tail_signal(event.tenant),
                        k.duplicates(event.tenant),
                    ],
                )
            call.keys.extend(self.key_names.field_indexes(event.tenant, event.indexed))
            call.args.extend((event.id, event.member, event.body, len(event.indexed)))
        return calls

    # -- reads ------------------------------------------------------------------------
    def get_raw(self, tenant: str, event_id: str) -> bytes | None:
        """The stored JSON of one event, as bytes, or None."""
        return self.redis.hget(self.key_names.events(tenant), event_id)  # type: ignore[return-value]

    def get(self, tenant: str, event_id: str) -> dict[str, Any] | None:
        """One stored event, or None."""
        raw = self.get_raw(tenant, event_id)
        return None if raw is None else orjson.loads(raw)

    def count(self, tenant: str) -> int:
        """How many events the tenant has stored."""
        return int(self.redis.hlen(self.key_names.events(tenant)))

    def tenants(self) -> list[str]:
        """Every tenant that has stored an event."""
        return sorted(t.decode() for t in self.redis.smembers(self.key_names.tenants))  # type: ignore[union-attr]

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
                    self.key_names.time_index(tenant), "-", upper, start=0, num=chunk
                ),
            )
            if not members:
                return removed
            docs: list[bytes | None] = self.redis.hmget(  # type: ignore[assignment]
                self.key_names.events(tenant), [m.decode().split("|", 1)[1] for m in members]
            )
            call = self.purge_call(tenant, members, docs)
            step = int(scripts.run(self.redis, call))
            if step < 0:  # the tenant is under legal hold: the script removed nothing
                return removed
            removed += step

    def purge_call(self, tenant: str, members: list[bytes], docs: list[bytes | None]) -> ScriptCall:
        """The purge-script call removing these index members and their events."""
        k = self.key_names
        call = ScriptCall(
            "purge",
            [k.events(tenant), k.time_index(tenant), k.seq_index(tenant), k.hold(tenant)],
        )
        for member, raw in zip(members, docs, strict=True):
            index = index_of(orjson.loads(raw)) if raw else ()
            call.keys.extend(self.key_names.field_index(tenant, f, v) for f, v in index)
            call.args.extend((member.decode().split("|", 1)[1], member, len(index)))
        return call
