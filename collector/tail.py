"""Live tails: follow one tenant's newly stored events, in ``seq`` order, without polling.

The store script appends one small entry to the tenant's tail signal (a stream capped at
one entry) per call that stored anything. A tail blocks on that stream with
``XREAD BLOCK`` and, when woken, reads the seq index after the last seq it sent. The
signal's last id is taken *before* the first read of the index, so an event stored at
any moment afterwards wakes the tail: no wake-up is lost, and an idle tail costs Redis
one blocked read at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

import redis

from collector.errors import BadRequest
from collector.keys import KeyNames
from collector.query import Filters, ListQuerySchema, load_args
from collector.sequence import SeqReader

# The filters of GET /v1/events apply; paging and order do not (a tail is seq order).
TAIL_QUERY_SCHEMA = ListQuerySchema(exclude=("limit", "order", "cursor"))


def parse_tail_args(
    args: Mapping[str, Any], last_event_id: str | None, default_tenant: str = "default"
) -> tuple[Filters, int | None]:
    """(filters, the seq to resume after or None for "from now"). Raises BadRequest.

    ``Last-Event-ID`` (sent by a reconnecting client) wins over ``after_seq``.
    """
    loaded = load_args(TAIL_QUERY_SCHEMA, args)
    after_seq = loaded.pop("after_seq", None)
    if last_event_id is not None:
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit():
            message = "Last-Event-ID must be the seq of the last event received."
            raise BadRequest(message, errors={"Last-Event-ID": [message]})
        after_seq = int(text)
    return Filters.from_args(loaded, default_tenant), after_seq


class Tail:
    """One follower: :meth:`catch_up` yields what is new, :meth:`wait` sleeps until more."""

    def __init__(
        self,
        redis_client: redis.Redis,
        key_names: KeyNames,
        filters: Filters,
        after_seq: int | None = None,
    ) -> None:
        self.redis = redis_client
        self.filters = filters
        self.signal = key_names.tail_signal(filters.tenant)
        self.reader = SeqReader(redis_client, key_names)
        # the signal first, then the position: whatever is stored in between is read
        self.signal_id = self._last_signal()
        self.after_seq = self.reader.latest(filters.tenant) if after_seq is None else after_seq

    def _last_signal(self) -> str:
        last = cast(list[Any], self.redis.xrevrange(self.signal, count=1))
        return _text(last[0][0]) if last else "0-0"

    def catch_up(self) -> Iterator[list[tuple[int, bytes]]]:
        """The matching events stored after the position, batch by batch; moves it on."""
        for batch in self.reader.follow(self.filters, self.after_seq):
            self.after_seq = batch.last_seq
            if batch.events:
                yield batch.events

    def wait(self, block_ms: int) -> bool:
        """Block until the store signals (True) or ``block_ms`` passes (False).

        ``block_ms`` must stay below the Redis client's socket timeout.
        """
        reply = cast(
            list[Any], self.redis.xread({self.signal: self.signal_id}, block=max(1, block_ms))
        )
        if not reply:
            return False
        entries = reply[0][1]
        if entries:
            self.signal_id = _text(entries[-1][0])
        return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
