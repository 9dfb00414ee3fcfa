"""RFC 9162 Merkle trees: the RFC 6962 test vectors, and every proof of every tree size
1..64 against a naive recursive reference written straight from the RFC's definitions."""

from __future__ import annotations

import hashlib

import pytest

from collector import merkle

# The RFC 6962 test leaves (as in transparency-dev/merkle testonly) and the root of each prefix.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        *("", "00", "10", "2021", "3031", "40414243"),
        *("5051525354555657", "606162636465666768696a6b6c6d6e6f"),
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Published proofs over those 8 leaves (certificate-transparency's merkle_tree_test vectors).
INCLUSION_8 = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY_TO_8 = {
    2: [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    6: [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


# -- the naive reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 as written ------------------
def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def reference_fetch(data: list[bytes]):
    """A fetch for merkle.answer that computes each perfect subtree naively from the leaves."""

    def fetch(nodes):
        return [mth(data[i << lv : (i + 1) << lv]) for lv, i in nodes]

    return fetch


DATA = [f"leaf {i}".encode() for i in range(64)]


def test_rfc6962_roots_of_every_prefix_and_the_empty_tree():
    hashes = [merkle.leaf_hash(x) for x in LEAVES]
    for n, want in enumerate(ROOTS):
        fetch = reference_fetch(LEAVES)
        (root,) = merkle.answer(merkle.root_plan(n), fetch) or [merkle.EMPTY_ROOT]
        assert root.hex() == want
        compact = merkle.CompactRange()
        compact.extend(hashes[:n])
        assert compact.root().hex() == want
    assert merkle.EMPTY_ROOT.hex() == ROOTS[0]


def test_published_inclusion_and_consistency_proofs():
    fetch = reference_fetch(LEAVES)
    root8 = bytes.fromhex(ROOTS[8])
    for index, want in INCLUSION_8.items():
        proof = merkle.answer(merkle.inclusion_plan(index, 8), fetch)
        assert [p.hex() for p in proof] == want
        assert merkle.verify_inclusion(index, 8, merkle.leaf_hash(LEAVES[index]), proof, root8)
    for old, want in CONSISTENCY_TO_8.items():
        proof = merkle.answer(merkle.consistency_plan(old, 8), fetch)
        assert [p.hex() for p in proof] == want
        assert merkle.verify_consistency(old, 8, bytes.fromhex(ROOTS[old]), root8, proof)


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_matches_the_reference_and_verifies(size):
    data = DATA[:size]
    fetch = reference_fetch(data)
    root = mth(data)
    for index in range(size):
        proof = merkle.answer(merkle.inclusion_plan(index, size), fetch)
        assert proof == path(index, data)
        leaf = merkle.leaf_hash(data[index])
        assert merkle.verify_inclusion(index, size, leaf, proof, root)
        # The same proof shows nothing else: another leaf, an index out of range, another path.
        assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"x"), proof, root)
        assert not merkle.verify_inclusion(size, size, leaf, proof, root)
        if size > 1:
            assert not merkle.verify_inclusion(index ^ 1, size, leaf, proof, root)
            assert not merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
            assert not merkle.verify_inclusion(index, size, leaf, [*proof, root], root)


@pytest.mark.parametrize("new", range(1, 65))
def test_every_consistency_proof_matches_the_reference_and_verifies(new):
    data = DATA[:new]
    fetch = reference_fetch(data)
    new_root = mth(data)
    for old in range(1, new + 1):
        old_root = mth(data[:old])
        proof = merkle.answer(merkle.consistency_plan(old, new), fetch)
        assert proof == (subproof(old, data, True) if old < new else [])
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        # A different old tree, or a dropped or extra entry, fails.
        other = mth([b"other", *data[1:old]])
        assert not merkle.verify_consistency(old, new, other, new_root, proof)
        if old < new:
            assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
            assert not merkle.verify_consistency(old, new, old_root, new_root, [*proof, old_root])


def test_plans_refuse_impossible_requests():
    with pytest.raises(ValueError):
        merkle.inclusion_plan(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_plan(0, 3)
    with pytest.raises(ValueError):
        merkle.consistency_plan(4, 3)
    assert not merkle.verify_consistency(0, 3, b"", b"", [])


def test_plans_name_only_perfect_aligned_subtrees():
    for size in range(1, 65):
        for index in range(size):
            for lv, i in merkle.plan_nodes(merkle.inclusion_plan(index, size)):
                assert (i + 1) << lv <= size
        for old in range(1, size + 1):
            for lv, i in merkle.plan_nodes(merkle.consistency_plan(old, size)):
                assert (i + 1) << lv <= size
