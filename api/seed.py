"""The proof of concept's routes, kept working for its clients (``collector.seed`` maps them)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from api.auth import authenticate, current_key, service
from api.responses import SECURED, json_response, problem_responses
from api.schemas import (
    SeedCreatedSchema,
    SeedErrorSchema,
    SeedEventSchema,
)
from api.telemetry import count_accepted
from collector import seed
from collector.errors import PayloadTooLarge
from collector.events import normalized_input
from collector.ingest import check_stored_size
from collector.query import Filters
from collector.timefmt import now_utc

blp = Blueprint("seed", __name__, description="The seed's API (old format), kept for its clients.")
blp.before_request(authenticate)

CLIENT_HEADER: dict[str, Any] = {
    "in": "header",
    "name": "X-Client-ID",
    "required": True,
    "description": "The calling client; required, but it does not scope reads.",
    "schema": {"type": "string", "minLength": 1, "pattern": r"^\S(.*\S)?$"},
    "example": "billing",
}
# On POST it becomes the event's service, so it takes the service rule (1-128 characters).
POSTING_CLIENT_HEADER = {**CLIENT_HEADER, "schema": {**CLIENT_HEADER["schema"], "maxLength": 128}}
_ERROR = {"content": {"application/json": {"schema": SeedErrorSchema}}}
EXAMPLE_VIEW = {
    "event_id": "0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b",
    "event_type": "user.login",
    "created_at": "2026-11-28T09:15:00.000000Z",
    "client_id": "billing",
    "user_id": "42",
    "request_method": "POST",
    "status": 200,
    "entity_json": {"ip": "203.0.113.7"},
}


def _error(error: str, status: int = 400) -> Response:
    return json_response({"error": error}, status)


@blp.route("/event", methods=["POST"])
@blp.doc(
    summary="Record an event (seed format)",
    security=SECURED,
    parameters=[POSTING_CLIENT_HEADER],
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": seed.SeedPostSchema,
                # posted the old way, it reads back as EXAMPLE_VIEW
                "example": {k: EXAMPLE_VIEW[k] for k in seed.SEED_POST_SCHEMA.fields},
            }
        },
    },
    responses={
        "400": {"description": "Missing client id, bad JSON or event_type", **_ERROR},
        "413": {"description": "Body over AUDIT_MAX_EVENT_BYTES", **_ERROR},
        **problem_responses(401, 403),
    },
)
@blp.alt_response(
    201,
    schema=SeedCreatedSchema,
    success=True,
    description="Accepted",
    example={
        "message": "Audit Log Event added successfully.",
        "event_id": "0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b",
    },
)
def post_event() -> Response:
    key = current_key()
    key.require("ingest")
    body = request.get_data()
    limit = service().settings.max_event_bytes
    if len(body) > limit:  # refused before it is parsed, like one v1 event
        message = f"The body is {len(body)} bytes, over the limit of {limit}."
        return json_response({"error": "Event too large", "message": message}, 413)
    try:
        event, fields = seed.from_request(request.headers.get("X-Client-ID"), body)
    except seed.SeedError as exc:
        return json_response(exc.body, 400)
    received_at = now_utc()
    try:
        normalized = normalized_input(event, received_at, key.default_tenant)
    except ValidationError as exc:
        return json_response({"error": "Invalid event", "message": seed.flatten(exc.messages)}, 400)
    key.require("ingest", normalized["tenant"])
    try:
        encoded, _ = check_stored_size([normalized, fields], service().settings)
    except PayloadTooLarge as exc:
        return json_response({"error": "Event too large", "message": exc.detail}, 413)
    [event_id] = service().submit([normalized], received_at, seed=fields, encoded=[encoded])
    count_accepted(1)
    return json_response(
        {"message": "Audit Log Event added successfully.", "event_id": event_id}, 201
    )


@blp.route("/event/<event_id>", methods=["GET"])
@blp.doc(
    summary="Read one event (seed format)",
    security=SECURED,
    parameters=[CLIENT_HEADER],
    responses={
        "400": {"description": "No X-Client-ID", **_ERROR},
        "404": {"description": "Event not found", **_ERROR},
        **problem_responses(401, 403),
    },
)
@blp.alt_response(
    200,
    schema=SeedEventSchema,
    success=True,
    description="The event",
    example=EXAMPLE_VIEW,
)
def get_event(event_id: str) -> Response:
    if not request.headers.get("X-Client-ID"):
        return _error("Client ID is required")
    key = current_key()
    key.require("read")
    tenant = key.default_tenant
    doc = service().store.get(tenant, event_id) if key.allows_tenant(tenant) else None
    if doc is None:
        return _error("Event not found", 404)
    return json_response(seed.to_view(doc))


@blp.route("/events", methods=["GET"])
@blp.doc(
    summary="List events, newest first (seed format, at most 1000)",
    security=SECURED,
    parameters=[CLIENT_HEADER],
    responses={"400": {"description": "No X-Client-ID", **_ERROR}, **problem_responses(401, 403)},
)
@blp.alt_response(
    200,
    schema=SeedEventSchema(many=True),
    success=True,
    description="Newest first by occurred_at; /v1/events pages past 1000",
    example=[EXAMPLE_VIEW],
)
def list_events() -> Response:
    if not request.headers.get("X-Client-ID"):
        return _error("Client ID is required")
    key = current_key()
    tenant = key.default_tenant
    key.require("read", tenant)
    page = service().query.page(Filters(tenant=tenant), seed.MAX_LIST)
    return json_response([seed.to_view(orjson.loads(raw)) for raw in page.items])
