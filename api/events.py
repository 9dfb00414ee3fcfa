"""``/v1/events``: ingest (one, a batch, CloudEvents) and reads (by id, filtered lists)."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service, tenant_for
from api.bodies import read_body
from api.responses import SECURED, json_response, problem_responses
from api.schemas import AcceptedSchema, BatchAcceptedSchema, PageSchema
from api.telemetry import count_accepted
from collector import http_input
from collector.cloudevents import CloudEventSchema
from collector.errors import BadRequest, NotFound
from collector.query import ListQuerySchema, parse_list_args
from collector.schema import TENANT_PATTERN, EventSchema, StoredEventSchema, is_valid_tenant
from collector.timefmt import now_utc

# Event ids that name other routes under /v1/events/.
SHADOWED_IDS = ("export", "tail")

blp = Blueprint("events", __name__, description="Audit events, schema version 1.")
blp.before_request(authenticate)

EXAMPLE_EVENT = {
    "id": "0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b",
    "type": "invoice.paid",
    "service": "billing",
    "tenant": "acme",
    "occurred_at": "2026-11-28T09:15:00Z",
    "actor": {"id": "alice", "type": "user", "ip": "203.0.113.7"},
    "target": {"id": "invoice-42", "type": "invoice"},
    "outcome": "success",
    "data": {"amount": 1200, "currency": "EUR"},
}
EXAMPLE_CLOUDEVENT = {
    "specversion": "1.0",
    "id": "ce-1",
    "source": "billing",
    "type": "invoice.paid",
    "time": "2026-11-28T09:15:00Z",
    "subject": "invoice-42",
    "authid": "alice",
    "authtype": "user",
    "tenant": "acme",
    "datacontenttype": "application/json",
    "data": {"amount": 1200},
}
EXAMPLE_STORED = {
    **EXAMPLE_EVENT,
    "occurred_at": "2026-11-28T09:15:00.000000Z",
    "received_at": "2026-11-28T09:15:00.412000Z",
    "schema_version": 1,
    "seq": 17,
    "ingested_by": "billing-api",
}


@blp.route("/v1/events", methods=["POST"])
@blp.doc(
    summary="Record one event or a batch",
    description="One event object, or a JSON array (a batch, all or nothing). Also takes "
    "CloudEvents 1.0: application/cloudevents+json, application/cloudevents-batch+json, and "
    "binary mode (ce-* headers with an application/json body).",
    security=SECURED,
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [EventSchema, {"type": "array", "items": EventSchema, "minItems": 1}]
                },
                "examples": {"one": {"value": EXAMPLE_EVENT}, "batch": {"value": [EXAMPLE_EVENT]}},
            },
            "application/cloudevents+json": {
                "schema": CloudEventSchema,
                "example": EXAMPLE_CLOUDEVENT,
            },
            "application/cloudevents-batch+json": {
                "schema": {"type": "array", "items": CloudEventSchema, "minItems": 1},
                "example": [EXAMPLE_CLOUDEVENT],
            },
        },
    },
    responses=problem_responses(400, 401, 403, 413, 415, 422, 503),
)
@blp.alt_response(
    202,
    schema={"oneOf": [AcceptedSchema, BatchAcceptedSchema]},
    success=True,
    description="Accepted: {id, status} for one event, {accepted, ids} for a batch",
    examples={
        "one": {"value": {"id": EXAMPLE_EVENT["id"], "status": "accepted"}},
        "batch": {"value": {"accepted": 1, "ids": [EXAMPLE_EVENT["id"]]}},
    },
)
def post_events() -> Response:
    svc = service()
    key = current_key()
    key.require("ingest")
    received_at = now_utc()
    submission = http_input.decode(
        read_body(svc.settings.max_body_bytes),
        request.content_type,
        request.headers,
        svc.settings,
        received_at,
        key.default_tenant,
    )
    for event in submission.events:
        key.require("ingest", event["tenant"])
    ids = svc.submit(
        submission.events, received_at, encoded=submission.encoded, ingested_by=key.name
    )
    count_accepted(len(ids))
    if submission.batch:
        return json_response({"accepted": len(ids), "ids": ids}, 202)
    return json_response({"id": ids[0], "status": "accepted"}, 202)


@blp.route("/v1/events/<event_id>", methods=["GET"])
@blp.doc(
    summary="Read one event by id",
    security=SECURED,
    parameters=[
        {
            "in": "path",
            "name": "event_id",
            "required": True,
            # /v1/events/export and /v1/events/tail are routes of their own: an event whose
            # id is one of those words is read through a list or an export, not here.
            "schema": {"type": "string", "not": {"enum": list(SHADOWED_IDS)}},
        },
        {
            "in": "query",
            "name": "tenant",
            "schema": {"type": "string", "pattern": f"^{TENANT_PATTERN.pattern}$"},
            "description": "Defaults to the key's tenant when it has one, else default.",
        },
    ],
    responses=problem_responses(400, 401, 403, 404),
)
@blp.alt_response(
    200,
    schema=StoredEventSchema,
    success=True,
    example=EXAMPLE_STORED,
    description="The stored event",
)
def get_event(event_id: str) -> Response:
    requested = request.args.get("tenant")
    if requested is not None and not is_valid_tenant(requested):
        raise BadRequest("Invalid tenant.", errors={"tenant": ["Invalid tenant name."]})
    key = current_key()
    key.require("read")
    tenant = requested or key.default_tenant
    raw = service().store.get_raw(tenant, event_id) if key.allows_tenant(tenant) else None
    if raw is None:
        raise NotFound(f"No event {event_id!r} in tenant {tenant!r}.")
    return json_response(raw)


@blp.route("/v1/events", methods=["GET"])
@blp.doc(
    summary="List events, filtered and paginated",
    description="Newest first unless order=asc. Walk next_cursor to the end to see every "
    "match exactly once; a cursor only works with the filters and order it was made for. "
    "A page does bounded work: it may hold fewer than limit items, even none, with a "
    "next_cursor; only a null next_cursor means no match is left.",
    security=SECURED,
    parameters=[{"in": "query", "schema": ListQuerySchema}],
    responses=problem_responses(400, 401, 403),
)
@blp.alt_response(
    200,
    schema=PageSchema,
    success=True,
    description="One page",
    example={"items": [EXAMPLE_STORED], "next_cursor": None},
)
def list_events() -> Response:
    key = current_key()
    key.require("read")
    filters, limit, cursor = parse_list_args(request.args, key.default_tenant)
    tenant_for(filters.tenant, "read")
    page = service().query.page(filters, limit, cursor)
    return json_response(page.to_json())
