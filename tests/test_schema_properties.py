"""Property tests of the v1 schema: generated valid events are kept intact by ``prepare``;
breaking one rule at a time is rejected and keyed by that field."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
import pytest
from helpers import (
    INPUT_FIELDS,
    NAME_CHARS,
    RECEIVED,
    SERVER_FIELDS,
    TENANT_CHARS,
    assert_only_error_at,
    data_of_size,
    errors_of,
    nested_data,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from collector.events import normalized_input, prepare, validate
from collector.schema import DATA_MAX_DEPTH, EVENT_SCHEMA, _Slow
from collector.timefmt import format_utc, parse_rfc3339

# ---------------------------------------------------------------------------- property tests

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

safe_text = st.characters(exclude_categories=("Cs",))  # JSON strings: no lone surrogates
names = st.text(NAME_CHARS, min_size=1, max_size=128)
tenants = st.text(TENANT_CHARS, min_size=1, max_size=64)


def texts(min_size: int = 1, max_size: int = 64) -> st.SearchStrategy[str]:
    return st.text(safe_text, min_size=min_size, max_size=max_size)


ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
actors = st.fixed_dictionaries(
    {"id": texts()},
    optional={
        "type": texts(max_size=128),
        "name": texts(),
        "ip": ips,
        "user_agent": texts(min_size=0, max_size=200),
    },
)
targets = st.fixed_dictionaries(
    {"id": texts()}, optional={"type": texts(max_size=128), "name": texts()}
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(min_size=0, max_size=20),
)
json_keys = texts(min_size=0, max_size=10)


@cache
def json_values(levels: int) -> st.SearchStrategy[Any]:
    """JSON values at most ``levels`` deep (a scalar is 0 levels, a container 1 + its items)."""
    if levels == 0:
        return json_leaves
    inner = json_values(levels - 1)
    return st.one_of(
        json_leaves,
        st.lists(inner, max_size=3),
        st.dictionaries(json_keys, inner, max_size=3),
    )


datas = st.dictionaries(json_keys, json_values(DATA_MAX_DEPTH - 1), max_size=5)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 date-time with an offset, and the UTC instant it means (micro-truncated)."""
    local = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    digits = draw(st.integers(min_value=0, max_value=9))
    micro = f"{local.microsecond:06d}"
    if digits <= 6:
        fraction = micro[:digits]
        local = local.replace(microsecond=int(fraction.ljust(6, "0")))
    else:
        fraction = micro + draw(st.text("0123456789", min_size=digits - 6, max_size=digits - 6))
    offset = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    if offset == 0:
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        sign = "+" if offset > 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    sep = draw(st.sampled_from("Tt"))
    text = local.strftime("%Y-%m-%d") + sep + local.strftime("%H:%M:%S")
    text += ("." + fraction if fraction else "") + zone
    return text, (local - timedelta(minutes=offset)).replace(tzinfo=UTC)


