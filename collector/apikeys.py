"""API keys: created with a secret shown once, stored as a SHA-256 digest, cached briefly.

A lookup is cached for at most :data:`CACHE_TTL_S` seconds, so a revoked key stops
working everywhere within that time (the README promises 5 s at most).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from collector.errors import Forbidden, Unauthorized, UsageError
from collector.keys import KeyNames
from collector.schema import is_valid_tenant
from collector.timefmt import format_utc, now_utc

SCOPES = ("ingest", "read", "admin")
CACHE_TTL_S = 2.0
SECRET_PREFIX = "at_"
_KEY_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}")


@dataclass(frozen=True)
class ApiKey:
    """A key's public facts (never its secret)."""

    name: str
    scopes: tuple[str, ...]
    tenants: tuple[str, ...]  # ("*",) for every tenant
    created_at: str = ""

    @classmethod
    def from_record(cls, name: bytes | str, raw: bytes | str) -> ApiKey:
        """A key from its stored JSON record."""
        record = orjson.loads(raw)
        text = name.decode() if isinstance(name, bytes) else name
        return cls(
            text, tuple(record["scopes"]), tuple(record["tenants"]), record.get("created_at", "")
        )

    def allows_tenant(self, tenant: str) -> bool:
        return "*" in self.tenants or tenant in self.tenants

    @property
    def default_tenant(self) -> str:
        """The key's tenant when it has exactly one, else ``default``."""
        if len(self.tenants) == 1 and self.tenants[0] != "*":
            return self.tenants[0]
        return "default"

    def require(self, scope: str, tenant: str | None = None) -> None:
        """Raise Forbidden unless the key has ``scope`` (``admin`` has all) and ``tenant``."""
        if scope not in self.scopes and "admin" not in self.scopes:
            raise Forbidden(f"API key {self.name!r} lacks the {scope!r} scope.")
        if tenant is not None and not self.allows_tenant(tenant):
            raise Forbidden(f"API key {self.name!r} may not access tenant {tenant!r}.")


# What an unauthenticated request acts as when AUDIT_AUTH is off.
OPEN_ACCESS = ApiKey("anonymous", SCOPES, ("*",))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_list(raw: str, what: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Split a comma list (a command-line argument); raise UsageError on an empty or unknown
    item."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise UsageError(f"{what} must name at least one")
    for item in items:
        if allowed is not None and item not in allowed:
            raise UsageError(f"unknown {what[:-1]} {item!r}; choose from {', '.join(allowed)}")
    return items


class ApiKeys:
    """Manage and check API keys."""

    def __init__(
        self,
        redis_client: redis.Redis,
        key_names: KeyNames,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.clock = clock  # seconds; tests replace it to expire the cache without sleeping
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: tuple[str, ...], tenants: tuple[str, ...]) -> str:
        """Store a new key; returns its secret (shown once, never stored)."""
        if not _KEY_NAME.fullmatch(name):
            raise UsageError("key name must be 1-64 characters of A-Z a-z 0-9 . _ -")
        for scope in scopes:
            if scope not in SCOPES:
                raise UsageError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
        for tenant in tenants:
            if tenant != "*" and not is_valid_tenant(tenant):
                raise UsageError(f"invalid tenant {tenant!r}")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        record: dict[str, Any] = {
            "digest": digest(secret),
            "scopes": list(scopes),
            "tenants": list(tenants),
            "created_at": format_utc(now_utc()),
        }
        if not self.redis.hsetnx(self.key_names.api_keys, name, orjson.dumps(record)):
            raise UsageError(f"a key named {name!r} exists; revoke it first")
        self.redis.set(self.key_names.api_key_digest(record["digest"]), name)
        return secret

    def list(self) -> list[ApiKey]:
        stored = self.redis.hgetall(self.key_names.api_keys)
        return [ApiKey.from_record(n, raw) for n, raw in sorted(stored.items())]

    def revoke(self, name: str) -> None:
        raw = self.redis.hget(self.key_names.api_keys, name)
        if raw is None:
            raise UsageError(f"no key named {name!r}")
        record = orjson.loads(raw)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.key_names.api_key_digest(record["digest"]))
        pipe.hdel(self.key_names.api_keys, name)
        pipe.execute()
        self.forget()

    def forget(self) -> None:
        """Drop this process's cached lookups (other processes expire theirs in CACHE_TTL_S)."""
        with self._lock:
            self._cache.clear()

    def authenticate(self, header: str | None) -> ApiKey:
        """The key named by an ``Authorization: Bearer`` header; raises Unauthorized."""
        scheme, _, secret = (header or "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <key>'.")
        key = self._lookup(digest(secret))
        if key is None:
            raise Unauthorized("Unknown or revoked API key.")
        return key

    def _lookup(self, key_digest: str) -> ApiKey | None:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key_digest)
        if hit is not None and now - hit[0] < CACHE_TTL_S:
            return hit[1]
        name = self.redis.get(self.key_names.api_key_digest(key_digest))
        key = None
        if name is not None:
            raw = self.redis.hget(self.key_names.api_keys, name)
            # the digest must still match: the name may have been revoked and reused
            if raw is not None and orjson.loads(raw)["digest"] == key_digest:
                key = ApiKey.from_record(name, raw)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_digest] = (now, key)
        return key
