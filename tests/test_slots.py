"""Every multi-key atomic step touches one hash slot, so the same code runs on Redis Cluster.

fakeredis and a single redis-server never complain about cross-slot keys, so this is
checked here, by computing the slots.
"""

from __future__ import annotations

from helpers import event
from redis.crc import key_slot

from collector.events import prepare
from collector.integrity import Integrity
from collector.keys import KeyNames
from collector.postings import buckets_of
from collector.settings import Settings
from collector.store import Store
from collector.streams import DeadLetter, IngestStreams
from collector.tiles import Write
from collector.timefmt import now_utc
from collector.treestore import CHUNK_HASHES, RedisHashStore


def _slots(keys: list[str]) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def test_store_script_calls_stay_in_one_slot_per_tenant(fake_redis):
    store = Store(fake_redis, KeyNames())
    now = now_utc()
    events = [
        prepare(event(id=f"e{i}", tenant=t, service=f"svc{{{i}}}", target={"id": f"x{i}"}), now)
        for i, t in enumerate(["acme", "globex", "acme", "initech", "globex"])
    ]
    calls = store.store_calls(events)
    assert [call.tenant for call in calls] == ["acme", "globex", "initech"]
    for tenant, call, count in calls:
        assert len(_slots(call.keys)) == 1, tenant
        assert len(call.keys) == 6 + sum(len(e.indexed) for e in events if e.tenant == tenant)
        assert count == sum(1 for e in events if e.tenant == tenant)


def test_query_keys_stay_in_one_slot():
    keys = KeyNames()
    values = [("service", "a{b}"), ("type", "t"), ("actor_id", "{x}"), ("target_id", "y")]
    values += [("outcome", "failure"), ("outcome", "unknown")]
    lists = keys.posting_lists("acme", buckets_of(values, 63_900_000_000_000_000))
    all_keys = [keys.events("acme"), keys.time_index("acme"), *lists]
    assert len(all_keys) == 8
    assert len(_slots(all_keys)) == 1  # one MGET reads a window's lists, even on a cluster


def test_partitioned_streams_are_hash_tagged_apart():
    keys = KeyNames(partitions=4)
    streams = keys.ingest_streams()
    assert streams == [f"audit:ingest:{{{k}}}" for k in range(4)]
    assert KeyNames().ingest_streams() == ["audit:ingest"]


def test_purge_script_calls_stay_in_one_slot(fake_redis):
    store = Store(fake_redis, KeyNames())
    prepared = [
        prepare(event(id=f"p{i}", tenant="acme", target={"id": "t"}), now_utc()) for i in range(3)
    ]
    docs = [e.body + b',"seq":1}' for e in prepared]
    call, lists = store.purge_call("acme", [e.member.encode() for e in prepared], [*docs[:2], None])
    # outcome=success has no list; the missing event has no list left to name; the
    # events share their actor, target, type and service (and so their lists)
    assert len(call.keys) == 6 and len(lists) == 4
    k = KeyNames()
    compact = [k.events("acme"), k.hold("acme"), *lists, k.compacting("acme")]
    assert len(_slots(call.keys + compact)) == 1  # compact.lua's keys


def test_dead_letter_marker_shares_the_dead_streams_slot():
    keys = KeyNames()
    marker = keys.dead_marker("audit:ingest:{3}", "1700000000000-0")
    assert key_slot(marker.encode()) == key_slot(keys.dead.encode())


def test_integrity_script_calls_stay_in_one_slot_per_tenant():
    keys = KeyNames()
    store = RedisHashStore(None, keys, "a{b}c")  # type: ignore[arg-type]
    # A write that crosses a chunk boundary, and rows above the leaves.
    start = CHUNK_HASHES - 1
    call = store.append_call(
        start, start + 2, [Write(0, start, b"\0" * 64), Write(8, 255, b"\0" * 32)]
    )
    assert len(call.keys) == 4  # the size, two chunks of row 0, one of row 8
    assert len(_slots(call.keys)) == 1
    checkpoint = Integrity(None, Settings()).checkpoint_call("a{b}c", 3, "note")  # type: ignore[arg-type]
    assert len(_slots([*checkpoint.keys, *call.keys])) == 1


def test_dead_letter_script_calls_stay_in_one_slot(fake_redis):
    streams = IngestStreams(fake_redis, KeyNames(partitions=4))
    letter = DeadLetter(b"{", "not valid JSON", source="audit:ingest:{3}", source_id="1-0")
    call = streams.dead_letter_call(letter)
    assert call.script == "deadletter" and len(call.keys) == 3
    assert len(_slots(call.keys)) == 1
    for key_names in (KeyNames(), KeyNames(prefix="other")):
        assert key_slot(key_names.dead_total.encode()) == key_slot(key_names.dead.encode())


def test_a_tenants_hold_and_duplicate_counter_share_its_slot():
    key_names = KeyNames()
    slots = _slots([key_names.events("acme"), key_names.hold("acme"), key_names.duplicates("acme")])
    assert len(slots) == 1


def test_guarded_reads_and_their_counters_stay_in_the_streams_slot(fake_redis):
    for partitions in (1, 4):
        streams = IngestStreams(fake_redis, KeyNames(partitions=partitions))
        for stream in streams.streams:
            call = streams.watch.read_call(stream, "c", 10)
            assert call.script == "guarded_read" and call.keys[0] == stream
            assert len(_slots(call.keys)) == 1, stream


def test_http_streams_and_their_byte_counters_share_a_slot():
    keys = KeyNames(partitions=4)
    for direct, http in zip(keys.ingest_streams(), keys.http_streams(), strict=True):
        assert len(_slots([http, keys.stream_bytes(http)])) == 1
        assert key_slot(direct.encode()) == key_slot(http.encode())  # a partition, one slot
    assert KeyNames().http_streams() == ["audit:ingest:http"]
