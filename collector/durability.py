"""What the Redis in use keeps when it crashes, read from its configuration and said in words.

A ``202`` means "in Redis". Whether it survives a crash of Redis depends on how Redis
persists: with the append-only file (AOF) and ``appendfsync always`` every write is on
disk before Redis answers; with ``everysec`` up to a second of writes is at risk; with
snapshots (RDB) only, everything since the last snapshot is lost, so it counts as
keeping nothing an acknowledgement could rely on. On a cluster every master is asked
and the weakest answer is the cluster's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from collector.connection import REDIS_ERRORS, is_cluster, node_clients, refresh_slots
from collector.errors import ConfigError
from collector.settings import Settings

log = logging.getLogger(__name__)

# From weakest to strongest: what a crash of Redis loses.
MODES = ("embedded", "nothing", "snapshots", "unknown", "aof-os", "everysec", "always")
# Modes under which a write acknowledged with 202 survives a crash of the Redis process.
KEEPS_ACKNOWLEDGED = frozenset({"aof-os", "everysec", "always"})


@dataclass(frozen=True)
class Durability:
    """How one Redis (or the weakest master of a cluster) persists, in a word and a sentence."""

    mode: str
    detail: str

    @property
    def keeps_acknowledged(self) -> bool:
        """Whether an acknowledged event survives a crash of Redis (an AOF is on)."""
        return self.mode in KEEPS_ACKNOWLEDGED

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "detail": self.detail, "durable": self.keeps_acknowledged}


EMBEDDED = Durability("embedded", "nothing kept: the embedded in-memory store")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def from_config(config: Mapping[Any, Any]) -> Durability:
    """Read ``CONFIG GET appendonly appendfsync save`` of one server."""
    appendonly = _text(config.get("appendonly")).lower()
    fsync = _text(config.get("appendfsync")).lower()
    save = _text(config.get("save")).strip()
    if appendonly == "yes":
        if fsync == "always":
            return Durability("always", "every write on disk (AOF, appendfsync always)")
        if fsync == "everysec":
            return Durability("everysec", "up to a second at risk (AOF, appendfsync everysec)")
        return Durability(
            "aof-os",
            "kept through a Redis crash, not a machine crash (AOF, appendfsync no)",
        )
    if save:
        return Durability(
            "snapshots", f"writes since the last snapshot at risk (no AOF; RDB save {save!r})"
        )
    return Durability("nothing", "nothing kept (no AOF, no snapshots)")


def _from_info(info: dict[str, Any]) -> Durability:
    """Where CONFIG is disabled (managed Redis): INFO persistence tells AOF on or off."""
    if int(info.get("aof_enabled", 0)):
        return Durability("aof-os", "AOF on (its fsync policy is not readable: CONFIG refused)")
    return Durability("nothing", "no AOF (CONFIG refused, INFO persistence says aof_enabled:0)")


def _one(client: redis.Redis) -> Durability:
    try:
        return from_config(client.config_get("appendonly", "appendfsync", "save"))
    except redis.ResponseError:
        pass
    try:
        return _from_info(client.info("persistence"))
    except redis.ResponseError:
        return Durability("unknown", "unknown: this Redis refuses CONFIG GET and INFO")


def describe(client: redis.Redis) -> Durability:
    """What ``client``'s Redis keeps; on a cluster, its weakest master. Raises RedisError."""
    if type(client).__module__.startswith("fakeredis"):
        return EMBEDDED
    try:
        found = [_one(node) for node in node_clients(client)]
    except REDIS_ERRORS:
        if not is_cluster(client):
            raise
        refresh_slots(client)  # a master may have failed over since the map was read
        found = [_one(node) for node in node_clients(client)]
    weakest = min(found, key=lambda d: MODES.index(d.mode))
    if len({d.mode for d in found}) > 1:
        return Durability(weakest.mode, f"{weakest.detail}, on the weakest of the masters")
    return weakest


def refusal(found: Durability) -> str:
    """The one line that says why ``AUDIT_REQUIRE_DURABLE=on`` refuses this Redis."""
    return (
        f"AUDIT_REQUIRE_DURABLE=on, but the Redis in use keeps {found.detail}: a crash would "
        "lose acknowledged events; turn its AOF on (appendonly yes)"
    )


def require(client: redis.Redis, settings: Settings) -> Durability:
    """At start: what ``client``'s Redis keeps; ConfigError if it is required to keep
    acknowledged events (``AUDIT_REQUIRE_DURABLE=on``) and does not."""
    found = describe(client)
    if settings.require_durable and not found.keeps_acknowledged:
        raise ConfigError(refusal(found))
    return found


def check_at_start(client: redis.Redis, settings: Settings) -> None:
    """For the processes that serve or store: log what Redis keeps, and with
    ``AUDIT_REQUIRE_DURABLE=on`` refuse (ConfigError) one that keeps nothing or cannot
    be asked. Without it an unreachable Redis is only logged: workers wait for it."""
    try:
        found = require(client, settings)
    except REDIS_ERRORS as exc:
        if settings.require_durable:
            raise ConfigError(
                f"AUDIT_REQUIRE_DURABLE=on, but what Redis keeps cannot be read: {exc}"
            ) from None
        log.warning("what Redis keeps on a crash is unknown for now: %s", exc)
        return
    log.info("Redis keeps: %s", found.detail)
