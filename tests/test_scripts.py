"""The script registry: every Lua file is known, and a Redis that lost them gets them back."""

from __future__ import annotations

from importlib import resources

from helpers import event

from collector import scripts
from collector.client import Producer
from collector.query import Filters


def test_the_registry_names_every_lua_file():
    files = {p.name for p in resources.files("collector").iterdir() if p.name.endswith(".lua")}
    assert files == {f"{name}.lua" for name in scripts.NAMES}


def test_a_call_after_script_flush_reloads_and_answers(service, drain):
    Producer(redis=service.redis, settings=service.settings).xadd(event(id="q1"))
    drain()
    service.redis.script_flush()
    assert [b"q1" in raw for raw in service.query.page(Filters()).items] == [True]
    assert service.redis.script_exists(scripts.sha("query")) == [True]


def test_a_read_after_script_flush_delivers_every_stream_once(service):
    """The HTTP streams are read with a plain XREADGROUP in the same pipeline as the
    direct streams' guarded reads: when the scripts are gone only those are run again,
    so the HTTP entries the first pass delivered are returned, not left pending."""
    streams = service.streams
    streams.ensure_groups()
    service.redis.xadd(streams.direct[0], {"event": b'{"n": "direct"}'})
    service.redis.xadd(streams.http[0], {"event": b'{"n": "http"}', "ingested_by": b"k"})
    service.redis.script_flush()
    entries = streams.read("reader", 10, 0)
    assert sorted(e.fields[b"event"] for e in entries) == [b'{"n": "direct"}', b'{"n": "http"}']
    assert [e.stream in streams.http for e in entries].count(True) == 1
    assert streams.read("reader", 10, 0) == []
