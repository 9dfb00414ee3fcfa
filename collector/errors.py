"""The exceptions of audit-trail: one root, one subclass per way things go wrong.

Each carries the HTTP status the API answers with, so ``api/errors.py`` maps
them to problem+json in one place; the command line prints ``str(exc)``.
"""

from __future__ import annotations

from typing import Any


class AuditError(Exception):
    """Root of every error audit-trail raises on purpose."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str, errors: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ConfigError(AuditError):
    """A setting is invalid or missing."""


class UsageError(AuditError):
    """A command-line argument is invalid."""


class PayloadTooLarge(AuditError):
    """A body, an event or a batch is over its size limit."""

    status = 413
    title = "Content Too Large"


class UnsupportedMediaType(AuditError):
    """The request's content type is not one the endpoint takes."""

    status = 415
    title = "Unsupported Media Type"


class BadRequest(AuditError):
    """Malformed JSON, a bad query parameter or a bad cursor."""

    status = 400
    title = "Bad Request"


class InvalidEvent(AuditError):
    """One or more events break the schema; ``errors`` is keyed by field (and batch index)."""

    status = 422
    title = "Unprocessable Content"


class NotFound(AuditError):
    """No such event (or not one the caller may see)."""

    status = 404
    title = "Not Found"


class Unauthorized(AuditError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    title = "Unauthorized"


class Forbidden(AuditError):
    """The API key lacks the scope or the tenant."""

    status = 403
    title = "Forbidden"


class RetryLater(AuditError):
    """An error whose answer says when to ask again (``Retry-After``, in seconds)."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(RetryLater):
    """Redis is unreachable or the backlog is over its limit; retry later."""

    status = 503
    title = "Service Unavailable"


class NotYetCovered(RetryLater):
    """The event is stored but no signed checkpoint covers it yet; retry shortly."""

    status = 409
    title = "Conflict"


def redis_unavailable(exc: Exception) -> Unavailable:
    """The 503 for a Redis that failed to answer (unreachable, loading, out of memory...)."""
    return Unavailable(f"Redis is unavailable: {type(exc).__name__}.")
