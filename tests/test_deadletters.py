"""Dead letters: list, show, drop, and the replay round trip (re-validated, never twice)."""

from __future__ import annotations

import orjson
import pytest
from helpers import event, store_now

from collector.deadletters import DeadLetters
from collector.queue_input import from_entry, from_job_item
from collector.streams import DeadLetter
from collector.timefmt import now_utc
from collector.writer import BatchWriter, Delivery


@pytest.fixture
def dead(service):
    return DeadLetters(service.redis, service.key_names, service.settings)


def _xadd(service, payload) -> str:
    blob = payload if isinstance(payload, (bytes, str)) else orjson.dumps(payload)
    return service.redis.xadd(service.key_names.ingest_streams()[0], {"event": blob}).decode()


def test_list_show_and_drop(service, drain, dead):
    _xadd(service, "{broken")
    _xadd(service, {"type": "x"})
    drain()
    listed = dead.list()
    assert [d.reason for d in listed][::-1][0].startswith("not JSON")
    newest = listed[0]
    assert (
        newest.reason == "invalid event" and newest.source == service.key_names.ingest_streams()[0]
    )
    shown = dead.get(newest.id).to_dict()
    assert shown["payload"] == '{"type":"x"}'
    assert set(shown["errors"]) >= {"service", "actor"}
    assert dead.list(limit=1, before=newest.id)[0].id == listed[1].id
    assert dead.drop(newest.id) is True
    assert dead.drop(newest.id) is False
    assert dead.get(newest.id) is None and dead.count() == 1
    assert dead.get("not-an-id") is None and dead.drop("nope") is False


def test_replay_of_a_still_invalid_payload_keeps_one_letter_and_stores_nothing(
    service, drain, dead
):
    _xadd(service, {"type": "x", "service": "s"})  # no actor
    drain()
    [letter] = dead.list()
    result = dead.replay(letter.id, now_utc())
    assert result.status == "still invalid" and "actor" in result.errors
    drain()
    assert [d.id for d in dead.list()] == [letter.id]  # still there, just once
    assert service.store.tenants() == []
    assert service.streams.backlog() == 0


def test_replay_puts_the_payload_back_with_its_original_id(service, drain, dead):
    """An event without an id, dead-lettered at the delivery limit after its store had in
    fact succeeded: the replay derives the same id, so it is not stored twice."""
    entry_id = _xadd(service, event(tenant="acme"))
    service.streams.ensure_groups()
    [entry] = service.streams.read("doomed", 10, 0)
    prepared = from_entry(entry, now_utc(), 5, 65536)
    store_now(service.redis, service.settings, [prepared])  # stored, never acked ...
    for _ in range(service.settings.max_deliveries):  # ... redelivered past the limit
        service.streams.claim("doomed", 0)
    drain(claim_idle_ms=0)
    [letter] = dead.list()
    assert letter.reason == "delivery limit" and letter.source_id == entry_id

    assert dead.replay(letter.id, now_utc(), dry_run=True).status == "would replay"
    assert dead.count() == 1
    result = dead.replay(letter.id, now_utc())
    assert result.status == "replayed" and result.event_id == prepared.id
    assert dead.count() == 0
    stats = drain()
    assert stats["duplicates"] == 1 and stats["stored"] == 0
    assert service.store.count("acme") == 1


def test_replay_of_a_valid_payload_stores_it(service, drain, dead):
    service.redis.xadd(
        service.key_names.dead, {"event": orjson.dumps(event(id="r1")), "reason": "x"}
    )
    [letter] = dead.list()
    assert dead.replay(letter.id, now_utc()).status == "replayed"
    assert dead.replay(letter.id, now_utc()).status == "not found"
    drain()
    assert service.store.get("default", "r1") is not None
    assert dead.count() == 0


def test_an_rq_item_replays_with_the_id_its_job_would_have_given_it(service, drain):
    """Dead-lettered for its size by a stricter worker, replayed under the normal limit:
    the id is the one the job derives, whichever way it ends up stored."""
    item = event(tenant="acme", data={"note": "x" * 500})
    letter = from_job_item(item, "job-1", 0, 1_764_000_000_000, now_utc(), max_event_bytes=300)
    assert isinstance(letter, DeadLetter) and letter.extra["event_id"]
    written = BatchWriter(service.redis, service.settings).write([Delivery("j", letter)])
    assert written.dead_lettered == ["j"]
    dead = DeadLetters(service.redis, service.key_names, service.settings)
    [record] = dead.list()
    result = dead.replay(record.id, now_utc())
    expected = from_job_item(item, "job-1", 0, 1_764_000_000_000, now_utc(), 65536)
    assert result.status == "replayed" and result.event_id == expected.id
    drain()
    assert service.store.get("acme", expected.id) is not None
