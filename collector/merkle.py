"""RFC 9162 section 2.1 Merkle trees: hashing, proof shapes, and proof verification.

No vetted PyPI library does RFC 9162 proofs, so this is ours, kept small and tested
against the RFC 6962 test vectors and a naive recursive reference.

Proofs are built in two steps, so any storage can answer them in one read:

1. a *plan* (:func:`inclusion_plan`, :func:`consistency_plan`, :func:`root_plan`) names
   the proof's entries as lists of perfect subtrees ``(level, index)``: the node whose
   leaves are ``index * 2**level .. (index + 1) * 2**level - 1``;
2. :func:`assemble` folds the fetched hashes of those subtrees into the proof's hashes.

Every entry of an RFC 9162 proof is the hash of a range of leaves that starts at a
multiple of its largest power-of-two part, so it is a right fold of perfect subtrees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index) of a perfect subtree
Plan = list[list[Node]]  # one list of perfect subtrees per hash the caller wants


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree whose bottom row is ``hashes`` (a power of two of them)."""
    row = list(hashes)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): RFC 9162's split point."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose right fold is the hash of leaves
    ``start .. end - 1`` (``start`` a multiple of the range's largest power-of-two part)."""
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The right fold of perfect-subtree hashes (the hash of their combined range)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_plan(size: int) -> Plan:
    """The plan of the root of a tree of ``size`` leaves (empty for the empty tree)."""
    return [range_nodes(0, size)] if size else []


def inclusion_plan(index: int, size: int) -> Plan:
    """The plan of RFC 9162 2.1.3.1 ``PATH(index, D[0:size])``, leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    entries: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            entries.append((start + k, end))
            end = start + k
        else:
            entries.append((start, start + k))
            start += k
    return [range_nodes(a, b) for a, b in reversed(entries)]


def consistency_plan(old: int, new: int) -> Plan:
    """The plan of RFC 9162 2.1.4.1 ``PROOF(old, D[0:new])`` (empty when old == new)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    entries: list[tuple[int, int]] = []
    start, end, whole = 0, new, True
    m = old
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            entries.append((start + k, end))
            end = start + k
        else:
            entries.append((start, start + k))
            m -= k
            start += k
            whole = False
    if not whole:
        entries.append((start, end))
    return [range_nodes(a, b) for a, b in reversed(entries)]


def plan_nodes(plan: Plan) -> list[Node]:
    """Every distinct perfect subtree a plan needs, in first-use order."""
    return list(dict.fromkeys(node for entry in plan for node in entry))


def assemble(plan: Plan, hashes: dict[Node, bytes]) -> list[bytes]:
    """The hashes a plan names, given the hash of each of its perfect subtrees."""
    return [fold([hashes[node] for node in entry]) for entry in plan]


def answer(plan: Plan, fetch: Callable[[list[Node]], list[bytes]]) -> list[bytes]:
    """Fetch a plan's perfect subtrees in one call and assemble its hashes."""
    nodes = plan_nodes(plan)
    return assemble(plan, dict(zip(nodes, fetch(nodes), strict=True)))


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2, step by step) -----------------------------


def _shift_to_odd(fn: int, sn: int) -> tuple[int, int]:
    """The RFC's "right-shift fn and sn equally until either LSB(fn) is set or fn is 0"."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to from ``leaf`` (a leaf hash), or None if the
    proof cannot be one for ``index`` in a tree of ``size``."""
    if index >= size or index < 0:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    return root_from_inclusion(index, size, leaf, proof) == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of size ``new`` an append-only extension of ``old``?"""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the proof's implied first entry
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The root of a growing list of leaf hashes, kept as O(log n) perfect-subtree hashes."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # perfect subtrees, largest first

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        h, n = leaf, self.size
        while n & 1:
            h = node_hash(self._stack.pop(), h)
            n >>= 1
        self._stack.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add many leaf hashes."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The root of the leaves added so far."""
        return fold(self._stack)
