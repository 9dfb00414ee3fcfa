"""The proof of concept's routes, kept working for its clients (``collector.legacy`` maps them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from flask import Response, request
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service
from api.bodies import read_body
from api.responses import SECURED, json_response, problem_responses
from api.schemas import (
    LegacyCreatedSchema,
    LegacyErrorSchema,
    LegacyEventSchema,
)
from api.telemetry import count_accepted
from collector import legacy
from collector.query import Filters, Query
from collector.timefmt import now_utc

blp = Blueprint(
    "legacy", __name__, description="The legacy API (old format), kept for its clients."
)
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
_ERROR = {"content": {"application/json": {"schema": LegacyErrorSchema}}}
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


def _errors(described: dict[str, str]) -> dict[str, Any]:
    """OpenAPI responses: the old API's ``{"error": ...}`` answers, then the key checks'."""
    answers = {status: {"description": text, **_ERROR} for status, text in described.items()}
    return {**answers, **problem_responses(401, 403)}


def _error(error: str, status: int = 400) -> Response:
    return json_response({"error": error}, status)


@blp.route("/event", methods=["POST"])
@blp.doc(
    summary="Record an event (legacy format)",
    security=SECURED,
    parameters=[POSTING_CLIENT_HEADER],
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": legacy.LegacyPostSchema,
                # posted the old way, it reads back as EXAMPLE_VIEW
                "example": {k: EXAMPLE_VIEW[k] for k in legacy.LEGACY_POST_SCHEMA.fields},
            }
        },
    },
    responses=_errors(
        {
            "400": "Missing client id, bad JSON or event_type",
            "413": "Body over AUDIT_MAX_EVENT_BYTES",
        }
    ),
)
@blp.alt_response(
    201,
    schema=LegacyCreatedSchema,
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
    received_at = now_utc()
    try:
        posted = legacy.decode(
            read_body(service().settings.max_body_bytes),
            request.headers.get("X-Client-ID"),
            service().settings,
            received_at,
            key.default_tenant,
            authorize=lambda tenant: key.require("ingest", tenant),
        )
    except legacy.LegacyError as exc:
        return json_response(exc.body, exc.status)
    [event_id] = service().submit(
        [posted.event],
        received_at,
        legacy=posted.fields,
        encoded=[posted.encoded],
        ingested_by=key.name,
    )
    count_accepted(1)
    return json_response(
        {"message": "Audit Log Event added successfully.", "event_id": event_id}, 201
    )


@blp.route("/event/<event_id>", methods=["GET"])
@blp.doc(
    summary="Read one event (legacy format)",
    security=SECURED,
    parameters=[CLIENT_HEADER],
    responses=_errors({"400": "No X-Client-ID", "404": "Event not found"}),
)
@blp.alt_response(
    200,
    schema=LegacyEventSchema,
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
    return json_response(legacy.to_view(doc))


@blp.route("/events", methods=["GET"])
@blp.doc(
    summary="List events, newest first (legacy format, at most 1000)",
    security=SECURED,
    parameters=[CLIENT_HEADER],
    responses=_errors({"400": "No X-Client-ID"}),
)
@blp.alt_response(
    200,
    schema=LegacyEventSchema(many=True),
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
    return Response(_streamed_list(service().query, tenant), mimetype="application/json")


def _streamed_list(query: Query, tenant: str) -> Iterator[bytes]:
    """The legacy list as a JSON array, sent page by page (each page within the query's
    byte budget): the whole list is never built in memory."""
    filters = Filters(tenant=tenant)
    yield b"["
    cursor, sent = None, 0
    while sent < legacy.MAX_LIST:
        page = query.page(filters, legacy.MAX_LIST - sent, cursor)
        for raw in page.items:
            yield (b"," if sent else b"") + orjson.dumps(legacy.to_view(orjson.loads(raw)))
            sent += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    yield b"]"