@st.composite
def valid_events(draw: st.DrawFn) -> tuple[dict[str, Any], datetime | None]:
    """A valid event within every rule, and the UTC instant of its ``occurred_at`` if any."""
    raw: dict[str, Any] = {
        "type": draw(names),
        "service": draw(texts(max_size=128)),
        "actor": draw(actors),
    }
    instant = None
    optional = {
        "id": names,
        "tenant": tenants,
        "target": targets,
        "outcome": st.sampled_from(["success", "failure", "unknown"]),
        "request_id": texts(max_size=128),
        "trace_id": texts(max_size=128),
        "data": datas,
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            raw[field] = draw(strategy)
    if draw(st.booleans()):
        raw["occurred_at"], instant = draw(timestamps())
    return raw, instant


# after every occurred_at the strategy makes: occurred_at may not be ahead of received_at
received_ats = st.datetimes(
    min_value=datetime(2200, 1, 3), max_value=datetime(2300, 1, 1), timezones=st.just(UTC)
)


@PROPERTY
@given(valid_events(), received_ats)
def test_property_valid_events_prepare_and_round_trip(case, received_at):
    raw, instant = case
    prepared = prepare(raw, received_at)
    doc = prepared.document

    # every input field is kept, defaults are filled, the server adds its fields and no others
    expected_fields = set(raw) | {"id", "tenant", "occurred_at", "outcome", "data"}
    assert set(doc) == expected_fields | {"received_at", "schema_version"}
    for field in ("type", "service", "target", "request_id", "trace_id", "id", "tenant"):
        if field in raw:
            assert doc[field] == raw[field]
    assert doc["actor"] == {"type": "user", **raw["actor"]}
    assert doc["outcome"] == raw.get("outcome", "success")
    assert doc["data"] == raw.get("data", {})
    assert doc["tenant"] == raw.get("tenant", "default")
    if "id" not in raw:
        assert uuid.UUID(doc["id"]).version == 7
    assert doc["schema_version"] == 1
    assert doc["received_at"] == format_utc(received_at)

    # occurred_at: the same instant, in UTC, or received_at when absent
    assert doc["occurred_at"].endswith("Z")
    assert parse_rfc3339(doc["occurred_at"]) == (instant or received_at)
    assert prepared.tenant == doc["tenant"]
    assert prepared.id == doc["id"]

    # the stored input fields validate again, and preparing them again changes nothing
    again = {k: v for k, v in doc.items() if k in INPUT_FIELDS}
    assert set(again) == set(doc) - {"received_at", "schema_version"}
    assert validate(again)["occurred_at"] == parse_rfc3339(doc["occurred_at"])
    assert prepare(again, received_at).document == doc


@PROPERTY
@given(valid_events(), received_ats)
def test_property_normalized_input_is_what_prepare_stores(case, received_at):
    raw, _ = case
    out = normalized_input(raw, received_at)
    assert {k: v for k, v in out.items() if k in raw} == raw
    doc = prepare(out, received_at).document
    assert doc["id"] == out["id"]
    assert doc["tenant"] == raw.get("tenant", "default")
    assert doc == prepare(raw, received_at, default_id=out["id"]).document


def with_bad_char(valid: st.SearchStrategy[str], allowed: str) -> st.SearchStrategy[str]:
    """A valid name with one character outside ``allowed`` inserted somewhere."""
    bad = st.characters(exclude_categories=("Cs",)).filter(lambda c: c not in allowed)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        name = draw(valid)[:-1] or ""
        at = draw(st.integers(min_value=0, max_value=len(name)))
        return name[:at] + draw(bad) + name[at:]

    return build()


def not_an_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return True
    return False


non_strings = st.one_of(
    st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
)
MISSING = object()
KNOWN_TOP = set(INPUT_FIELDS)

# (path, strategy of bad values; MISSING deletes the field)
BREAKERS: list[tuple[tuple[str, ...], st.SearchStrategy[Any]]] = [
    (("id",), st.one_of(with_bad_char(names, NAME_CHARS), st.just(""), non_strings)),
    (("id",), st.text(NAME_CHARS, min_size=129, max_size=300)),
    (("type",), st.one_of(with_bad_char(names, NAME_CHARS), st.just(""), non_strings)),
    (("type",), st.one_of(st.text(NAME_CHARS, min_size=129, max_size=300), st.just(MISSING))),
    (("service",), st.one_of(st.just(""), texts(129, 300), non_strings, st.just(MISSING))),
    (("tenant",), st.one_of(with_bad_char(tenants, TENANT_CHARS), st.just(""), non_strings)),
    (("tenant",), st.text(TENANT_CHARS, min_size=65, max_size=200)),
    (("tenant",), tenants.map(lambda t: t[:63] + ":")),
    (
        ("occurred_at",),
        st.one_of(
            timestamps().map(lambda c: c[0].rstrip("Zz")[:19]),  # no offset
            timestamps().map(lambda c: c[0][:10]),  # date only
            st.dates().map(lambda d: d.strftime("%G-W%V-%u")),  # week date
            st.dates().map(lambda d: d.strftime("%G-W%V-%uT12:00:00Z")),
            texts(0, 30).filter(lambda s: not s[:4].isdigit()),
            non_strings,
        ),
    ),
    (("actor",), st.one_of(st.just(MISSING), texts(), non_strings)),
    (("actor", "id"), st.one_of(st.just(MISSING), st.just(""), non_strings)),
    (("actor", "ip"), st.one_of(texts(0, 20).filter(not_an_ip), ips.map(lambda ip: ip + "/1"))),
    (("actor", "type"), st.one_of(st.just(""), non_strings)),
    (("target", "id"), st.one_of(st.just(MISSING), st.just(""), non_strings)),
    (("target", "name"), non_strings),
    (
        ("outcome",),
        st.one_of(texts(0, 10), st.integers(), st.booleans(), st.none()).filter(
            lambda v: v not in ("success", "failure", "unknown")
        ),
    ),
    (("request_id",), st.one_of(texts(129, 300), non_strings)),
    (("trace_id",), st.one_of(texts(129, 300), non_strings)),
    (
        ("data",),
        st.one_of(
            st.lists(json_leaves, max_size=3),
            json_leaves,
            st.integers(min_value=11, max_value=40).map(nested_data),
            st.integers(min_value=32 * 1024 + 1, max_value=40_000).map(data_of_size),
        ),
    ),
]


@st.composite
def broken_events(
    draw: st.DrawFn, breaker: int | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A valid event with exactly one rule broken, and the path of the field that breaks it
    (with ``breaker``, the rule of ``BREAKERS[breaker]``)."""
    raw, _ = draw(valid_events())
    raw = orjson.loads(orjson.dumps(raw))  # a deep copy
    kinds = ["field", "unknown", "unknown-nested", "server-set"]
    kind = "field" if breaker is not None else draw(st.sampled_from(kinds))
    if kind == "unknown":
        key = draw(texts(0, 20).filter(lambda k: k not in KNOWN_TOP))
        raw[key] = draw(json_leaves)
        return raw, (key,)
    if kind == "unknown-nested":
        parent = draw(st.sampled_from(["actor", "target"]))
        allowed = {"id", "type", "name", "ip", "user_agent"} if parent == "actor" else set()
        allowed = allowed or {"id", "type", "name"}
        key = draw(texts(0, 20).filter(lambda k: k not in allowed))
        raw.setdefault(parent, {"id": "t"})[key] = draw(json_leaves)
        return raw, (parent, key)
    if kind == "server-set":
        key = draw(st.sampled_from(SERVER_FIELDS))
        raw[key] = draw(st.one_of(st.integers(), timestamps().map(lambda c: c[0])))
        return raw, (key,)
    path, values = BREAKERS[breaker] if breaker is not None else draw(st.sampled_from(BREAKERS))
    value = draw(values)
    if len(path) == 2:
        parent = raw.setdefault(path[0], {"id": "t"})
        if value is MISSING:
            parent.pop(path[1], None)
        else:
            parent[path[1]] = value
    elif value is MISSING:
        raw.pop(path[0], None)
    else:
        raw[path[0]] = value
    return raw, path


@PROPERTY
@given(broken_events())
def test_property_one_broken_rule_is_rejected_and_keyed_by_its_field(case):
    raw, path = case
    messages = errors_of(raw)
    if path == ("actor",) and isinstance(messages.get("actor"), dict):
        path = ("actor", "_schema")  # a non-object actor: one message under actor._schema
    assert_only_error_at(messages, *path)
    with pytest.raises(ValidationError):
        prepare(raw, RECEIVED)


def _full_load(raw: Any) -> dict[str, Any] | ValidationError:
    """marshmallow's own load, past the fast path."""
    try:
        return Schema.load(EVENT_SCHEMA, raw)  # type: ignore[no-any-return]
    except ValidationError as exc:
        return exc


@PROPERTY
@given(st.one_of(valid_events().map(lambda case: case[0]), broken_events().map(lambda c: c[0])))
def test_property_the_fast_path_loads_what_marshmallow_loads(raw):
    """Whatever the fast path accepts, marshmallow accepts and loads the same; what it
    refuses, the full load answers (valid events and events with one broken rule)."""
    try:
        fast: dict[str, Any] | None = EVENT_SCHEMA.fast_load(raw)
    except (_Slow, ValidationError):
        fast = None
    full = _full_load(raw)
    if fast is not None:
        assert fast == full
    if isinstance(full, ValidationError):
        with pytest.raises(ValidationError):
            EVENT_SCHEMA.load(raw)
    else:
        assert EVENT_SCHEMA.load(raw) == full


@pytest.mark.parametrize("breaker", range(len(BREAKERS)), ids=lambda i: ".".join(BREAKERS[i][0]))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_the_fast_path_takes_no_event_that_breaks_a_rule(breaker, data):
    """Each rule on its own (the property above draws one of many, so a loosened check of
    one field would be met a few times at most): the fast path never loads an event that
    breaks it (fails if an inlined length, pattern or choice check is loosened: tried)."""
    raw, _ = data.draw(broken_events(breaker))
    with pytest.raises((_Slow, ValidationError)):
        EVENT_SCHEMA.fast_load(raw)


def test_the_fast_path_takes_a_plain_valid_event():
    """The property above would pass if the fast path never answered: it does, for the
    common event (every field that has a quick check, both nested schemas)."""
    raw = {
        "id": "e-1",
        "tenant": "acme",
        "type": "user.login",
        "service": "auth",
        "occurred_at": "2026-11-28T09:00:00Z",
        "actor": {"id": "alice", "type": "user", "ip": "203.0.113.7", "user_agent": ""},
        "target": {"id": "t-1", "type": "invoice", "name": "Invoice 1"},
        "outcome": "failure",
        "request_id": "r",
        "trace_id": "",
        "data": {"a": [1, {"b": None}]},
    }
    loaded = EVENT_SCHEMA.fast_load(raw)
    assert loaded == _full_load(raw)
    assert loaded["actor"] == raw["actor"] and loaded["outcome"] == "failure"
