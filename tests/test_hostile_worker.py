"""Rows 6 and 10: one bad stream entry is dead-lettered alone with its true reason, its
batch neighbours are stored; a large or binary payload is kept as a preview."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from helpers import event


def _xadd(service, raw: bytes) -> None:
    service.redis.xadd(service.streams.streams[0], {"event": raw})


def _dead(service) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in service.redis.xrange(service.key_names.dead)]


def test_a_deep_entry_is_dead_lettered_alone_as_too_deep(service, drain):
    for n in range(5):
        _xadd(service, orjson.dumps(event(id=f"before-{n}")))
    deep = b'{"type":"t","service":"s","actor":{"id":"a"},"data":' + b'{"a":' * 1000
    _xadd(service, deep + b"1" + b"}" * 1001)
    for n in range(5):
        _xadd(service, orjson.dumps(event(id=f"after-{n}")))
    stats = drain()
    assert stats["stored"] == 10 and stats["dead"] == 1
    [letter] = _dead(service)
    assert letter[b"reason"].startswith(b"too deep")
    assert service.store.count("default") == 10


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type":"t\xff\xfe","service":"s","actor":{"id":"a"}}', b"not UTF-8"),
        (b'{"type": tru', b"not JSON"),
        (b"[" * 50 + b"]" * 50, b"too deep"),
        (orjson.dumps(event(data={"x": "y" * 70_000})), b"too large"),
        (orjson.dumps(event(type="bad type!")), b"invalid event"),
    ],
)
def test_each_bad_entry_gets_its_true_reason(service, drain, raw, reason):
    _xadd(service, orjson.dumps(event(id="neighbour-1")))
    _xadd(service, raw)
    _xadd(service, orjson.dumps(event(id="neighbour-2")))
    assert drain()["stored"] == 2
    [letter] = _dead(service)
    assert letter[b"reason"].startswith(reason), letter[b"reason"]


def test_a_huge_binary_entry_is_kept_as_a_preview_with_size_and_digest(service, drain):
    blob = bytes(range(256)) * (20 * 1024 * 1024 // 256)  # 20 MiB, not UTF-8
    _xadd(service, blob)
    _xadd(service, orjson.dumps(event(id="fine")))
    assert drain()["dead"] == 1
    [letter] = _dead(service)
    assert letter[b"reason"].startswith(b"too large")
    assert len(letter[b"event"]) == 4096 and blob.startswith(letter[b"event"])
    assert letter[b"size"] == str(len(blob)).encode()
    assert letter[b"sha256"] == hashlib.sha256(blob).hexdigest().encode()
    assert service.store.get("default", "fine") is not None


def test_a_payload_within_the_limit_is_kept_whole(service, drain):
    raw = orjson.dumps(event(type="bad type!", data={"x": "y" * 5000}))
    _xadd(service, raw)
    drain()
    [letter] = _dead(service)
    assert letter[b"event"] == raw and b"sha256" not in letter
