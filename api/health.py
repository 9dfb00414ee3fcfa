"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from api.auth import service
from api.schemas import StatusSchema
from collector.errors import Unavailable

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
    200, schema=StatusSchema, success=True, example={"status": "ready"}, description="Redis answers"
)
@blp.doc(summary="Readiness", responses={"503": {"description": "Redis is unreachable"}})
def readyz() -> Response:
    if not service().ping():
        raise Unavailable("Redis is unreachable.")
    return Response(b'{"status":"ready"}', mimetype="application/json")
