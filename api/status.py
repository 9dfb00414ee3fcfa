"""``GET /v1/status`` (admin): streams, lag, pending, dead letters and workers, as JSON."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service
from api.responses import SECURED, json_response, problem_responses
from collector.status import snapshot

blp = Blueprint("status", __name__, description="The system's state (admin keys).")
blp.before_request(authenticate)

EXAMPLE = {
    "streams": [
        {
            "stream": "audit:ingest",
            "length": 12,
            "group": True,
            "lag": 0,
            "pending": 2,
            "consumers": 2,
        }
    ],
    "backlog": 2,
    "dead_letters": 1,
    "workers": [{"name": "host-4121-0", "last_seen_s": 0.4, "alive": True}],
    "workers_alive": 1,
}


@blp.route("/v1/status", methods=["GET"])
@blp.doc(
    summary="Ingest streams, backlog, dead letters and workers",
    description="What `audit-trail status --format json` shows, for admin keys.",
    security=SECURED,
    responses=problem_responses(401, 403),
)
@blp.alt_response(
    200, schema={"type": "object"}, success=True, description="The state", example=EXAMPLE
)
def status() -> Response:
    current_key().require("admin")
    svc = service()
    return json_response(snapshot(svc.streams))
