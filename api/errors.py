"""One place that turns every error into RFC 9457 ``application/problem+json``.

Covers the core's exceptions, Werkzeug's HTTP errors (404, 405, 413 ...) and anything
unexpected (a 500 with no stack trace).
"""

from __future__ import annotations

import http
from typing import Any

import orjson
import redis
from flask import Flask, Response
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

from api.schemas import ProblemSchema
from api.telemetry import request_id
from collector.errors import AuditError, RetryLater, Unauthorized, redis_unavailable

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
    rid = request_id()
    if rid is not None:
        body["request_id"] = rid
    response = Response(orjson.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_audit_error(exc: AuditError) -> Response:
    headers = {}
    if isinstance(exc, RetryLater):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="audit-trail"'
    return problem(exc.status, exc.title, exc.detail, exc.errors, headers)


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = exc.description or exc.name
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    if status >= 500:
        detail = "The server failed to handle the request."
    return problem(status, exc.name, detail, headers=headers)


def from_redis_error(exc: Exception) -> Response:
    """Redis unreachable (or failing) on any route: 503, retry later."""
    return from_audit_error(redis_unavailable(exc))


class ProblemApi(Api):
    """flask-smorest's Api, answering errors with problem+json (Flask logs the 500s).

    The document's default error response is problem+json too, so that the 404, 405
    and 500 every operation may answer match what the app sends.
    """

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return from_http_exception(error)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def from_broken_body(exc: Exception) -> Response:
    """gunicorn's reader failing while a route reads the body (a bad chunk size, a chunk
    without its terminator): the client's error, wherever the body is read."""
    return problem(400, "Bad Request", f"The request body could not be read: {exc}")


def register(app: Flask) -> None:
    """Errors raised by the core map by their class; a Redis failure anywhere is a 503;
    a body the server cannot read is a 400."""
    app.register_error_handler(AuditError, from_audit_error)
    app.register_error_handler(redis.RedisError, from_redis_error)
    app.register_error_handler(ParseException, from_broken_body)
    app.register_error_handler(NoMoreData, from_broken_body)
    # a cluster client's own errors (a slot without a master) are not RedisErrors
    app.register_error_handler(redis.exceptions.RedisClusterException, from_redis_error)
