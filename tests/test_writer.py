"""The one write path: what becomes of each delivery, by its source."""

from __future__ import annotations

from helpers import event

from collector import scripts
from collector import store as store_module
from collector import writer as writer_module
from collector.events import prepare
from collector.streams import DeadLetter
from collector.timefmt import now_utc
from collector.writer import BatchWriter, Delivery


def _event(**fields):
    return prepare(event(**fields), now_utc())


def test_a_mixed_batch_is_stored_dead_lettered_and_reported_by_source(service):
    writer = BatchWriter(service.redis, service.settings)
    deliveries = [
        Delivery("a", _event(id="e1", tenant="acme")),
        Delivery("b", DeadLetter(b"{", "not valid JSON", source="test", source_id="b")),
        Delivery("c", _event(id="e2", tenant="globex")),
        Delivery("d", _event(id="e3", tenant="acme")),
    ]
    result = writer.write(deliveries)
    assert result.stored == [("a", 1), ("c", 1), ("d", 2)]
    assert result.dead_lettered == ["b"] and not result.duplicates and not result.failed
    assert sorted(result.settled) == ["a", "b", "c", "d"]
    assert service.redis.xlen(service.key_names.dead) == 1
    again = writer.write(deliveries)  # a redelivered batch: nothing lands twice
    assert again.duplicates == ["a", "c", "d"] and again.dead_lettered == ["b"]
    assert service.store.count("acme") == 2
    assert service.redis.xlen(service.key_names.dead) == 1


def test_a_failing_store_fails_only_its_events(service, monkeypatch):
    failing = service.redis.script_load("return redis.error_reply('boom')")
    real_sha = scripts.sha
    monkeypatch.setattr(scripts, "sha", lambda name: failing if name == "store" else real_sha(name))
    letter = DeadLetter(b"x", "invalid event", source="test", source_id="l")
    result = BatchWriter(service.redis, service.settings).write(
        [Delivery(1, _event(id="e1")), Delivery(2, letter)]
    )
    assert [source for source, _ in result.failed] == [1]
    assert "boom" in str(result.failed[0][1])
    assert result.dead_lettered == [2] and result.settled == [2]


def test_an_empty_batch_writes_nothing(service):
    result = BatchWriter(service.redis, service.settings).write([])
    assert result.settled == [] and result.failed == []


def test_an_event_that_fails_alone_while_others_store_is_dead_lettered(service):
    """One tenant's store call fails for what is in it (here its events hash is not a
    hash): the others are stored, and its event, tried again alone, is dead-lettered with
    the reason rather than retried forever."""
    service.redis.set(service.key_names.events("broken"), "not a hash")
    result = BatchWriter(service.redis, service.settings).write(
        [
            Delivery("a", _event(id="e1", tenant="acme")),
            Delivery("b", _event(id="e2", tenant="broken")),
        ]
    )
    assert result.stored == [("a", 1)] and result.dead_lettered == ["b"] and not result.failed
    [(_, letter)] = service.redis.xrange(service.key_names.dead)
    assert letter[b"reason"].startswith(b"could not be stored: ")
    assert b"WRONGTYPE" in letter[b"reason"] or b"wrong kind" in letter[b"reason"].lower()
    assert b'"id":"e2"' in letter[b"event"]


def test_a_seq_past_ten_to_the_fourteen_is_stored_as_its_digits(service):
    service.redis.set(service.key_names.seq("acme"), 10**14 - 1)
    result = BatchWriter(service.redis, service.settings).write(
        [Delivery("a", _event(id="big", tenant="acme"))]
    )
    assert result.stored == [("a", 10**14)]
    assert service.store.get_raw("acme", "big").endswith(b',"seq":100000000000000}')


def test_a_batch_larger_than_the_scripts_argument_slices_is_stored_whole(service, monkeypatch):
    # 4,500 events in one store call (the limits that keep calls short lifted): the script
    # reads stored ids and writes each key in slices of 4,000 arguments (2,000 index
    # members); ids repeat across the slices
    from collector.query import Filters

    monkeypatch.setattr(store_module, "CALL_EVENTS", 10_000)
    monkeypatch.setattr(writer_module, "CHUNK", 10_000)

    deliveries = [Delivery(str(i), _event(id=f"e{i}", tenant="acme")) for i in range(4_400)]
    deliveries += [Delivery(f"again-{i}", _event(id=f"e{i}", tenant="acme")) for i in range(100)]
    writer = BatchWriter(service.redis, service.settings)
    assert writer.write(deliveries[:50]).stored  # some ids already stored before the call
    result = writer.write(deliveries)
    # 50 stored before the call, 100 repeated within it
    assert len(result.stored) == 4_350 and len(result.duplicates) == 150 and not result.failed
    assert sorted(seq for _, seq in result.stored) == list(range(51, 4_401))  # dense
    assert service.store.count("acme") == 4_400
    assert service.redis.zcard(service.key_names.time_index("acme")) == 4_400
    assert service.redis.zcard(service.key_names.seq_index("acme")) == 4_400
    walked, cursor = 0, None
    while True:
        page = service.query.page(Filters(tenant="acme", actor_id="alice"), 1000, cursor)
        walked += len(page.items)
        if (cursor := page.next_cursor) is None:
            break
    assert walked == 4_400  # each member appended once to the actor's list


def test_a_batch_goes_in_store_calls_of_at_most_call_events(service):
    """Each store call blocks Redis while it runs: a tenant's events go in calls of at
    most CALL_EVENTS, in order, and their seqs come back to the right deliveries."""
    deliveries = [Delivery(f"a{i}", _event(id=f"a{i}", tenant="acme")) for i in range(150)]
    deliveries.insert(70, Delivery("g", _event(id="g", tenant="globex")))
    deliveries.append(Delivery("again", _event(id="a3", tenant="acme")))  # in the last call
    calls = service.store.store_calls([d.item for d in deliveries])
    assert [(c.tenant, c.events, len(c.call.args) // 4) for c in calls] == [
        ("acme", 64, 64),
        ("acme", 64, 64),
        ("acme", 23, 23),
        ("globex", 1, 1),
    ]
    result = BatchWriter(service.redis, service.settings).write(deliveries)
    assert result.stored == [
        (d.source, 1 if d.source == "g" else int(d.source[1:]) + 1) for d in deliveries[:-1]
    ]
    assert result.duplicates == ["again"]  # stored by an earlier call of the same batch


def test_a_failing_store_call_fails_only_the_events_it_carried(service, monkeypatch):
    """Of one tenant's calls in a batch, the one that fails takes only its own events."""
    failing = service.redis.script_load("return redis.error_reply('boom')")
    real = scripts.pipe_call

    def second_fails(pipe, call):  # the call carrying e64 on
        if call.script == "store" and call.args[0] == "e64":
            pipe.execute_command("EVALSHA", failing, 0)
        else:
            real(pipe, call)

    monkeypatch.setattr(scripts, "pipe_call", second_fails)
    deliveries = [Delivery(i, _event(id=f"e{i}", tenant="acme")) for i in range(100)]
    result = BatchWriter(service.redis, service.settings)._write_chunk(deliveries)
    assert [source for source, _ in result.failed] == list(range(64, 100))
    assert [source for source, _ in result.stored] == list(range(64))
