"""Redis ACL users for direct producers: each account may do what its path needs, no more.

- A **stream producer** may ``XADD`` to the direct-producer ingest streams (and wrap
  adds in ``MULTI``/``EXEC``, as the producer client does), write-only: it cannot read
  them, nor touch any other key, nor run ``FLUSHDB``, ``KEYS``, ``CONFIG``, ``DEL``,
  ``XTRIM``, ``XDEL`` or any other command. What an ACL cannot forbid, ``XADD`` with
  ``MAXLEN``/``MINID`` trimming or an explicit far-future id, is detected by the workers
  (:mod:`collector.stream_watch`). The streams that HTTP-accepted events use are not
  among its keys.
- An **RQ producer** may do what ``Queue("audit").enqueue(...)`` does: ``HSET`` a new
  job hash, ``RPUSH`` its id on the ``audit`` queue, ``SADD`` the queue to RQ's set of
  queues, in ``MULTI``/``EXEC``, write-only on those keys. It cannot read jobs (so it
  cannot learn another producer's job id), list keys or see any key of the store.

Every line starts with ``reset``, so applying it again replaces whatever the user had.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

import redis
from rq import Queue
from rq.job import Job

from collector.jobs import QUEUE
from collector.keys import KeyNames

# HELLO and PING: what a client library sends on connecting; AUTH is always allowed.
_CONNECT = ("+hello", "+ping")
_TRANSACTION = ("+multi", "+exec", "+discard")
STREAM_PRODUCER_COMMANDS = ("+xadd", *_TRANSACTION, *_CONNECT)
RQ_PRODUCER_COMMANDS = ("+hset", "+rpush", "+sadd", *_TRANSACTION, *_CONNECT)


USER_NAME_RULE = "1-64 characters of A-Z a-z 0-9 . _ -"
_USER_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def is_valid_user_name(name: str) -> bool:
    """Whether ``name`` is a user name this command writes (no spaces, no rule syntax)."""
    return _USER_NAME.fullmatch(name) is not None


def _rules(password: str, keys: Sequence[str], commands: Sequence[str]) -> list[str]:
    return [
        "reset",
        "on",
        f">{password}",
        "resetchannels",
        *(f"%W~{key}" for key in keys),  # write-only: no reading what others sent
        "-@all",
        *commands,
    ]


def stream_producer_rules(key_names: KeyNames, password: str) -> list[str]:
    """The ACL rules of a stream producer: XADD to the direct-producer streams."""
    return _rules(password, key_names.ingest_streams(), STREAM_PRODUCER_COMMANDS)


def rq_producer_rules(password: str, queue: str = QUEUE) -> list[str]:
    """The ACL rules of an RQ producer: what enqueueing on ``queue`` writes, no more."""
    rq_keys = [
        f"{Queue.redis_queue_namespace_prefix}{queue}",
        Queue.redis_queues_keys,
        f"{Job.redis_job_namespace_prefix}*",
    ]
    return _rules(password, rq_keys, RQ_PRODUCER_COMMANDS)


def new_password() -> str:
    """A random password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def setuser_line(name: str, rules: Sequence[str]) -> str:
    """The ``ACL SETUSER`` command line, as redis-cli takes it."""
    return " ".join(["ACL", "SETUSER", name, *rules])


def apply(client: redis.Redis, name: str, rules: Sequence[str]) -> None:
    """Run ``ACL SETUSER`` on ``client`` (on a cluster, run it on every node)."""
    client.execute_command("ACL", "SETUSER", name, *rules)  # type: ignore[no-untyped-call]
