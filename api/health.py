"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

import orjson
from flask import Response
from flask_smorest import Blueprint

from api.auth import service
from api.schemas import StatusSchema
from collector.connection import REDIS_ERRORS
from collector.durability import refusal
from collector.errors import Unavailable, redis_unavailable

blp = Blueprint("health", __name__, description="Probes for orchestrators.")


@blp.route("/healthz", methods=["GET"])
@blp.alt_response(
    200,
    schema=StatusSchema,
    success=True,
    example={"status": "ok"},
    description="The process serves requests",
)
@blp.doc(summary="Liveness")
def healthz() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")


@blp.route("/readyz", methods=["GET"])
@blp.alt_response(
    200,
    schema=StatusSchema,
    success=True,
    example={"status": "ready", "durability": "up to a second at risk (AOF, appendfsync everysec)"},
    description="Redis answers; `durability` says what it keeps on a crash",
)
@blp.doc(
    summary="Readiness",
    responses={
        "503": {
            "description": "Redis is unreachable, or keeps nothing while AUDIT_REQUIRE_DURABLE=on"
        }
    },
)
def readyz() -> Response:
    audit = service()
    if not audit.ping():
        raise Unavailable("Redis is unreachable.")
    try:
        kept = audit.durability()
    except REDIS_ERRORS as exc:
        raise redis_unavailable(exc) from None
    if audit.settings.require_durable and not kept.keeps_acknowledged:
        raise Unavailable(refusal(kept) + ".")
    body = orjson.dumps({"status": "ready", "durability": kept.detail})
    return Response(body, mimetype="application/json")
