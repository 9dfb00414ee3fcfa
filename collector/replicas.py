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

from collector import scripts
from collector.connection import refresh_slots
from collector.errors import Unavailable
from collector.scripts import ScriptCall


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

    def send(pipe: Any) -> None:
        pipe.execute_command("MULTI")
        for fields in entries:
            pipe.xadd(stream, dict(fields))
        pipe.execute_command("EXEC")

    ids = _confirmed(client, stream, send, timeout_ms, replicas)
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def run_confirmed(
    client: redis.Redis, stream: str, call: ScriptCall, timeout_ms: int, replicas: int = 1
) -> Any:
    """Run a script call on ``stream``'s slot (one atomic step that writes it); return its
    reply once ``replicas`` have its writes. Raises as :func:`add_confirmed`."""

    def send(pipe: Any) -> None:
        scripts.pipe_call(pipe, call)

    return _confirmed(client, stream, send, timeout_ms, replicas)


def _confirmed(client: redis.Redis, stream: str, send: Any, timeout_ms: int, replicas: int) -> Any:
    """What ``send`` adds to a pipeline on the master of ``stream``, then ``WAIT``, in one
    round trip; the reply of its last command before ``WAIT``."""
    for attempt in (1, 2):
        pipe = _owner(client, stream).pipeline(transaction=False)
        send(pipe)
        cast(Any, pipe).execute_command("WAIT", replicas, timeout_ms)  # untyped in redis-py
        try:
            *_, reply, confirmed = pipe.execute()
        except redis.exceptions.MovedError as moved:
            if attempt == 2 or not isinstance(client, RedisCluster):
                raise
            # the slot has a new master (a failover): learn it, then write there
            client.nodes_manager.update_moved_exception(moved)
            continue
        except redis.exceptions.NoScriptError:
            if attempt == 2:
                raise
            scripts.load_all(_owner(client, stream))  # a master that lost its scripts
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
        return reply
    raise AssertionError("unreachable")
