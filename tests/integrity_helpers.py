"""Shared by the integrity tests: a signer, settings with integrity on, stored events."""

from __future__ import annotations

import os
from typing import Any

import redis
from helpers import event

from collector import merkle
from collector.client import Producer
from collector.leaves import leaf_hash_of
from collector.settings import Settings
from collector.signing import create_key_file


def integrity_settings(tmp_path: Any, **changes: Any) -> Settings:
    """Settings with a signing key file (mode 0600) and a checkpoint folder in ``tmp_path``."""
    key_file = os.path.join(tmp_path, "signing.key")
    if not os.path.exists(key_file):
        create_key_file("audit-test", key_file)
    values: dict[str, Any] = {
        "auth": False,
        "signing_key_file": key_file,
        "checkpoint_dir": os.path.join(tmp_path, "checkpoints"),
        **changes,
    }
    return Settings(**values)


def post(client: redis.Redis, settings: Settings, n: int, tenant: str = "acme", start: int = 1):
    """Put ``n`` events on the ingest stream (ids e<start>..)."""
    producer = Producer(redis=client, settings=settings)
    for i in range(start, start + n):
        producer.xadd(event(id=f"e{i}", tenant=tenant, data={"n": i}))


def stored_in_seq_order(client: redis.Redis, settings: Settings, tenant: str) -> list[bytes]:
    """Every stored event of a tenant, by seq (read with the key layout, as a verifier would)."""
    keys = settings.key_names
    ids = client.zrange(keys.seq_index(tenant), 0, -1)
    return list(client.hmget(keys.events(tenant), ids))  # type: ignore[arg-type]


def root_of(events: list[bytes]) -> bytes:
    compact = merkle.CompactRange()
    compact.extend(leaf_hash_of(e) for e in events)
    return compact.root()
