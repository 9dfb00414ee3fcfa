"""Retention policies per tenant, the default, legal holds, dry runs, the scheduled run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import store_aged

from collector.errors import ConfigError
from collector.retention import Retention
from collector.timefmt import now_utc


@pytest.fixture
def retention(service):
    return Retention(service.redis, service.key_names, default_days=30)


def test_policies_default_and_forever(retention):
    retention.set_policy("acme", 7)
    retention.set_policy("keepall", None)
    assert retention.effective("acme") == (7, "tenant")
    assert retention.effective("keepall") == (None, "tenant")
    assert retention.effective("other") == (30, "default")
    assert Retention(retention.redis, retention.key_names, None).effective("other") == (
        None,
        "none",
    )
    assert retention.unset_policy("acme") is True
    assert retention.effective("acme") == (30, "default")
    with pytest.raises(ConfigError):
        retention.set_policy("acme", 0)
    with pytest.raises(ConfigError):
        retention.set_policy("bad tenant", 3)


def test_run_purges_by_policy_and_never_a_held_tenant(service, retention):
    for tenant in ("acme", "held", "keepall", "dflt"):
        store_aged(service, tenant, [1, 10, 40, 400])
    retention.set_policy("acme", 5)
    retention.set_policy("held", 5)
    retention.set_policy("keepall", None)
    hold = retention.set_hold("held", "litigation 2026-17")
    assert hold.reason == "litigation 2026-17"

    dry = {r.tenant: r for r in retention.run(dry_run=True)}
    assert (dry["acme"].purged, dry["dflt"].purged, dry["held"].purged) == (3, 2, 0)
    assert dry["held"].held and service.store.count("acme") == 4

    done = {r.tenant: r for r in retention.run()}
    assert (done["acme"].purged, done["dflt"].purged) == (3, 2)
    assert done["held"].purged == 0 and done["keepall"].purged == 0
    counts = {t: service.store.count(t) for t in ("acme", "held", "keepall", "dflt")}
    assert counts == {"acme": 1, "held": 4, "keepall": 4, "dflt": 2}

    # --days overrides the policies for one run, but never a hold
    forced = {r.tenant: r for r in retention.run(days=1)}
    assert forced["held"].purged == 0 and service.store.count("held") == 4
    assert service.store.count("keepall") == 0

    assert retention.clear_hold("held") is True and retention.clear_hold("held") is False
    assert retention.run(tenant="held")[0].purged == 3


def test_a_hold_set_mid_purge_stops_it_at_the_next_step(service, retention):
    """The purge script reads the hold itself: no race between a check and a removal."""
    store_aged(service, "acme", [40] * 10)

    steps = []

    def hold_after_first_step() -> None:
        steps.append(1)
        if len(steps) == 2:
            service.redis.set(service.key_names.hold("acme"), b"{}")

    cutoff = now_utc() - timedelta(days=30)
    assert service.store.purge_before("acme", cutoff, chunk=3, on_step=hold_after_first_step) == 3
    assert service.store.count("acme") == 7


def test_show_lists_policies_and_holds(service, retention):
    store_aged(service, "acme", [1])
    retention.set_policy("beta", 3)
    retention.set_hold("gamma", "audit")
    shown = {r.tenant: r for r in retention.show()}
    assert set(shown) == {"acme", "beta", "gamma"}
    assert (shown["acme"].days, shown["acme"].source) == (30, "default")
    assert shown["beta"].days == 3 and shown["gamma"].hold.reason == "audit"


def test_scheduled_run_happens_once_a_minute_across_workers(service, retention):
    store_aged(service, "acme", [40, 41])
    assert {r.tenant: r.purged for r in retention.run_scheduled()} == {"acme": 2}
    store_aged(service, "beta", [40])
    other_worker = Retention(service.redis, service.key_names, default_days=30)
    assert other_worker.run_scheduled() == []  # within the minute: nothing
    assert service.store.count("beta") == 1
    assert service.redis.pttl(service.key_names.lock("retention")) > 50_000


def test_workers_apply_tenant_policies_even_without_a_default(service):
    from collector.maintenance import Maintenance

    store_aged(service, "acme", [1, 40])
    store_aged(service, "beta", [1, 40])
    Retention(service.redis, service.key_names, None).set_policy("acme", 10)
    Maintenance(service.redis, service.key_names, service.settings).run_due()
    assert (service.store.count("acme"), service.store.count("beta")) == (1, 2)


def test_a_purge_takes_its_events_out_of_their_posting_lists(service, retention):
    from collector.query import Filters

    store_aged(service, "acme", [1, 1, 40, 40, 400])  # same actor, type and service
    lists = service.redis.scan_iter(match="audit:t:{acme}:pl:*")
    before = {k: service.redis.get(k) for k in lists}
    assert sum(v.count(b"\n") for v in before.values()) == 5 * 3  # service, type, actor
    assert retention.run(tenant="acme", days=5)[0].purged == 3
    lists = service.redis.scan_iter(match="audit:t:{acme}:pl:*")
    after = {k: service.redis.get(k) for k in lists}
    assert sum(v.count(b"\n") for v in after.values()) == 2 * 3  # the two recent events
    assert all(b"acme-0" in v and b"acme-1" in v for v in after.values())
    assert set(after) < set(before)  # the lists left empty are gone
    page = service.query.page(Filters(tenant="acme", actor_id="alice"), 10)
    assert len(page.items) == 2


def _list_members(service, tenant: str) -> dict[bytes, int]:
    keys = service.redis.scan_iter(match=f"audit:t:{{{tenant}}}:pl:*")
    return {k: service.redis.get(k).count(b"\n") for k in keys}


def test_a_purge_rewrites_each_posting_list_once(service, monkeypatch):
    """Steps leave the lists alone; each is compacted once when the walk has passed its
    bucket. Rewritten at every step, a bucket of n events cost n/step rewrites of what
    was left of it (40,000 events of one type-hour: 6 s of Redis)."""
    from collector import scripts

    store_aged(service, "acme", [40] * 30 + [1])  # 30 events in one hour, one recent
    compacted: list[str] = []
    real = scripts.run

    def spy(client, call):
        if call.script == "compact":
            compacted.extend(call.keys[3:])
        return real(client, call)

    monkeypatch.setattr(scripts, "run", spy)
    cutoff = now_utc() - timedelta(days=30)
    assert service.store.purge_before("acme", cutoff, chunk=5) == 30  # six steps
    assert sorted(compacted) == sorted(set(compacted)) and len(compacted) == 3
    assert list(_list_members(service, "acme").values()) == [1, 1, 1]  # the recent event's


def _hold_after(service, monkeypatch, script: str) -> None:
    """Set the tenant acme's legal hold right after each call of ``script``."""
    from collector import scripts

    real = scripts.run

    def run(client, call):
        reply = real(client, call)
        if call.script == script:
            service.redis.set(service.key_names.hold("acme"), b"{}")
        return reply

    monkeypatch.setattr(scripts, "run", run)


