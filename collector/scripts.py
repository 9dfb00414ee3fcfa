"""Every Lua script of the package (``*.lua`` beside this file), read once, called one way.

A script is always called with EVALSHA: Redis keeps scripts by their SHA1, so a
call sends the digest, not the text. When Redis has lost them (a restart, SCRIPT
FLUSH) the call answers NOSCRIPT; the one reload path here loads every script and
runs the call, or the whole pipeline, once more. Every script is idempotent for
a redelivered batch, so running a pipeline twice is safe. A redis-py ``Script`` is
not used: on a pipeline it costs a SCRIPT EXISTS round trip on every execute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, TypeVar, cast

import redis
from redis.client import Pipeline

NAMES = (
    "store",
    "purge",
    "compact",
    "query",
    "deadletter",
    "xadd",
    "recompress",
    "guarded_read",
    "http_add",
    "integrate",
    "checkpoint",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ScriptCall:
    """The keys and arguments of one script call (kept apart so tests can check slots)."""

    script: str
    keys: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)


@cache
def source(name: str) -> str:
    """The text of one of the package's Lua scripts."""
    return resources.files("collector").joinpath(f"{name}.lua").read_text()


@cache
def sha(name: str) -> str:
    """The SHA1 Redis knows the script by."""
    return hashlib.sha1(source(name).encode()).hexdigest()


def load_all(client: redis.Redis) -> None:
    """Load every script into Redis (idempotent)."""
    for name in NAMES:
        client.script_load(source(name))


def pipe_call(pipe: Pipeline, call: ScriptCall) -> None:
    """Add one script call to a pipeline (run it with :func:`execute`).

    Through ``execute_command``: redis-py's cluster pipeline refuses its ``evalsha``
    method, yet routes the command itself by its first key, as a script call must go.
    """
    send = cast(Any, pipe).execute_command  # untyped in redis-py
    send("EVALSHA", sha(call.script), len(call.keys), *call.keys, *call.args)


def run(client: redis.Redis, call: ScriptCall) -> Any:
    """Run one script call now; returns its reply."""
    try:
        return client.evalsha(sha(call.script), len(call.keys), *call.keys, *call.args)
    except redis.exceptions.NoScriptError:
        load_all(client)
        return client.evalsha(sha(call.script), len(call.keys), *call.keys, *call.args)


def execute(client: redis.Redis, fill: Callable[[Pipeline], T]) -> tuple[T, list[Any]]:
    """Run the pipeline ``fill`` builds (no transaction); returns what ``fill`` returned and
    the replies, unraised, each error in its place.

    If a script was missing, every script is loaded and the pipeline is built and run
    once more.
    """
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        built = fill(pipe)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        lost = any(isinstance(r, redis.exceptions.NoScriptError) for r in replies)
        if not lost or attempt == 2:
            return built, replies
        load_all(client)
    raise AssertionError("unreachable")
