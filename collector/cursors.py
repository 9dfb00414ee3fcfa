"""Tamper-proof cursors: an HMAC-SHA256 tag with a per-deployment secret.

A cursor is ``<base64url payload>.<base64url tag>``. The secret is 32 random bytes
kept in Redis (made once, by whichever process needs it first, with ``SET NX``), so
every API process of a deployment signs and checks alike, and a restart keeps the
cursors a client holds valid. A cursor that was not made here is a ``400``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading

import redis

from collector.errors import BadRequest

_TAG_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is guessing 2^128


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    """Signs and checks cursor payloads with the deployment's secret (read once)."""

    def __init__(self, redis_client: redis.Redis, secret_key: str) -> None:
        self.redis = redis_client
        self.secret_key = secret_key
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def _key(self) -> bytes:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    self.redis.set(self.secret_key, os.urandom(32), nx=True)
                    secret = self.redis.get(self.secret_key)
                    if not isinstance(secret, bytes) or len(secret) < 16:
                        raise RuntimeError(f"{self.secret_key} holds no usable secret")
                    self._secret = secret
        return self._secret

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key(), payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def sign(self, payload: bytes) -> str:
        """The cursor for ``payload``."""
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def verify(self, cursor: str) -> bytes:
        """The payload of a cursor made here; raises BadRequest for anything else."""
        try:
            encoded, _, tag = cursor.partition(".")
            payload, given = _unb64(encoded), _unb64(tag)
        except (ValueError, UnicodeEncodeError):
            raise _forged() from None
        if not hmac.compare_digest(given, self._tag(payload)):
            raise _forged()
        return payload


def _forged() -> BadRequest:
    return BadRequest(
        "Malformed cursor: it was not made by this service.",
        errors={"cursor": ["Not a cursor this service made."]},
    )
