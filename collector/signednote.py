"""C2SP signed-note with Ed25519 keys, interoperable with Go's ``golang.org/x/mod/sumdb/note``.

A note is its text (ending in a newline), an empty line, and signature lines
``— <key name> <base64(key id || signature)>``. Keys are strings:

- signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``
- verifier key ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``

where the key id is the first 4 bytes of ``SHA-256(<name> || 0x0A || 0x01 || public key)``.
Ed25519 itself is the ``cryptography`` package's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # an em dash and a space open every signature line
MAX_SIGNATURES = 100  # as Go's note package


class NoteError(ValueError):
    """A malformed key or note, or a signature that does not verify."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("not standard base64") from exc


def _check_name(name: str) -> None:
    # Go's isValidName: non-empty, valid UTF-8, no Unicode spaces and no '+'.
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"invalid key name {name!r}")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key: ``SHA-256(name || 0x0A || 0x01 || key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _split_key(text: str, parts: int) -> list[str]:
    # The base64 key may itself contain '+': only the fields before it are split off.
    fields = text.split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError("malformed key")
    return fields


def _typed_key(name: str, hex_id: str, encoded: str) -> tuple[bytes, bytes]:
    """Check a key's name, id and algorithm; return (key id, 32-byte key material)."""
    _check_name(name)
    if len(hex_id) != 8 or hex_id != hex_id.lower():
        raise NoteError("malformed key id")
    try:
        kid = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise NoteError("malformed key id") from exc
    raw = _b64decode(encoded)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("not an Ed25519 key")
    return kid, raw[1:]


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_key(cls, text: str) -> Verifier:
        """Parse a verifier key string (its id must match its name and key)."""
        name, hex_id, encoded = _split_key(text.strip(), 3)
        kid, public = _typed_key(name, hex_id, encoded)
        if key_id(name, public) != kid:
            raise NoteError("verifier key id does not match its key")
        return cls(name, kid, public)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class Signer:
    """A named Ed25519 private key that signs notes. Its repr never shows the seed."""

    name: str
    key_id: bytes
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key named ``name``."""
        _check_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls._from_seed(name, seed)

    @classmethod
    def _from_seed(cls, name: str, seed: bytes) -> Signer:
        public = _public_of(seed)
        return cls(name, key_id(name, public), seed)

    @classmethod
    def from_key(cls, text: str) -> Signer:
        """Parse a signer key string (its id must match the key it derives)."""
        fields = _split_key(text.strip(), 5)
        if fields[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("malformed signer key")
        kid, seed = _typed_key(*fields[2:])
        signer = cls._from_seed(fields[2], seed)
        if signer.key_id != kid:
            raise NoteError("signer key id does not match its key")
        return signer

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()})"

    def key(self) -> str:
        """The signer key string (a secret: write it only to a 0600 file)."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self.name, self.key_id, _public_of(self.seed))

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` (deterministic)."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def _public_of(seed: bytes) -> bytes:
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text == "\n" or "\r" in text:
        raise NoteError("malformed note text")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("malformed note text")


def sign(text: str, signer: Signer) -> str:
    """The signed note of ``text`` (non-empty lines, each ending in a newline)."""
    _check_text(text)
    signature = signer.sign(text.encode())
    encoded = base64.b64encode(signer.key_id + signature).decode()
    return f"{text}\n{SIG_PREFIX}{signer.name} {encoded}\n"


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


def parse(note: str) -> tuple[str, list[Signature]]:
    """Split a note into its text and its signature lines (nothing verified yet)."""
    if not note.endswith("\n"):
        raise NoteError("malformed note")
    text, sep, block = note.rpartition("\n\n")
    if not sep:
        raise NoteError("malformed note")
    text += "\n"
    _check_text(text)
    sigs: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed note")
        name, space, encoded = line[len(SIG_PREFIX) :].partition(" ")
        _check_name(name)
        raw = _b64decode(encoded) if space else b""
        if len(raw) < 5:
            raise NoteError("malformed note")
        sigs.append(Signature(name, raw[:4], raw[4:]))
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError("malformed note")
    return text, sigs


def open_note(note: str, verifier: Verifier) -> str:
    """The text of a note that ``verifier`` signed; raises :class:`NoteError` otherwise.

    Signatures by other keys are ignored, as in Go's ``note.Open``.
    """
    text, sigs = parse(note)
    ours = [s for s in sigs if s.name == verifier.name and s.key_id == verifier.key_id]
    if not ours:
        raise NoteError(f"note has no signature by {verifier.name}+{verifier.key_id.hex()}")
    for sig in ours:
        if not verifier.verify(text.encode(), sig.signature):
            raise NoteError(f"invalid signature for key {verifier.name}+{verifier.key_id.hex()}")
    return text