def test_a_hold_set_before_the_lists_are_compacted_leaves_them_whole(service, monkeypatch):
    store_aged(service, "acme", [40] * 10)
    _hold_after(service, monkeypatch, "purge")
    cutoff = now_utc() - timedelta(days=30)
    assert service.store.purge_before("acme", cutoff, chunk=4) == 4
    assert set(_list_members(service, "acme").values()) == {10}  # untouched under the hold
    monkeypatch.undo()
    service.redis.delete(service.key_names.hold("acme"))
    assert service.store.purge_before("acme", cutoff, chunk=4) == 6
    assert _list_members(service, "acme") == {}  # compacted once the hold is lifted


def _big_list(service, monkeypatch, n: int = 30) -> str:
    """One type-hour list of ``n`` events, and slices of ~10 members for compact.lua."""
    from collector import store as store_module

    monkeypatch.setattr(store_module, "COMPACT_BYTES", 300)
    store_aged(service, "acme", [40] * n)
    (key,) = [k for k in _list_members(service, "acme") if b":pl:type:" in k]
    return key.decode()


def test_a_big_list_is_compacted_in_slices_and_keeps_what_was_appended(service, monkeypatch):
    from collector import scripts

    key = _big_list(service, monkeypatch)
    gone = [f"acme-{i}" for i in range(0, 30, 3)]
    service.redis.hdel(service.key_names.events("acme"), *gone)  # purged, lists left alone
    late = b"000000000000000001|late\n"
    slices = []
    real = scripts.run

    def store_meanwhile(client, call):
        if call.script == "compact":
            slices.append(call.args[0])
            if len(slices) == 2:  # the store appends a member between two slices
                service.redis.append(key, late)
                service.redis.hset(service.key_names.events("acme"), "late", b"{}")
        return real(client, call)

    monkeypatch.setattr(scripts, "run", store_meanwhile)
    assert service.store.compact_lists("acme", [key]) == 10
    assert len(slices) >= 3  # 30 members of ~27 bytes, 300 bytes a call
    members = service.redis.get(key).split(b"\n")[:-1]
    assert len(members) == 21 and members[-1] == late.strip()
    assert not any(m.endswith(g.encode()) for m in members for g in gone)
    assert not service.redis.exists(service.key_names.compacting("acme"))


def test_a_hold_stops_a_sliced_compaction_and_leaves_the_list(service, monkeypatch):
    key = _big_list(service, monkeypatch)
    before = service.redis.get(key)
    service.redis.hdel(service.key_names.events("acme"), "acme-0", "acme-1")
    _hold_after(service, monkeypatch, "compact")
    assert service.store.compact_lists("acme", [key]) == -1
    assert service.redis.get(key) == before
    assert not service.redis.exists(service.key_names.compacting("acme"))


def test_a_list_grown_past_a_slice_in_a_group_is_finished_alone(service, monkeypatch):
    """Lists are grouped by their size when asked; one that grew past a slice since (the
    second of its group here) is finished alone, and the others are still compacted."""
    from collector import scripts

    _big_list(service, monkeypatch, n=4)  # three lists of ~110 bytes: groups of two
    lists = sorted(k.decode() for k in _list_members(service, "acme"))
    service.redis.hdel(service.key_names.events("acme"), "acme-0")
    second, grown = lists[1], b"".join(b"%018d|x%d\n" % (i, i) for i in range(20))
    real = scripts.run

    def grow_first(client, call):
        if call.script == "compact" and call.args[0] == 0 and second in call.keys:
            service.redis.append(second, grown)  # the store, between STRLEN and the call
        return real(client, call)

    monkeypatch.setattr(scripts, "run", grow_first)
    assert service.store.compact_lists("acme", lists) == len(lists) + 20  # acme-0, the x's
    assert set(_list_members(service, "acme").values()) == {3}
    assert not service.redis.exists(service.key_names.compacting("acme"))


def test_a_purge_compacts_a_big_bucket_in_slices(service, monkeypatch):
    key = _big_list(service, monkeypatch)
    cutoff = now_utc() - timedelta(days=30)
    assert service.store.purge_before("acme", cutoff, chunk=7) == 30
    assert not service.redis.exists(key)
