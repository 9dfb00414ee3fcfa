"""``GET /ui``: the viewer, a static page whose script reads the ``/v1`` API from the browser.

Every asset is in the package (``api/static/ui``) and served from ``/ui/assets/``: nothing
is fetched from another host, and the page's Content-Security-Policy tells the browser so.
Neither the page nor its assets need an API key; the data they load does.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from werkzeug.security import safe_join

from api.auth import service
from api.responses import json_response
from collector.errors import NotFound

UI_DIR = Path(__file__).parent / "static" / "ui"
# 'self' only: the page cannot load or send anything to another host, even if a stored
# event tried to inject markup (the script never builds HTML from event text anyway).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

blp = Blueprint("ui", __name__, description="The viewer (a web page; no key needed to load it).")


@blp.after_request
def _lock_down(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _html_doc(summary: str, description: str, media: str, example: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "responses": {
            "200": {
                "description": description,
                "content": {media: {"schema": {"type": "string"}, "example": example}},
            }
        },
    }


@blp.route("/ui", methods=["GET"])
@blp.doc(**_html_doc("The viewer", "An HTML page", "text/html", "<!DOCTYPE html>..."))
def page() -> Response:
    return _file("index.html")


@blp.route("/ui/config.json", methods=["GET"])
@blp.doc(
    summary="What the viewer needs before sign-in",
    description="Whether API keys are required (the page asks for one only then) and "
    "whether checkpoints are signed (the page checks proofs only then).",
    responses={
        "200": {
            "description": "The viewer's settings",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "auth": {"type": "boolean"},
                            "integrity": {"type": "boolean"},
                        },
                    },
                    "example": {"auth": True, "integrity": True},
                }
            },
        }
    },
)
def config() -> Response:
    settings = service().settings
    return json_response({"auth": settings.auth_required, "integrity": settings.integrity})


@blp.route("/ui/assets/<path:name>", methods=["GET"])
@blp.doc(
    **_html_doc(
        "A file of the viewer (script, style sheet, license)",
        "The file",
        "application/octet-stream",
        "...",
    )
)
def asset(name: str) -> Response:
    return _file(name)


def _file(name: str) -> Response:
    """One of the viewer's files, read whole (they are small) and revalidated by ETag, so an
    upgrade never leaves a browser mixing old and new files."""
    path = safe_join(str(UI_DIR), name)
    if path is None or not os.path.isfile(path):
        raise NotFound(f"The viewer has no file {name!r}.")
    with open(path, "rb") as file:
        body = file.read()
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if name.endswith(".LICENSE"):
        mimetype = "text/plain"
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.headers["Cache-Control"] = "no-cache"
    response.make_conditional(request)  # a 304 when the browser's copy is current
    return response
