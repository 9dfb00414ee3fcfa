"""Stream writes a replica has confirmed (``AUDIT_DURABILITY=replica``).

``WAIT n timeout`` counts the replicas that have every write *of the connection that
sends it*, so the entries and the ``WAIT`` go down one connection to the master that
owns the stream: ``MULTI``, the ``XADD``s, ``EXEC``, ``WAIT``, in one round trip. On a
cluster that is the master of the stream's slot, asked directly (the cluster client
would send a keyless ``WAIT`` to a node of its own choosing).

A write no replica confirmed in time is still on the master, and will be stored unless
the master dies first; the caller answers 503 and the producer retries with the same
event ids, which the store keeps once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from collector.connection import refresh_slots
from collector.errors import Unavailable


def _owner(client: redis.Redis, key: str) -> redis.Redis:
    """A plain client to the master that owns ``key`` (the client itself off a cluster)."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)
        return client.get_redis_connection(node)
    return client


def add_confirmed(
    client: redis.Redis,
    stream: str,
    entries: Sequence[Mapping[Any, Any]],
    timeout_ms: int,
    replicas: int = 1,
) -> list[str]:
    """XADD ``entries`` to ``stream`` all or nothing; return their ids once ``replicas`` have them.

    Raises :class:`Unavailable` when fewer replicas confirmed within ``timeout_ms``, and
    a RedisError when the master is unreachable or no longer owns the stream (after a
    failover; the cluster client's slot map is updated so the next call goes right).
    """
    for attempt in (1, 2):
        pipe = _owner(client, stream).pipeline(transaction=False)
        send = cast(Any, pipe).execute_command  # untyped in redis-py
        send("MULTI")
        for fields in entries:
            pipe.xadd(stream, dict(fields))
        send("EXEC")
        send("WAIT", replicas, timeout_ms)
        try:
            *_, ids, confirmed = pipe.execute()
        except redis.exceptions.MovedError as moved:
            if attempt == 2 or not isinstance(client, RedisCluster):
                raise
            # the slot has a new master (a failover): learn it, then write there
            client.nodes_manager.update_moved_exception(moved)
            continue
        except (redis.ConnectionError, redis.TimeoutError):
            refresh_slots(client)
            raise
        if int(confirmed) < replicas:
            raise Unavailable(
                f"No replica confirmed the write within {timeout_ms} ms "
                "(AUDIT_DURABILITY=replica); retry with the same event ids.",
                retry_after=1,
            )
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
    raise AssertionError("unreachable")
