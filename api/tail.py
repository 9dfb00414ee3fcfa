"""``GET /v1/events/tail``: newly stored events as Server-Sent Events, resumable by seq.

Each message is ``id: <seq>`` and ``data: <the stored event>``. A reconnecting client
sends ``Last-Event-ID`` (or ``after_seq``) and gets every matching event after that seq,
none twice. A comment line every :data:`HEARTBEAT_S` keeps proxies from closing an idle
stream and lets the server notice a client that left. While idle, a tail holds one
blocked read on Redis (see ``collector.tail``); each process serves at most
``AUDIT_MAX_TAILS`` at once and answers 503 past that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import cast

import redis
from flask import Response, current_app, request
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service, tenant_for
from api.responses import SECURED, problem_responses
from collector.errors import AuditError, Unavailable
from collector.schema import StoredEventSchema
from collector.tail import TAIL_QUERY_SCHEMA, Tail, parse_tail_args

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
# The longest blocked read: below the Redis client's socket timeout (10 s), so a read
# that is merely waiting is never taken for a dead connection.
BLOCK_MS = 5000

blp = Blueprint("tail", __name__, description="Live tail of stored events (Server-Sent Events).")
blp.before_request(authenticate)


class TailSlots:
    """A bound on the tails one process serves at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit) if limit else None

    def take(self) -> None:
        if self._free is None or not self._free.acquire(blocking=False):
            raise Unavailable(
                f"This process already serves {self.limit} live tails (AUDIT_MAX_TAILS); "
                "retry later or on another instance.",
                retry_after=5,
            )

    def give_back(self) -> None:
        if self._free is not None:
            self._free.release()


def _slots() -> TailSlots:
    slots: TailSlots | None = current_app.extensions.get("audit.tails")
    if slots is None:  # dict.setdefault is atomic: two first requests share one
        slots = current_app.extensions.setdefault(
            "audit.tails", TailSlots(service().settings.max_tails)
        )
    return cast(TailSlots, slots)


def _message(seq: int, raw: bytes) -> bytes:
    # stored JSON is compact (no newline), so one data line holds it
    return b"id: %d\ndata: %s\n\n" % (seq, raw)


@blp.route("/v1/events/tail", methods=["GET"])
@blp.doc(
    summary="Follow newly stored events (Server-Sent Events)",
    description="Every newly stored event that matches the filters, as one SSE message "
    "with `id: <seq>` and the stored event as `data`. Resume after a seq with the "
    "`Last-Event-ID` header (what EventSource sends when it reconnects) or `after_seq`: "
    "no event is skipped or sent twice. Without either, the tail starts after the "
    "tenant's newest event. A comment line is sent every 15 s.",
    security=SECURED,
    parameters=[
        {"in": "query", "schema": TAIL_QUERY_SCHEMA},
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
            "description": "The seq of the last event received; wins over after_seq.",
        },
    ],
    responses={
        **problem_responses(400, 401, 403, 503),
        "200": {
            "description": "An endless text/event-stream",
            "content": {
                "text/event-stream": {
                    # what each message's data is; comment lines carry none
                    "schema": StoredEventSchema,
                    "example": ': tail of acme after seq 16\n\nid: 17\ndata: {"id": "..."}\n\n',
                }
            },
        },
    },
)
def tail() -> Response:
    key = current_key()
    key.require("read")
    filters, after_seq = parse_tail_args(
        request.args, request.headers.get("Last-Event-ID"), key.default_tenant
    )
    tenant = tenant_for(filters.tenant, "read")
    svc = service()
    slots = _slots()
    slots.take()
    try:
        follower = Tail(svc.redis, svc.key_names, filters, after_seq)
    except BaseException:
        slots.give_back()
        raise
    authorization = request.headers.get("Authorization")

    def still_allowed() -> bool:
        """A key revoked while its tail is open stops it within seconds, as everywhere."""
        if not svc.settings.auth_required:
            return True
        try:
            svc.api_keys.authenticate(authorization).require("read", tenant)
        except AuditError:
            return False
        return True

    def stream() -> Iterator[bytes]:
        try:
            yield b": tail of %s after seq %d\n\n" % (tenant.encode(), follower.after_seq)
            quiet_since = time.monotonic()
            woken = True  # read the index at the start and when the store signals, only
            while still_allowed():
                if woken:
                    for batch in follower.catch_up():
                        yield b"".join(_message(seq, raw) for seq, raw in batch)
                        quiet_since = time.monotonic()
                left = HEARTBEAT_S - (time.monotonic() - quiet_since)
                if left <= 0:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
                    left = HEARTBEAT_S
                woken = follower.wait(min(BLOCK_MS, int(left * 1000) + 1))
        except redis.RedisError as exc:
            # the client reconnects with Last-Event-ID and loses nothing
            log.warning("live tail of %s ended: Redis failed (%s)", tenant, type(exc).__name__)

    response = Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # the server closes every response, even one whose stream never started
    response.call_on_close(slots.give_back)
    return response
