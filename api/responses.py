"""JSON responses written straight from bytes or objects (orjson), and shared doc pieces."""

from __future__ import annotations

import orjson
from flask import Response

# OpenAPI security of the /v1 and seed routes: a bearer key, optional (AUDIT_AUTH may be off).
SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {}]


def json_response(body: object, status: int = 200) -> Response:
    """``body`` as application/json; bytes are sent as they are (already JSON)."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(payload, status=status, mimetype="application/json")
