"""collector.http_input: what goes on the stream is the event the API validated."""

from __future__ import annotations

import json

import orjson
from helpers import event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import http_input
from collector.settings import Settings
from collector.timefmt import now_utc

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
safe_integers = st.integers(-(2**53) + 1, 2**53 - 1)  # what `data` may hold exactly
events = st.builds(
    lambda with_id, with_tenant, data, name: event(
        **({"id": with_id} if with_id else {}),
        **({"tenant": with_tenant} if with_tenant else {}),
        data=data,
        actor={"id": "alice", "name": name or "a"},
    ),
    st.none() | st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True),
    st.none() | st.sampled_from(["acme", "globex"]),
    st.dictionaries(texts, safe_integers | texts | st.booleans(), max_size=4),
    texts.filter(lambda t: len(t) <= 256),
)
layouts = st.sampled_from(
    [
        lambda value: orjson.dumps(value),
        lambda value: json.dumps(value, indent=2).encode(),  # whitespace inside and around
        lambda value: json.dumps(value, ensure_ascii=True).encode(),  # \u escapes
        lambda value: b"\n  " + json.dumps(value, separators=(" , ", " : ")).encode() + b" \t",
    ]
)


@PROPERTY
@given(st.lists(events, min_size=1, max_size=4), layouts, st.booleans())
def test_each_event_on_the_stream_parses_to_the_event_with_its_id_and_tenant(
    sent, layout, as_batch
):
    """Whatever the layout of the body, each event's JSON on the stream parses to exactly
    the event the API validated, with the id and tenant it was answered with, each key
    once."""
    items = sent if as_batch else sent[:1]
    body = b"[" + b",".join(layout(e) for e in items) + b"]" if as_batch else layout(items[0])
    submission = http_input.decode(body, "application/json", {}, Settings(), now_utc(), "default")
    assert len(submission.encoded) == len(items)
    for given_event, routed, blob in zip(items, submission.events, submission.encoded, strict=True):
        expected = {**given_event, "id": routed["id"], "tenant": routed["tenant"]}
        assert orjson.loads(blob) == expected
        keys = json.loads(blob, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
        assert len(keys) == len(set(keys)), f"a key twice: {keys}"
        assert routed["tenant"] == given_event.get("tenant", "default")
        if "id" in given_event:
            assert routed["id"] == given_event["id"]
