"""Reading a request body within a byte limit, whatever the transport does.

A ``Content-Length`` over the limit is refused before a byte of the body is read; a
chunked body is counted as it arrives and refused the moment it passes the limit. A
transport that breaks mid-body (a bad chunk size, a chunk without its terminator, a
client gone) is the client's error, a ``400``, never a ``500``.
"""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import HTTPException

from collector.errors import AuditError, BadRequest, PayloadTooLarge

_READ_SIZE = 64 * 1024


def _too_large(limit: int, size: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Body of {size} bytes is over the limit of {limit} bytes (AUDIT_MAX_BODY_BYTES)."
    )


def read_body(limit: int) -> bytes:
    """The current request's body, at most ``limit`` bytes. Raises PayloadTooLarge (413)
    or BadRequest (400)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit, str(declared))
    stream = request.stream
    try:
        if declared is not None:
            body = stream.read(declared)
            if len(body) < declared:
                raise BadRequest(f"The body ended after {len(body)} of {declared} bytes.")
            return body
        chunks = bytearray()
        while chunk := stream.read(_READ_SIZE):
            chunks += chunk
            if len(chunks) > limit:
                raise _too_large(limit, f"more than {limit}")
        return bytes(chunks)
    except (AuditError, HTTPException):
        raise
    except Exception as exc:  # the server's reader: a bad chunk, a broken connection
        raise BadRequest(f"The request body could not be read: {exc}") from None
