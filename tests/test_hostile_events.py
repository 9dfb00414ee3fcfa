"""Rows 9 and 17: occurred_at bounded by the clock skew; actor.id and target.id bounded."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from helpers import event

from collector.timefmt import format_utc, now_utc


def _post(client, body):
    return client.post("/v1/events", data=orjson.dumps(body), content_type="application/json")


def test_an_event_dated_far_in_the_future_is_refused(client, service, drain):
    response = _post(client, event(id="future", occurred_at="9999-12-31T23:59:59Z"))
    assert response.status_code == 422
    assert "occurred_at" in response.get_json()["errors"]
    soon = format_utc(now_utc() + timedelta(seconds=200))  # within AUDIT_MAX_CLOCK_SKEW_S
    assert _post(client, event(id="soon", occurred_at=soon)).status_code == 202
    drain()
    assert service.store.get("default", "soon") is not None


def test_a_stream_entry_dated_in_the_future_is_dead_lettered(service, drain):
    raw = orjson.dumps(event(id="future", occurred_at="9999-12-31T23:59:59Z"))
    service.redis.xadd(service.streams.streams[0], {"event": raw})
    assert drain()["dead"] == 1
    assert service.store.get("default", "future") is None


@pytest.mark.parametrize("field", ["actor", "target"])
def test_actor_and_target_ids_are_bounded(client, field):
    long_id = "x" * 257
    response = _post(client, event(**{field: {"id": long_id}}))
    assert response.status_code == 422
    assert "id" in response.get_json()["errors"][field]
    assert _post(client, event(**{field: {"id": "x" * 256}})).status_code == 202
