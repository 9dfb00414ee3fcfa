"""Configuration: one frozen object, read from the environment once and checked at start.

Each setting's default is written once, on the :class:`Settings` field; ``ENV``
says which environment variable sets which field and how its text is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property
from typing import Any

from collector.errors import ConfigError
from collector.keys import KeyNames

# Chosen by measurement (docs/design.md, "Figures"): one worker drains ~20k events/s, so a
# backlog of 100k is ~5 s of work for one worker; past that, ingest should push back
# rather than let the "readable within a second" promise slip further.
DEFAULT_MAX_BACKLOG = 100_000
# The most any HTTP body may be; AUDIT_MAX_BODY_BYTES may lower it, never raise it.
MAX_BODY_BYTES_CEILING = 16 * 1024 * 1024
# Measured (benchmarks/request_memory.py, docs/security.md): a request costs its serving
# process at most ~4x its body. 4 MiB holds a full batch (1,000) of ~4 KB events;
# larger events come in smaller batches.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# Unconsumed bytes the HTTP ingest streams may hold before ingest answers 503: about
# AUDIT_MAX_BACKLOG events of 2.5 KB, far below a Redis of a few GB.
DEFAULT_MAX_BACKLOG_BYTES = 256 * 1024 * 1024

LOG_FORMATS = ("text", "json")
DURABILITY_MODES = ("ack", "replica")
RQ_SERIALIZERS = ("pickle", "json")

Parser = Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _integer(minimum: int = 0, maximum: int | None = None) -> Parser:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    return parse


def _flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be 'on' or 'off', got {raw!r}")


def _choice(*choices: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            listed = " or ".join(repr(c) for c in choices)
            raise ConfigError(f"{name} must be {listed}, got {raw!r}")
        return value

    return parse


@dataclass(frozen=True)
class Settings:
    """Every knob of the product; see the configuration table in docs/reference.md."""

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
    # None: text on a terminal, JSON otherwise.
    log_format: str | None = None
    signing_key_file: str | None = None
    log_origin: str = "audit-trail"
    checkpoint_interval_ms: int = 1000
    checkpoint_dir: str | None = None
    # None: the RQ queue lives on REDIS_URL.
    rq_redis_url: str | None = None
    durability: str = "ack"
    max_clock_skew_s: int = 300
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES
    rq_serializer: str = "pickle"
    require_durable: bool = False
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
        """Build settings from environment variables (``os.environ`` by default); a variable
        unset or empty leaves the field's default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (field_name, parse) in ENV.items():
            raw = env.get(name)
            if raw is not None and raw != "":
                values[field_name] = parse(name, raw)
        return cls(**{**values, **overrides})

    @property
    def integrity(self) -> bool:
        """Whether integrity is on: a signing key is configured (AUDIT_SIGNING_KEY_FILE)."""
        return bool(self.signing_key_file)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    @cached_property
    def key_names(self) -> KeyNames:
        """The names of every key these settings' prefix and partitions give."""
        return KeyNames(self.prefix, self.partitions)

    @cached_property  # read for every event a worker decodes
    def max_skew(self) -> timedelta:
        """How far ``occurred_at`` may be ahead of ``received_at`` (AUDIT_MAX_CLOCK_SKEW_S)."""
        return timedelta(seconds=self.max_clock_skew_s)

    @property
    def auth_required(self) -> bool:
        """Whether API keys are enforced; unset means on (``run`` decides its own default)."""
        return True if self.auth is None else self.auth


# environment variable -> (Settings field, how its text is read)
ENV: dict[str, tuple[str, Parser]] = {
    "REDIS_URL": ("redis_url", _text),
    "PORT": ("port", _integer(minimum=0)),
    "AUDIT_PREFIX": ("prefix", _text),
    "AUDIT_STREAM_PARTITIONS": ("partitions", _integer(minimum=1)),
    "AUDIT_MAX_EVENT_BYTES": ("max_event_bytes", _integer(minimum=256)),
    "AUDIT_MAX_BATCH": ("max_batch", _integer(minimum=1)),
    "AUDIT_AUTH": ("auth", _flag),
    "AUDIT_MAX_BACKLOG": ("max_backlog", _integer(minimum=1)),
    "AUDIT_MAX_DELIVERIES": ("max_deliveries", _integer(minimum=1)),
    "AUDIT_CLAIM_IDLE_MS": ("claim_idle_ms", _integer(minimum=1)),
    "AUDIT_RETENTION_DAYS": ("retention_days", _integer(minimum=1)),
    "AUDIT_LOG_FORMAT": ("log_format", _choice(*LOG_FORMATS)),
    "AUDIT_SIGNING_KEY_FILE": ("signing_key_file", _text),
    "AUDIT_LOG_ORIGIN": ("log_origin", _text),
    "AUDIT_CHECKPOINT_INTERVAL_MS": ("checkpoint_interval_ms", _integer(minimum=1)),
    "AUDIT_CHECKPOINT_DIR": ("checkpoint_dir", _text),
    "AUDIT_RQ_REDIS_URL": ("rq_redis_url", _text),
    "AUDIT_DURABILITY": ("durability", _choice(*DURABILITY_MODES)),
    "AUDIT_MAX_CLOCK_SKEW_S": ("max_clock_skew_s", _integer(minimum=0)),
    "AUDIT_MAX_BODY_BYTES": (
        "max_body_bytes",
        _integer(minimum=256, maximum=MAX_BODY_BYTES_CEILING),
    ),
    "AUDIT_RQ_SERIALIZER": ("rq_serializer", _choice(*RQ_SERIALIZERS)),
    "AUDIT_MAX_BACKLOG_BYTES": ("max_backlog_bytes", _integer(minimum=1)),
    "AUDIT_MAX_TAILS": ("max_tails", _integer(minimum=0)),
    "AUDIT_REQUIRE_DURABLE": ("require_durable", _flag),
}
