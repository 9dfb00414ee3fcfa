"""Redis clients: a real server from a URL, or the embedded in-memory store."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis

from collector.errors import ConfigError

# Reads block for up to a second (XREADGROUP BLOCK); the socket waits longer than that.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0


def connect(url: str | None) -> redis.Redis:
    """A client for ``url`` (no connection is made until the first command)."""
    if not url:
        raise ConfigError("REDIS_URL is not set; point it at Redis, e.g. redis://localhost:6379/0")
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL is not a Redis URL: {exc}") from None


def redacted(url: str | None) -> str:
    """``url`` fit to print: any password replaced by ``***``."""
    if not url:
        return "(unset)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def embedded() -> redis.Redis:
    """A fresh in-memory store (fakeredis) for one process: nothing is kept on exit."""
    import fakeredis  # only the embedded mode and tests need it at run time

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def text(reply: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode their replies)."""
    return reply.decode() if isinstance(reply, bytes) else reply
