"""C2SP tlog-checkpoint: a tree head as a signed note.

The body is three lines, ``<origin>\\n<tree size>\\n<base64 root hash>\\n``; audit-trail's
origin is ``<AUDIT_LOG_ORIGIN>/<tenant>``, one log per tenant. Extension lines, which
the format allows after the root, are accepted when reading and never written.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from collector.merkle import HASH_SIZE
from collector.signednote import NoteError, Signer, Verifier, open_note, sign

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(NoteError):
    """Not a checkpoint, or one that fails its signature."""


def origin_of(log_origin: str, tenant: str) -> str:
    """The origin line of a tenant's checkpoints."""
    return f"{log_origin}/{tenant}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size, and the root hash at that size."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The note text of this checkpoint."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint's note text."""
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0] or not _SIZE.fullmatch(lines[1]):
            raise CheckpointError("malformed checkpoint")
        if any(not line for line in lines[3:-1]):
            raise CheckpointError("malformed checkpoint")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except ValueError as exc:
            raise CheckpointError("malformed checkpoint root") from exc
        if len(root) != HASH_SIZE or base64.b64encode(root).decode() != lines[2]:
            raise CheckpointError("malformed checkpoint root")
        return cls(lines[0], int(lines[1]), root)

    def sign(self, signer: Signer) -> str:
        """The signed note of this checkpoint."""
        return sign(self.body(), signer)


def open_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """The checkpoint a note carries, once its signature by ``verifier`` checks out
    (and, when given, its origin is ``origin``)."""
    try:
        text = open_note(note, verifier)
    except CheckpointError:
        raise
    except NoteError as exc:
        raise CheckpointError(str(exc)) from exc
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
