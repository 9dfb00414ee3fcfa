"""The HTTP server of ``audit-trail run``: Werkzeug's, answering malformed requests with
problem+json.

Python's ``http.server`` (under Werkzeug's handler) answers a request it cannot parse
with an HTML page, and quietly drops a header line without a colon, with everything
after it. Here both are a ``400`` problem+json, and so is a ``Content-Length`` that is
not one non-negative number.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class ProblemRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with strict headers and problem+json errors."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.headers.defects:  # a line that is not "name: value" ended the headers
            self.send_error(400, "A header line without a colon")
            return False
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or any(not value.strip().isdigit() for value in lengths):
            self.send_error(400, "Content-Length must be one non-negative integer")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, long = self.responses.get(code, ("Error", ""))
        body = json.dumps(
            {"type": "about:blank", "title": short, "status": code, "detail": message or long}
        ).encode()
        self.log_error("code %d, message %s", code, message)
        if self.request_version == "HTTP/0.9":  # an unparsable line: answer with headers
            self.request_version = "HTTP/1.0"
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True


def make_dev_server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded Werkzeug server for ``app`` with :class:`ProblemRequestHandler`."""
    return make_server(host, port, app, threaded=True, request_handler=ProblemRequestHandler)
