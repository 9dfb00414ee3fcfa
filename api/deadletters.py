"""``/v1/dead-letters``: what could not be stored, for ``admin`` keys: list, show, replay, drop."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from api.auth import authenticate, current_key, service
from api.responses import SECURED, json_response, problem_responses
from collector.deadletters import DeadLetters, is_entry_id
from collector.errors import InvalidEvent, NotFound
from collector.query import load_args
from collector.timefmt import now_utc

blp = Blueprint("dead_letters", __name__, description="Dead letters (admin keys only).")
blp.before_request(authenticate)

EXAMPLE_ID = "1764580500123-0"
EXAMPLE_SUMMARY = {
    "id": EXAMPLE_ID,
    "failed_at": "2026-12-01T09:15:00.123000Z",
    "reason": "invalid event",
    "source": "audit:ingest",
    "source_id": "1764580500100-0",
    "preview": '{"type":"user.login","service":"auth"}',
}
EXAMPLE_LETTER = {
    **EXAMPLE_SUMMARY,
    "payload": '{"type":"user.login","service":"auth"}',
    "errors": {"actor": ["Missing data for required field."]},
    "deliveries": 1,
}


def _dead_letter_id(value: str) -> None:
    if not is_entry_id(value):
        raise ValidationError("Not a dead letter id.")


class DeadLetterQuerySchema(Schema):
    """Query parameters of ``GET /v1/dead-letters``."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(
        load_default=100, validate=validate.Range(1, 1000), metadata={"description": "1-1000"}
    )
    cursor = fields.String(
        validate=_dead_letter_id,
        metadata={"description": "next_cursor of the previous page"},
    )


class DeadLetterSummarySchema(Schema):
    """One dead letter in a list."""

    id = fields.String(required=True)
    failed_at = fields.String(required=True)
    reason = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "stream, or rq"})
    source_id = fields.String(required=True, metadata={"description": "entry or job/index"})
    preview = fields.String(required=True)


class DeadLetterSchema(DeadLetterSummarySchema):
    """One dead letter, whole."""

    payload = fields.String(required=True, metadata={"description": "as it was delivered"})
    errors = fields.Raw(allow_none=True, metadata={"description": "validation errors by field"})
    deliveries = fields.Integer(allow_none=True)


class DeadLetterPageSchema(Schema):
    """A page of dead letters, newest first."""

    items = fields.List(fields.Nested(DeadLetterSummarySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ReplaySchema(Schema):
    """A dead letter put back on the ingest stream."""

    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["replayed"]})
    event_id = fields.String(required=True)
    entry_id = fields.String(required=True)


def _letters() -> DeadLetters:
    current_key().require("admin")
    svc = service()
    return DeadLetters(svc.redis, svc.key_names, svc.settings)


@blp.route("/v1/dead-letters", methods=["GET"])
@blp.doc(
    summary="List dead letters, newest first",
    security=SECURED,
    parameters=[{"in": "query", "schema": DeadLetterQuerySchema}],
    responses=problem_responses(400, 401, 403),
)
@blp.alt_response(
    200,
    schema=DeadLetterPageSchema,
    success=True,
    description="One page",
    example={"items": [EXAMPLE_SUMMARY], "next_cursor": None},
)
def list_dead_letters() -> Response:
    letters = _letters()
    args = load_args(DeadLetterQuerySchema(), request.args)
    limit = args["limit"]
    found = letters.list(limit + 1, args.get("cursor"))
    items = [d.summary() for d in found[:limit]]
    cursor = items[-1]["id"] if len(found) > limit else None
    return json_response({"items": items, "next_cursor": cursor})


@blp.route("/v1/dead-letters/<letter_id>", methods=["GET"])
@blp.doc(summary="One dead letter: the payload and every reason", security=SECURED)
@blp.doc(responses=problem_responses(401, 403, 404))
@blp.alt_response(
    200, schema=DeadLetterSchema, success=True, description="The letter", example=EXAMPLE_LETTER
)
def show_dead_letter(letter_id: str) -> Response:
    letter = _letters().get(letter_id)
    if letter is None:
        raise NotFound(f"No dead letter {letter_id!r}.")
    return json_response(letter.to_dict())


@blp.route("/v1/dead-letters/<letter_id>/replay", methods=["POST"])
@blp.doc(
    summary="Replay a dead letter",
    description="Validates the payload as the workers do. Valid: it goes back on the "
    "ingest stream with its original id (stored once, whatever happened before), and the "
    "dead letter is removed once it is there (202). Still invalid: 422 with the reasons; "
    "the dead letter stays, once, and nothing is stored.",
    security=SECURED,
    responses=problem_responses(401, 403, 404, 422),
)
@blp.alt_response(
    202,
    schema=ReplaySchema,
    success=True,
    description="On the ingest stream again",
    example={
        "id": EXAMPLE_ID,
        "status": "replayed",
        "event_id": "0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b",
        "entry_id": "1764580600000-0",
    },
)
def replay_dead_letter(letter_id: str) -> Response:
    result = _letters().replay(letter_id, now_utc())
    if result.status == "not found":
        raise NotFound(f"No dead letter {letter_id!r}.")
    if result.status == "still invalid":
        raise InvalidEvent(
            f"Dead letter {letter_id} is still invalid ({result.reason}); it was kept.",
            errors=result.errors,
        )
    return json_response(result.to_dict(), 202)


@blp.route("/v1/dead-letters/<letter_id>", methods=["DELETE"])
@blp.doc(
    summary="Drop a dead letter",
    security=SECURED,
    responses={
        "204": {"description": "Dropped"},
        **problem_responses(401, 403, 404),
    },
)
def drop_dead_letter(letter_id: str) -> Response:
    if not _letters().drop(letter_id):
        raise NotFound(f"No dead letter {letter_id!r}.")
    return Response(status=204)
