"""Configuration: one frozen object, read from the environment once and checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from collector.errors import ConfigError

# Chosen by measurement (README, "Design"): one worker drains ~10k events/s, so a
# backlog of 100k is ~10 s of work for one worker; past that, ingest should push back
# rather than let the "readable within a second" promise slip further.
DEFAULT_MAX_BACKLOG = 100_000


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be 'on' or 'off', got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Every knob of the product; see the README's configuration table."""

    redis_url: str | None = None
    port: int = 8000
    prefix: str = "audit"
    partitions: int = 1
    max_event_bytes: int = 65536
    max_batch: int = 1000
    # None means "the default for this command": on, except `run` on the embedded store.
    auth: bool | None = None
    max_backlog: int = DEFAULT_MAX_BACKLOG
    max_deliveries: int = 5
    claim_idle_ms: int = 30_000
    retention_days: int | None = None
    # Live tails one API process serves at once (each holds a thread or greenlet and a
    # Redis connection); past it GET /v1/events/tail answers 503.
    max_tails: int = 100

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "{} "):
            raise ConfigError(
                f"AUDIT_PREFIX must be non-empty, without braces or spaces: {self.prefix!r}"
            )
        if self.partitions < 1:
            raise ConfigError("AUDIT_STREAM_PARTITIONS must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        retention = (
            _int(env, "AUDIT_RETENTION_DAYS", 0, minimum=1)
            if env.get("AUDIT_RETENTION_DAYS")
            else None
        )
        settings = cls(
            redis_url=env.get("REDIS_URL") or None,
            port=_int(env, "PORT", 8000, minimum=0),
            prefix=env.get("AUDIT_PREFIX") or "audit",
            partitions=_int(env, "AUDIT_STREAM_PARTITIONS", 1, minimum=1),
            max_event_bytes=_int(env, "AUDIT_MAX_EVENT_BYTES", 65536, minimum=256),
            max_batch=_int(env, "AUDIT_MAX_BATCH", 1000, minimum=1),
            auth=_flag(env, "AUDIT_AUTH"),
            max_backlog=_int(env, "AUDIT_MAX_BACKLOG", DEFAULT_MAX_BACKLOG, minimum=1),
            max_deliveries=_int(env, "AUDIT_MAX_DELIVERIES", 5, minimum=1),
            claim_idle_ms=_int(env, "AUDIT_CLAIM_IDLE_MS", 30_000, minimum=1),
            retention_days=retention,
            max_tails=_int(env, "AUDIT_MAX_TAILS", 100, minimum=0),
        )
        return settings.with_(**overrides) if overrides else settings

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    @property
    def auth_required(self) -> bool:
        """Whether API keys are enforced; unset means on (``run`` decides its own default)."""
        return True if self.auth is None else self.auth
