"""CloudEvents 1.0 on POST /v1/events: structured, batched and binary mode, built by the SDK."""

from __future__ import annotations

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import conversion as legacy
from cloudevents.v1.http import CloudEvent as LegacyCloudEvent
from helpers import assert_problem

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def attributes(**overrides) -> dict:
    base = {
        "id": "ce-1",
        "type": "invoice.paid",
        "source": "billing",
        "time": "2026-11-28T09:15:00+01:00",
        "subject": "invoice 42",
        "authid": "alice",
        "authtype": "service_account",
        "traceparent": TRACEPARENT,
        "tenant": "acme",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sdk_event(data: dict | None = None, **overrides) -> CloudEvent:
    attrs = attributes(**overrides)
    if "time" in attrs:
        from datetime import datetime

        attrs["time"] = datetime.fromisoformat(attrs["time"])
    return CloudEvent(attributes=attrs, data={"amount": 1200} if data is None else data)


def send(client, message):
    return client.post("/v1/events", data=message.body, headers=message.headers)


def assert_mapped(stored: dict, **expected) -> None:
    assert stored["id"] == expected.get("id", "ce-1")
    assert stored["type"] == "invoice.paid"
    assert stored["service"] == "billing"
    assert stored["tenant"] == "acme"
    assert stored["occurred_at"] == "2026-11-28T08:15:00.000000Z"
    assert stored["target"] == {"id": "invoice 42"}
    assert stored["actor"] == {"id": "alice", "type": "service_account"}
    assert stored["trace_id"] == TRACEPARENT
    assert stored["data"] == {"amount": 1200}


def test_structured_mode_from_the_sdk(client, service, drain):
    response = send(client, ce_http.to_structured_event(sdk_event()))
    assert response.status_code == 202
    assert response.get_json() == {"id": "ce-1", "status": "accepted"}
    drain()
    assert_mapped(service.store.get("acme", "ce-1"))


def test_binary_mode_from_the_sdk(client, service, drain):
    message = ce_http.to_binary_event(sdk_event())
    assert "content-type" not in {k.lower() for k in message.headers}  # the SDK sends none
    assert send(client, message).status_code == 202
    drain()
    assert_mapped(service.store.get("acme", "ce-1"))


def test_binary_mode_with_a_json_content_type(client, service, drain):
    event = sdk_event(datacontenttype="application/json")
    message = ce_http.to_binary_event(event)
    assert message.headers["content-type"] == "application/json"
    assert send(client, message).status_code == 202
    drain()
    assert service.store.get("acme", "ce-1")["data"] == {"amount": 1200}


def test_binary_mode_without_data(client, service, drain):
    headers = {f"ce-{k}": v for k, v in attributes(id="nodata").items()}
    headers["ce-specversion"] = "1.0"
    assert client.post("/v1/events", headers=headers).status_code == 202
    drain()
    assert service.store.get("acme", "nodata")["data"] == {}


def test_binary_mode_with_a_non_json_body_is_415(client):
    message = ce_http.to_binary_event(sdk_event())
    headers = {**message.headers, "Content-Type": "text/plain"}
    response = client.post("/v1/events", data=b"hello", headers=headers)
    assert response.status_code == 415


def test_legacy_sdk_api_structured_and_binary(client, service, drain):
    event = LegacyCloudEvent(attributes(id="old-1"), {"amount": 1200})
    headers, body = legacy.to_structured(event)
    assert client.post("/v1/events", data=body, headers=headers).status_code == 202
    event = LegacyCloudEvent(attributes(id="old-2"), {"amount": 1200})
    headers, body = legacy.to_binary(event)
    response = client.post(
        "/v1/events", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 202
    drain()
    assert_mapped(service.store.get("acme", "old-1"), id="old-1")
    assert_mapped(service.store.get("acme", "old-2"), id="old-2")


def test_batched_mode(client, service, drain):
    bodies = [
        orjson.loads(ce_http.to_structured_event(sdk_event(id=f"b{i}")).body) for i in range(3)
    ]
    response = client.post("/v1/events", data=orjson.dumps(bodies), content_type=BATCH)
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 3, "ids": ["b0", "b1", "b2"]}
    drain()
    assert service.store.count("acme") == 3


def test_optional_attributes_and_defaults(client, service, drain):
    ce = {"specversion": "1.0", "id": "min", "source": "s", "type": "t", "authid": "bob"}
    assert client.post("/v1/events", json=ce, content_type=STRUCTURED).status_code == 202
    drain()
    stored = service.store.get("default", "min")
    assert stored["actor"] == {"id": "bob", "type": "user"}
    assert stored["data"] == {} and stored["outcome"] == "success"
    assert "target" not in stored and "trace_id" not in stored


def post_ce(client, ce, content_type=STRUCTURED):
    return client.post("/v1/events", data=orjson.dumps(ce), content_type=content_type)


def structured(**overrides) -> dict:
    ce = {"specversion": "1.0", **attributes(), "data": {"amount": 1200}}
    ce.update(overrides)
    return {k: v for k, v in ce.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"specversion": 1.0}, "specversion"),
        ({"specversion": None}, "specversion"),
        ({"colour": "blue"}, "colour"),
        ({"authclaims": "x"}, "authclaims"),
        ({"data_base64": "aGk="}, "data_base64"),
        ({"authid": None}, "authid"),
        ({"source": None}, "source"),
        ({"id": "has space"}, "id"),
        ({"time": "yesterday"}, "time"),
        ({"data": [1, 2]}, "data"),
        ({"data": "text"}, "data"),
        ({"datacontenttype": "text/plain"}, "datacontenttype"),
        ({"tenant": "a b"}, "tenant"),
        ({"subject": ""}, "subject"),
    ],
)
def test_invalid_cloudevents_are_422_keyed_by_attribute(client, overrides, field):
    body = assert_problem(post_ce(client, structured(**overrides)), 422)
    assert field in body["errors"]


def test_a_bad_cloudevent_in_a_batch_is_keyed_by_index(client, service, drain):
    batch = [structured(id="ok"), structured(id="bad", specversion="0.3")]
    response = post_ce(client, batch, BATCH)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["1"]
    drain()
    assert service.store.count("acme") == 0


def test_binary_mode_rejects_unknown_extensions(client):
    message = ce_http.to_binary_event(sdk_event())
    headers = {**message.headers, "ce-colour": "blue"}
    response = client.post("/v1/events", data=message.body, headers=headers)
    assert response.status_code == 422
    assert "colour" in response.get_json()["errors"]


def test_structured_mode_takes_one_event_and_batch_mode_an_array(client):
    assert post_ce(client, [structured()]).status_code == 400
    assert post_ce(client, structured(), BATCH).status_code == 400
    assert post_ce(client, [], BATCH).status_code == 422
    assert_problem(client.post("/v1/events", data=b"{", content_type=STRUCTURED), 400)
