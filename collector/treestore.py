"""A tenant's tree rows in Redis: the :class:`collector.tiles.HashStore` of the live store.

Each stored row (level 0, 8, 16, ...) is cut into strings of 65536 hashes (2 MiB), so no
string nears Redis's 512 MB limit and a read is a GETRANGE of just the bytes wanted.
Appends go through ``integrate.lua``, which writes only if the tree size is still the
one the writer read: a second writer, or a retry after a crash, never corrupts the tree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import redis

from collector import scripts
from collector.keys import KeyNames
from collector.merkle import HASH_SIZE
from collector.scripts import ScriptCall
from collector.tiles import Span, TiledTree, Write

CHUNK_HASHES = 1 << 16


def _pieces(start: int, length: int) -> Iterator[tuple[int, int, int]]:
    """(chunk, first hash in the chunk, hashes) for a run of ``length`` hashes from ``start``."""
    end = start + length
    while start < end:
        chunk, offset = divmod(start, CHUNK_HASHES)
        n = min(end - start, CHUNK_HASHES - offset)
        yield chunk, offset, n
        start += n


class RedisHashStore:
    """One tenant's stored rows and tree size, all in the tenant's hash slot."""

    def __init__(self, redis_client: redis.Redis, key_names: KeyNames, tenant: str) -> None:
        self.redis = redis_client
        self.key_names = key_names
        self.tenant = tenant

    def _row(self, level: int, chunk: int) -> str:
        return self.key_names.tree_row(self.tenant, level, chunk)

    def size(self) -> int:
        return int(self.redis.get(self.key_names.tree_size(self.tenant)) or 0)

    def read(self, spans: Sequence[Span]) -> list[bytes]:
        pipe = self.redis.pipeline(transaction=False)
        counts = []
        for span in spans:
            pieces = list(_pieces(span.start, span.length))
            counts.append(len(pieces))
            for chunk, offset, n in pieces:
                first = offset * HASH_SIZE
                pipe.getrange(self._row(span.level, chunk), first, first + n * HASH_SIZE - 1)
        replies: list[Any] = pipe.execute() if any(counts) else []
        out, at = [], 0
        for count in counts:
            out.append(b"".join(replies[at : at + count]))
            at += count
        return out

    def append_call(self, old_size: int, new_size: int, writes: Sequence[Write]) -> ScriptCall:
        """The script call that appends ``writes`` if the size is still ``old_size``."""
        call = ScriptCall(
            "integrate", [self.key_names.tree_size(self.tenant)], [old_size, new_size]
        )
        for write in writes:
            at = 0
            for chunk, offset, n in _pieces(write.start, len(write.data) // HASH_SIZE):
                call.keys.append(self._row(write.level, chunk))
                call.args.extend((offset * HASH_SIZE, write.data[at : at + n * HASH_SIZE]))
                at += n * HASH_SIZE
        return call

    def append(self, old_size: int, new_size: int, writes: Sequence[Write]) -> bool:
        return bool(scripts.run(self.redis, self.append_call(old_size, new_size, writes)))


def tenant_tree(redis_client: redis.Redis, key_names: KeyNames, tenant: str) -> TiledTree:
    """The tiled tree of one tenant in Redis."""
    return TiledTree(RedisHashStore(redis_client, key_names, tenant))
