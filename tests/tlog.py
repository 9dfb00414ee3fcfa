"""A test-side transparency log: RFC 9162 Merkle trees and C2SP signed checkpoints.

Built with hashlib and cryptography, independently of the viewer's JavaScript, so a
browser test can hand the page a proof it did not make and see whether it agrees.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def event_leaf(event: dict[str, Any]) -> bytes:
    """The leaf of a stored event: its RFC 8785 canonical JSON."""
    return rfc8785.dumps(event)


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 2.1.1's k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 9162 2.1.1)."""
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return sha256(b"\x01" + root(hashes[:k]) + root(hashes[k:]))


def inclusion(index: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, leaf side first."""
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return [*inclusion(index, hashes[:k]), root(hashes[k:])]
    return [*inclusion(index - k, hashes[k:]), root(hashes[:k])]


class NoteSigner:
    """An Ed25519 signer of C2SP signed notes, with its verifier key in the note format."""

    def __init__(self, name: str = "audit-test", seed: bytes | None = None) -> None:
        self.name = name
        self.key = (
            Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        )
        public = self.key.public_key().public_bytes_raw()
        self.key_id = sha256(name.encode() + b"\n\x01" + public)[:4]
        encoded = b64(b"\x01" + public)  # 0x01: the Ed25519 note algorithm
        self.verifier_key = f"{name}+{self.key_id.hex()}+{encoded}"

    def sign(self, text: str) -> str:
        """``text`` (ending in a newline) as a signed note."""
        signature = self.key.sign(text.encode())
        return f"{text}\n\u2014 {self.name} {b64(self.key_id + signature)}\n"

    def checkpoint(self, origin: str, size: int, root_hash: bytes) -> str:
        return self.sign(f"{origin}\n{size}\n{b64(root_hash)}\n")


def proof_for(
    events: list[dict[str, Any]], event_id: str, signer: NoteSigner, origin: str
) -> dict[str, Any]:
    """The body of ``GET /v1/events/<id>/proof`` over ``events`` (in seq order, from seq 1)."""
    hashes = [leaf_hash(event_leaf(e)) for e in events]
    index = next(i for i, e in enumerate(events) if e["id"] == event_id)
    tenant = events[index]["tenant"]
    return {
        "tenant": tenant,
        "id": event_id,
        "leaf_index": index,
        "tree_size": len(events),
        "leaf_hash": b64(hashes[index]),
        "inclusion": [b64(h) for h in inclusion(index, hashes)],
        "checkpoint": signer.checkpoint(f"{origin}/{tenant}", len(events), root(hashes)),
    }
