"""The operator's HTTP side: /metrics, request ids, dead letters, export."""

from __future__ import annotations

import csv
import io
import logging

import orjson
import pytest
from helpers import event
from prometheus_client.parser import text_string_to_metric_families

from collector.client import Producer
from collector.export import CSV_COLUMNS
from collector.settings import Settings


def samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_count_requests_by_route_and_events_accepted(client, drain):
    for i in range(3):
        assert client.post("/v1/events", json=event(id=f"m{i}")).status_code == 202
    assert client.post("/v1/events", json=[event(id="b1"), event(id="b2")]).status_code == 202
    assert client.get("/v1/events/m0").status_code == 404  # not stored yet
    assert client.get("/no/such/path").status_code == 404
    drain()
    assert client.get("/v1/events/m0").status_code == 200
    got = samples(client)
    assert got[("audit_events_accepted_total", ())] == 5
    assert got[("audit_events_stored_total", ())] == 5
    post = (("method", "POST"), ("route", "/v1/events"), ("status", "202"))
    assert got[("audit_http_requests_total", post)] == 4
    by_id = (("method", "GET"), ("route", "/v1/events/<event_id>"), ("status", "404"))
    assert got[("audit_http_requests_total", by_id)] == 1
    unmatched = (("method", "GET"), ("route", "(unmatched)"), ("status", "404"))
    assert got[("audit_http_requests_total", unmatched)] == 1
    count = (("method", "POST"), ("route", "/v1/events"))
    assert got[("audit_http_request_duration_seconds_count", count)] == 4
    assert not any("m0" in str(labels) for _, labels in got)  # paths never become labels


def test_the_legacy_route_counts_as_accepted(client):
    response = client.post(
        "/event", json={"event_type": "login"}, headers={"X-Client-ID": "legacy-app"}
    )
    assert response.status_code == 201
    assert samples(client)[("audit_events_accepted_total", ())] == 1


def test_a_request_id_is_kept_or_made_and_echoed(client, caplog):
    caplog.set_level(logging.INFO, logger="api.requests")
    response = client.get("/v1/events/nope", headers={"X-Request-ID": "abc.DEF_1-2"})
    assert response.headers["X-Request-ID"] == "abc.DEF_1-2"
    assert response.get_json()["request_id"] == "abc.DEF_1-2"
    made = client.get("/v1/events?limit=0", headers={"X-Request-ID": "bad id!"})
    rid = made.headers["X-Request-ID"]
    assert rid != "bad id!" and len(rid) == 32 and made.get_json()["request_id"] == rid
    too_long = client.get("/healthz", headers={"X-Request-ID": "a" * 129})
    assert len(too_long.headers["X-Request-ID"]) == 32
    lines = [r for r in caplog.records if r.name == "api.requests"]
    first = next(r for r in lines if r.request_id == "abc.DEF_1-2")
    assert (first.method, first.route, first.status) == ("GET", "/v1/events/<event_id>", 404)
    assert first.duration_ms >= 0


@pytest.fixture
def dead_letters(service, drain):
    stream = service.key_names.ingest_streams()[0]
    service.redis.xadd(stream, {"event": orjson.dumps({"type": "x", "service": "s"})})
    service.redis.xadd(stream, {"event": "{oops"})
    drain()
    return service


def test_dead_letters_over_http(client, dead_letters, drain):
    page = client.get("/v1/dead-letters?limit=1").get_json()
    [newest] = page["items"]
    assert newest["reason"].startswith("not JSON") and page["next_cursor"] == newest["id"]
    rest = client.get(f"/v1/dead-letters?limit=1&cursor={page['next_cursor']}").get_json()
    [older] = rest["items"]
    assert older["reason"] == "invalid event" and rest["next_cursor"] is None
    shown = client.get(f"/v1/dead-letters/{older['id']}").get_json()
    assert "actor" in shown["errors"] and shown["payload"].startswith("{")

    still_bad = client.post(f"/v1/dead-letters/{older['id']}/replay")
    assert still_bad.status_code == 422 and "actor" in still_bad.get_json()["errors"]
    assert client.get(f"/v1/dead-letters/{older['id']}").status_code == 200

    assert client.delete(f"/v1/dead-letters/{newest['id']}").status_code == 204
    assert client.delete(f"/v1/dead-letters/{newest['id']}").status_code == 404
    assert client.post("/v1/dead-letters/1-1/replay").status_code == 404
    assert client.get("/v1/dead-letters/garbage").status_code == 404
    assert client.get("/v1/dead-letters?limit=0").status_code == 400
    assert client.get("/v1/dead-letters?cursor=nope").status_code == 400
    too_big = "0735188483-24240890330260750622"  # digits, but past 64 bits (schemathesis)
    assert client.get(f"/v1/dead-letters?cursor={too_big}").status_code == 400
    assert client.get(f"/v1/dead-letters/{too_big}").status_code == 404
    assert client.delete(f"/v1/dead-letters/{too_big}").status_code == 404


def test_a_fixed_dead_letter_replays_and_is_stored(client, service, drain):
    service.redis.xadd(service.key_names.dead, {"event": orjson.dumps(event(id="fixed"))})
    [letter] = client.get("/v1/dead-letters").get_json()["items"]
    replayed = client.post(f"/v1/dead-letters/{letter['id']}/replay")
    assert replayed.status_code == 202
    assert replayed.get_json()["event_id"] == "fixed"
    drain()
    assert client.get("/v1/events/fixed").status_code == 200
    assert client.get("/v1/dead-letters").get_json()["items"] == []


def test_export_streams_ndjson_and_csv_as_attachments(client, service, drain):
    Producer(redis=service.redis, settings=service.settings).xadd(
        [event(id=f"x{i}", tenant="acme") for i in range(7)]
    )
    drain()
    nd = client.get("/v1/events/export?tenant=acme&order=asc&format=ndjson")
    assert nd.status_code == 200 and nd.mimetype == "application/x-ndjson"
    assert nd.headers["Content-Disposition"] == 'attachment; filename="audit-acme.ndjson"'
    assert [orjson.loads(line)["id"] for line in nd.data.splitlines()] == [
        f"x{i}" for i in range(7)
    ]
    as_csv = client.get("/v1/events/export?tenant=acme&format=csv")
    assert as_csv.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 8


@pytest.mark.parametrize(
    "query",
    ["format=xml", "", "since=yesterday", "limit=5", "tenant=a%20b", "type=a&type=b&format=csv"],
)
def test_export_bad_filters_are_400_problems(client, query):
    response = client.get(f"/v1/events/export?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


class TestWithAuth:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(auth=True)

    def test_dead_letters_need_admin_and_metrics_need_nothing(self, client, service):
        read = service.api_keys.create("reader", ("read",), ("*",))
        admin = service.api_keys.create("boss", ("admin",), ("*",))
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/dead-letters").status_code == 401
        headers = {"Authorization": f"Bearer {read}"}
        assert client.get("/v1/dead-letters", headers=headers).status_code == 403
        headers = {"Authorization": f"Bearer {admin}"}
        assert client.get("/v1/dead-letters", headers=headers).status_code == 200

    def test_export_keeps_to_the_keys_tenants(self, client, service):
        acme = service.api_keys.create("acme", ("read",), ("acme",))
        headers = {"Authorization": f"Bearer {acme}"}
        assert client.get("/v1/events/export?format=csv", headers=headers).status_code == 200
        denied = client.get("/v1/events/export?tenant=globex&format=csv", headers=headers)
        assert denied.status_code == 403
