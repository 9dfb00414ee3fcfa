"""One place that turns every error into RFC 9457 ``application/problem+json``.

Covers the core's exceptions, Werkzeug's HTTP errors (404, 405, 413 ...), webargs'
query-validation errors and anything unexpected (a 500 with no stack trace).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from collector.errors import AuditError, Unauthorized, Unavailable

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, errors: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(orjson.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_audit_error(exc: AuditError) -> Response:
    headers = {}
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="audit-trail"'
    return problem(exc.status, exc.title, exc.detail, exc.errors, headers)


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"query", "json", "headers", "view_args"}:
        # webargs keys errors by location first; one location per route here
        errors = next(iter(errors.values()), None) if len(errors) == 1 else errors
    detail = data.get("message") or exc.description or exc.name
    if status == 400 and errors:
        detail = "Invalid query parameters."
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    if status >= 500:
        detail = "The server failed to handle the request."
    return problem(status, exc.name, detail, errors, headers)


class ProblemApi(Api):
    """flask-smorest's Api, answering errors with problem+json (Flask logs the 500s)."""

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        return from_http_exception(error)


def register(app: Flask) -> None:
    """Errors raised by the core map by their class."""
    app.register_error_handler(AuditError, from_audit_error)
