"""JSON responses written straight from bytes or objects (orjson), and shared doc pieces."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

from api.schemas import ProblemSchema

# OpenAPI security of the /v1 and legacy routes: a bearer key, optional (AUDIT_AUTH may be off).
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {}]


_PROBLEMS = {
    401: "No or unknown API key",
    403: "Key lacks the scope or tenant",
    400: "Malformed JSON, filter or cursor",
    404: "No such event",
    409: "Stored, not yet in a signed checkpoint (see Retry-After)",
    413: "Body, event or batch over its limit",
    415: "Not a JSON content type",
    422: "Invalid event(s)",
    503: "Redis unreachable or backlog over its limit",
}


def problem_responses(*codes: int, **descriptions: str) -> dict[str, Any]:
    """OpenAPI responses: each code answered with problem+json (``e404="..."`` says what a
    code means on this route, where the common wording does not fit)."""
    content = {"application/problem+json": {"schema": ProblemSchema}}
    return {
        str(code): {
            "description": descriptions.get(f"e{code}", _PROBLEMS[code]),
            "content": content,
        }
        for code in codes
    }


def json_response(body: object, status: int = 200) -> Response:
    """``body`` as application/json; bytes are sent as they are (already JSON)."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(payload, status=status, mimetype="application/json")


def bare_options(response: Response) -> Response:
    """Flask's automatic OPTIONS answer is an empty text/html 200: make it a bare 204."""
    if request.method == "OPTIONS" and response.mimetype == "text/html":
        response.status_code = 204
        response.set_data(b"")
        del response.headers["Content-Type"]
    return response
