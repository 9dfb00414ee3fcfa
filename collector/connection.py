"""Redis clients: a real server or a Redis Cluster from a URL, or the embedded in-memory store.

``redis://`` (or ``rediss://``, ``unix://``) is one Redis; ``redis+cluster://host:port``
(or ``rediss+cluster://``) is a Redis Cluster reached through any of its nodes. A URL of
one kind pointed at a server of the other is refused at start, in one line: a plain
client on a cluster node would answer MOVED for most keys, and a cluster client cannot
talk to a plain server at all.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from collector.errors import ConfigError

# Reads block for up to a second (XREADGROUP BLOCK); the socket waits longer than that.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
# The same for one Redis and for each node of a cluster.
CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT_S,
    "socket_connect_timeout": CONNECT_TIMEOUT_S,
    "health_check_interval": 30,
}


# Whatever a Redis client raises: RedisCluster's own exceptions (a slot without a master,
# no reachable node) are not RedisErrors.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.RedisError,
    redis.exceptions.RedisClusterException,
)

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


RQ_ON_CLUSTER = (
    "RQ cannot keep its queue on a Redis Cluster: set AUDIT_RQ_REDIS_URL to a standalone "
    "Redis for the audit queue (jobs still store into REDIS_URL)"
)


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``)."""
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def rq_url(rq_redis_url: str | None, redis_url: str | None) -> str:
    """Where the RQ ``audit`` queue lives: AUDIT_RQ_REDIS_URL, else REDIS_URL; never a
    cluster (ConfigError in one line)."""
    url = rq_redis_url or redis_url
    if not url:
        raise ConfigError("REDIS_URL is not set; point it at Redis, e.g. redis://localhost:6379/0")
    if is_cluster_url(url):
        raise ConfigError(RQ_ON_CLUSTER)
    return url


def connect(url: str | None) -> redis.Redis:
    """A client for ``url``, checked against the kind of server it reaches.

    A cluster client asks a node for the slot map now, so an unreachable cluster or a
    plain server is an error here. A plain client asks whether the server is a cluster
    node; an unreachable server passes, and its first command reports the outage.
    """
    if not url:
        raise ConfigError("REDIS_URL is not set; point it at Redis, e.g. redis://localhost:6379/0")
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        return _connect_cluster(url, parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme]).geturl())
    try:
        client = redis.Redis.from_url(url, **CLIENT_OPTIONS)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL is not a Redis URL: {exc}") from None
    _refuse_cluster_node(client, url)
    return client


def _connect_cluster(url: str, plain_url: str) -> redis.Redis:
    try:
        client = RedisCluster.from_url(plain_url, **CLIENT_OPTIONS)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL is not a Redis URL: {exc}") from None
    except redis.exceptions.RedisClusterException as exc:
        text = str(exc).lower()
        if "cluster support disabled" in text or "cluster mode is not enabled" in text:
            raise ConfigError(
                f"REDIS_URL {redacted(url)} is a redis+cluster:// URL, but that Redis is not "
                "a cluster node: use redis:// for a single Redis"
            ) from None
        # RedisClusterException is no RedisError: make it one, so callers handle one kind
        raise redis.ConnectionError(f"Redis Cluster at {redacted(url)}: {exc}") from None
    # RedisCluster offers the commands this project uses with the same signatures;
    # the annotation stays redis.Redis so the core takes either client.
    return cast(redis.Redis, client)


def _refuse_cluster_node(client: redis.Redis, url: str) -> None:
    try:
        enabled = client.info("cluster").get("cluster_enabled")
    except redis.RedisError:
        return
    if enabled:
        raise ConfigError(
            f"REDIS_URL {redacted(url)} points at a Redis Cluster node: use "
            f"redis+cluster://{urlsplit(url).netloc} to run on the cluster"
        )


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


def node_clients(client: redis.Redis) -> list[redis.Redis]:
    """A client per master: the client itself for one Redis, one per master on a cluster.

    For what must be asked of every server (its configuration, INFO) rather than of
    the owner of a key.
    """
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def refresh_slots(client: redis.Redis) -> None:
    """On a cluster, ask for the slot map again (after a master died, for what bypasses
    the cluster client's own routing); harmless if that fails too."""
    if isinstance(client, RedisCluster):
        with contextlib.suppress(*REDIS_ERRORS):
            client.nodes_manager.initialize()


def is_cluster(client: redis.Redis) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def text(reply: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode their replies)."""
    return reply.decode() if isinstance(reply, bytes) else reply
