"""The tiled tree: roots and proofs from stored rows match the naive reference at every size,
appends in any batching give the same rows, and a stale writer changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_merkle import mth, path, subproof

from collector import merkle
from collector.tiles import TILE_HEIGHT, Span, TiledTree, Write


class MemoryHashStore:
    """The HashStore protocol over a dict of bytearrays; counts the bytes it reads."""

    def __init__(self) -> None:
        self.rows: dict[int, bytearray] = {}
        self.tree_size = 0
        self.bytes_read = 0
        self.reads = 0

    def size(self) -> int:
        return self.tree_size

    def read(self, spans: Sequence[Span]) -> list[bytes]:
        self.reads += 1
        out = [
            bytes(self.rows.get(s.level, b"")[s.start * 32 : (s.start + s.length) * 32])
            for s in spans
        ]
        self.bytes_read += sum(map(len, out))
        return out

    def append(self, old_size: int, new_size: int, writes: Sequence[Write]) -> bool:
        if self.tree_size != old_size:
            return False
        for w in writes:
            row = self.rows.setdefault(w.level, bytearray())
            assert len(row) == w.start * 32, "rows only grow at their end"
            row += w.data
        self.tree_size = new_size
        return True


DATA = [f"event {i}".encode() for i in range(80)]
HASHES = [merkle.leaf_hash(d) for d in DATA]


@pytest.mark.parametrize("height", [1, 2, 3, TILE_HEIGHT])
def test_roots_and_proofs_match_the_reference_at_every_size(height):
    tree = TiledTree(MemoryHashStore(), height=height)
    for size in range(1, 65):
        assert tree.append([HASHES[size - 1]])
        data = DATA[:size]
        assert tree.size() == size
        assert tree.root(size) == mth(data)
        for index in range(size):
            assert tree.inclusion(index, size) == path(index, data)
        for old in range(1, size):
            assert tree.consistency(old, size) == subproof(old, data, True)
            assert tree.root(old) == mth(data[:old])


@pytest.mark.parametrize("batches", [[80], [1] * 80, [3, 5, 7, 11, 13, 17, 24], [16, 16, 48]])
def test_any_batching_stores_the_same_rows(batches):
    one = MemoryHashStore()
    TiledTree(one, height=2).append(HASHES)
    other = MemoryHashStore()
    tree = TiledTree(other, height=2)
    done = 0
    for n in batches:
        assert tree.append(HASHES[done : done + n])
        done += n
    assert other.rows == one.rows
    assert tree.root(80) == merkle.fold([mth(DATA[:64]), mth(DATA[64:])])


def test_a_stale_writer_changes_nothing():
    store = MemoryHashStore()
    tree = TiledTree(store, height=2)
    assert tree.append(HASHES[:5])
    before = {k: bytes(v) for k, v in store.rows.items()}
    assert not tree.append(HASHES[5:9], old_size=3)
    assert {k: bytes(v) for k, v in store.rows.items()} == before
    assert store.size() == 5


def test_a_proof_at_a_million_leaves_reads_a_few_kilobytes_in_one_round_trip():
    store = MemoryHashStore()
    tree = TiledTree(store)
    size = 1_000_000
    # Synthetic leaf hashes: no need to hash a million events to check the read pattern.
    leaves = [i.to_bytes(32, "big") for i in range(size)]
    assert tree.append(leaves)
    # Roots and proofs are checked against the reference at small sizes and every tile
    # height above; here the point is what a proof reads.
    root = tree.root(size)
    for index in (0, 123_456, 999_999):
        store.bytes_read = store.reads = 0
        proof = tree.inclusion(index, size)
        assert store.reads == 1
        assert store.bytes_read <= 24_000
        assert merkle.verify_inclusion(index, size, leaves[index], proof, root)
    store.bytes_read = 0
    proof = tree.consistency(777_777, size)
    assert merkle.verify_consistency(777_777, size, tree.root(777_777), root, proof)
    assert store.bytes_read <= 40_000


def test_missing_stored_hashes_are_an_error_not_a_wrong_answer():
    store = MemoryHashStore()
    tree = TiledTree(store, height=2)
    tree.append(HASHES[:8])
    del store.rows[0][32 * 4 :]
    with pytest.raises(LookupError):
        tree.inclusion(6, 8)
