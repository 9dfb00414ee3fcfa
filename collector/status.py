"""What the whole system looks like right now, read from Redis.

One reading serves ``audit-trail status`` (everything), ``GET /v1/status`` (the viewer's
status tab) and the scrape-time gauges of ``/metrics`` (streams and workers), so they all
say the same thing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis

from collector.connection import redacted, text
from collector.keys import GROUP, KeyNames
from collector.stream_watch import deleted_unconsumed_total
from collector.streams import IngestStreams

if TYPE_CHECKING:
    pass

# A worker is alive when its heartbeat is this recent (the SPEC's audit_workers_alive).
ALIVE_WITHIN_S = 30.0


@dataclass(frozen=True)
class ConsumerState:
    """One consumer of the group: its pending entries and how long it has been idle."""

    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class StreamState:
    """One ingest stream and the group ``audit-workers`` on it (``group`` False: none yet)."""

    name: str
    length: int
    group: bool
    lag: int  # entries never delivered to the group
    pending: int  # delivered, not yet acked
    consumers: list[ConsumerState] = field(default_factory=list)  # read on request
    consumer_count: int = 0


@dataclass(frozen=True)
class WorkerState:
    """A worker that sent a heartbeat at some point."""

    name: str
    last_seen_s: float
    alive: bool


def read_stream(client: redis.Redis, stream: str, with_consumers: bool = False) -> StreamState:
    """The state of one ingest stream (a stream that does not exist yet is empty)."""
    length = int(client.xlen(stream))
    try:
        groups: list[dict[str, Any]] = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream yet
        groups = []
    info = next((g for g in groups if text(g["name"]) == GROUP), None)
    if info is None:
        # Nothing consumes it yet: every entry is waiting.
        return StreamState(stream, length, False, length, 0)
    # Redis reports no lag after entries were deleted out of order; the whole length
    # is then the safe (never too low) reading for scaling decisions.
    lag = info.get("lag")
    consumers: list[ConsumerState] = []
    if with_consumers:
        consumers = [
            ConsumerState(text(c["name"]), int(c["pending"]), int(c["idle"]))
            for c in client.xinfo_consumers(stream, GROUP)
        ]
    return StreamState(
        stream,
        length,
        True,
        length if lag is None else int(lag),
        int(info.get("pending") or 0),
        consumers,
        int(info.get("consumers") or 0),
    )


def read_workers(
    client: redis.Redis, key_names: KeyNames, alive_within_s: float = ALIVE_WITHIN_S
) -> list[WorkerState]:
    """Every worker in the heartbeat list, most recent first."""
    now = time.time()
    seen = cast(
        list[tuple[bytes, float]],
        client.zrevrange(key_names.workers, 0, -1, withscores=True),
    )
    out = []
    for name, score in seen:
        age = max(0.0, now - score / 1000)
        out.append(WorkerState(text(name), round(age, 3), age < alive_within_s))
    return out


def count_alive(
    client: redis.Redis, key_names: KeyNames, alive_within_s: float = ALIVE_WITHIN_S
) -> int:
    """Workers whose heartbeat is at most ``alive_within_s`` old (one ZCOUNT)."""
    floor = int((time.time() - alive_within_s) * 1000)
    return int(client.zcount(key_names.workers, floor, "+inf"))


def read_tenants(client: redis.Redis, key_names: KeyNames) -> dict[str, int]:
    """Every tenant with the number of events it holds now (after retention)."""
    tenants = sorted(text(t) for t in cast(set[bytes], client.smembers(key_names.tenants)))
    pipe = client.pipeline(transaction=False)
    for tenant in tenants:
        pipe.hlen(key_names.events(tenant))
    return dict(zip(tenants, (int(n) for n in pipe.execute()), strict=True))


@dataclass
class SystemStatus:
    """Everything ``audit-trail status`` shows.

    ``durability`` and ``integrity`` are filled by the parts of the product that know
    them (the Redis persistence check, the checkpoint signer); None means not known.
    """

    redis: str
    streams: list[StreamState]
    dead_letters: int
    workers: list[WorkerState]
    tenants: dict[str, int]
    redis_kind: str = "Redis"
    durability: dict[str, Any] | None = None
    integrity: str | None = None
    deleted_unconsumed: int = 0
    conflicts: int = 0

    @property
    def backlog(self) -> int:
        return sum(s.lag + s.pending for s in self.streams)

    @property
    def events_stored(self) -> int:
        return sum(self.tenants.values())

    @property
    def workers_alive(self) -> int:
        return sum(1 for w in self.workers if w.alive)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tenants"] = [{"name": t, "events": n} for t, n in self.tenants.items()]
        out.update(
            backlog=self.backlog,
            events_stored=self.events_stored,
            workers_alive=self.workers_alive,
        )
        return out


def read_status(
    client: redis.Redis, key_names: KeyNames, redis_url: str | None = None
) -> SystemStatus:
    """Read everything once (a handful of round trips per stream and one per tenant set)."""
    return SystemStatus(
        redis=redacted(redis_url),
        streams=[
            read_stream(client, s, with_consumers=True) for s in key_names.all_ingest_streams()
        ],
        dead_letters=int(client.xlen(key_names.dead)),
        workers=read_workers(client, key_names),
        tenants=read_tenants(client, key_names),
        deleted_unconsumed=deleted_unconsumed_total(client, key_names),
        conflicts=int(client.get(key_names.counter("conflicts")) or 0),
    )


def snapshot(streams: IngestStreams) -> dict[str, Any]:
    """``GET /v1/status`` (the viewer's status tab): per stream its length, lag, pending and
    consumer count; then the backlog, dead letters and workers."""
    client, key_names = streams.redis, streams.key_names
    states = [read_stream(client, s) for s in key_names.all_ingest_streams()]
    rows: list[dict[str, Any]] = []
    for state in states:
        row: dict[str, Any] = {"stream": state.name, "length": state.length, "group": state.group}
        if state.group:
            row.update(lag=state.lag, pending=state.pending, consumers=state.consumer_count)
        rows.append(row)
    workers = [
        {"name": w.name, "last_seen_s": round(w.last_seen_s, 1), "alive": w.alive}
        for w in read_workers(client, key_names)
    ]
    return {
        "streams": rows,
        "backlog": sum(s.lag + s.pending for s in states),
        "dead_letters": int(client.xlen(key_names.dead)),
        "workers": workers,
        "workers_alive": sum(1 for w in workers if w["alive"]),
    }
