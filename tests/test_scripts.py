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
