"""JSON responses written straight from bytes or objects (orjson), and shared doc pieces."""

from __future__ import annotations

import orjson
from flask import Response, request

# OpenAPI security of the /v1 and seed routes: a bearer key, optional (AUDIT_AUTH may be off).
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {}]


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
