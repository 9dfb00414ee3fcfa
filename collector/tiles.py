"""A Merkle tree kept as rows of hashes, C2SP tlog-tiles style, behind a small storage protocol.

Only every 8th level is stored: level 0 (the leaf hashes), level 8 (the root of each
complete run of 256 leaves), level 16, and so on, each row as one growing byte string
of 32-byte hashes. Any perfect subtree is then at most 128 stored hashes away: the node
``(level, index)`` is the root of the ``2**(level - base)`` hashes of row ``base``
(``base`` = level rounded down to a multiple of 8) starting at ``index << (level - base)``.

So a proof at a million leaves reads about 20 KB in one round trip (two runs of up to
255 hashes and a few more), and appending reads only the unfinished tail of each row.
A :class:`HashStore` keeps the rows and the tree size; it appends only if the size it is
told is still the size it holds, so two writers never corrupt the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from collector import merkle
from collector.merkle import HASH_SIZE, Node

TILE_HEIGHT = 8


class Span(NamedTuple):
    """``length`` consecutive hashes of a stored row, from ``start``."""

    level: int  # a multiple of TILE_HEIGHT
    start: int
    length: int


class Write(NamedTuple):
    """Hashes to write into a stored row at hash index ``start``."""

    level: int
    start: int
    data: bytes


class HashStore(Protocol):
    """Where a tree's stored rows and size live (Redis in production, a dict in tests)."""

    def size(self) -> int:
        """How many leaves the stored tree has."""
        ...

    def read(self, spans: Sequence[Span]) -> list[bytes]:
        """The bytes of each span (``32 * length`` of them), in one round trip."""
        ...

    def append(self, old_size: int, new_size: int, writes: Sequence[Write]) -> bool:
        """Write the new hashes and the new size if the size is still ``old_size``;
        False (and nothing written) if another writer moved it."""
        ...


def _split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _whole(raw: bytes, span: Span) -> bytes:
    if len(raw) != span.length * HASH_SIZE:
        raise LookupError(f"the stored tree lacks hashes {span}")
    return raw


class TiledTree:
    """Roots, proofs and appends of one tree over a :class:`HashStore`."""

    def __init__(self, store: HashStore, height: int = TILE_HEIGHT) -> None:
        self.store = store
        self.height = height  # tests use smaller tiles to reach many stored rows quickly
        self.width = 1 << height

    def size(self) -> int:
        return self.store.size()

    # -- reads ----------------------------------------------------------------------------
    def nodes(self, nodes: Sequence[Node]) -> list[bytes]:
        """The hashes of perfect subtrees (each within the stored size), in one read."""
        spans = []
        for level, index in nodes:
            base = level - level % self.height
            spans.append(Span(base, index << (level - base), 1 << (level - base)))
        unique = list(dict.fromkeys(spans))
        data = dict(zip(unique, self.store.read(unique), strict=True))
        return [merkle.perfect_root(_split_hashes(_whole(data[span], span))) for span in spans]

    def root(self, size: int) -> bytes:
        """The root hash of the first ``size`` leaves."""
        hashes = merkle.answer(merkle.root_plan(size), self.nodes)
        return hashes[0] if hashes else merkle.EMPTY_ROOT

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        return merkle.answer(merkle.inclusion_plan(index, size), self.nodes)

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof from size ``old`` to size ``new``."""
        return merkle.answer(merkle.consistency_plan(old, new), self.nodes)

    def leaf_row(self, start: int, count: int) -> bytes:
        """Stored leaf hashes ``start .. start + count - 1``, concatenated (fewer past the end)."""
        (raw,) = self.store.read([Span(0, start, count)])
        return raw

    # -- appends --------------------------------------------------------------------------
    def append(self, leaves: Sequence[bytes], old_size: int | None = None) -> bool:
        """Append leaf hashes after leaf ``old_size`` (default: the stored size); False if
        the stored size is not ``old_size`` (someone else appended first)."""
        size = self.store.size() if old_size is None else old_size
        if not leaves:
            return True
        new_size = size + len(leaves)
        writes = [Write(0, size, b"".join(leaves))]
        width = self.width
        # The unfinished tail of each row: the hashes a tile completed now still needs.
        tails = [
            Span(b, (size >> b) - (size >> b) % width, (size >> b) % width)
            for b in range(0, new_size.bit_length(), self.height)
        ]
        new_row = list(leaves)
        for tail, raw in zip(tails, self.store.read(tails), strict=True):
            row = _split_hashes(_whole(raw, tail)) + new_row
            new_row = [
                merkle.perfect_root(row[t : t + width])
                for t in range(0, len(row) - width + 1, width)
            ]
            if not new_row:
                break
            writes.append(Write(tail.level + self.height, tail.start // width, b"".join(new_row)))
        return self.store.append(size, new_size, writes)
