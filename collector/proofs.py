"""What a reader asks of the tree: the latest checkpoint, an event's inclusion proof, a
consistency proof between two sizes, and the verifier key. Read-only, for the API and
the command line."""

from __future__ import annotations

import base64
import math
from typing import Any, cast

import redis

from collector.checkpoint import Checkpoint, CheckpointError
from collector.errors import BadRequest, NotFound, NotYetCovered
from collector.leaves import leaf_hash_of
from collector.settings import Settings
from collector.signednote import Verifier, parse
from collector.signing import configured_signer
from collector.store import Store
from collector.treestore import tenant_tree


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Proofs:
    """Checkpoints and proofs of every tenant, over one Redis client."""

    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.redis = redis_client
        self.settings = settings
        self.key_names = settings.key_names
        signer = configured_signer(settings)
        # Only the public half is kept: this side serves, it never signs.
        self.verifier: Verifier | None = signer.verifier() if signer else None

    def verifier_key(self) -> str:
        """The verifier key of the checkpoints; 404 with integrity off."""
        if self.verifier is None:
            raise NotFound("Integrity is off: no signing key (AUDIT_SIGNING_KEY_FILE).")
        return str(self.verifier)

    def latest(self, tenant: str) -> str:
        """The tenant's latest signed checkpoint; 404 when there is none yet."""
        note = cast(bytes | None, self.redis.get(self.key_names.checkpoint(tenant)))
        if note is None or self.verifier is None:
            raise NotFound(f"No checkpoint for tenant {tenant!r} (yet, or integrity is off).")
        return note.decode()

    def of_size(self, tenant: str, size: int) -> str:
        """The tenant's checkpoint of exactly ``size`` leaves; 404 if none was signed."""
        notes = cast(
            list[bytes],
            self.redis.zrange(self.key_names.checkpoints(tenant), size, size, byscore=True),
        )
        if not notes or self.verifier is None:
            raise NotFound(f"No checkpoint of size {size} for tenant {tenant!r}.")
        return notes[0].decode()

    def _retry_after(self) -> int:
        return max(1, math.ceil(self.settings.checkpoint_interval_ms / 1000))

    def inclusion(self, tenant: str, event_id: str, tree_size: int | None = None) -> dict[str, Any]:
        """The proof bundle of one event against the latest checkpoint (or the one of
        ``tree_size``); 404 no such event, 409 stored but not yet covered."""
        stored = Store(self.redis, self.key_names).get_raw(tenant, event_id)
        if stored is None:
            raise NotFound(f"No event {event_id!r} in tenant {tenant!r}.")
        seq = self.redis.zscore(self.key_names.seq_index(tenant), event_id)
        try:
            note = self.latest(tenant) if tree_size is None else self.of_size(tenant, tree_size)
        except NotFound:
            if tree_size is not None:
                raise
            note = ""
        size = Checkpoint.parse(parse(note)[0]).size if note else 0
        if seq is None or int(seq) > size:
            raise NotYetCovered(
                f"Event {event_id!r} is stored but not yet in a signed checkpoint"
                + (f" of size {size}." if tree_size is not None else "; retry shortly."),
                retry_after=self._retry_after(),
            )
        index = int(seq) - 1
        proof = tenant_tree(self.redis, self.key_names, tenant).inclusion(index, size)
        return {
            "tenant": tenant,
            "id": event_id,
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": b64(leaf_hash_of(stored)),
            "inclusion": [b64(h) for h in proof],
            "checkpoint": note,
        }

    def consistency(self, tenant: str, old: int, new: int) -> dict[str, Any]:
        """The proof that the tree of size ``new`` extends the one of size ``old``;
        400 unless 1 <= old <= new <= the latest checkpoint's size."""
        try:
            latest = Checkpoint.parse(parse(self.latest(tenant))[0]).size
        except (NotFound, CheckpointError):
            latest = 0
        if not 1 <= old <= new <= latest:
            raise BadRequest(
                f"Need 1 <= from <= to <= {latest} (the latest checkpoint's size); "
                f"got from={old}, to={new}."
            )
        proof = tenant_tree(self.redis, self.key_names, tenant).consistency(old, new)
        return {"from": old, "to": new, "proof": [b64(h) for h in proof]}
