"""``GET /v1/events/export``: every matching event as NDJSON or CSV, streamed.

Everything that can fail on the caller's side (filters, format, key, tenant) and the
first page's read are done before the response starts, so they are a problem+json
answer; after the first byte, a failure can only cut the download short.
"""

from __future__ import annotations

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service, tenant_for
from api.responses import SECURED, problem_responses
from collector.export import CSV_COLUMNS, MEDIA_TYPES, Export, ExportQuerySchema, parse_export_args

blp = Blueprint("export", __name__, description="Bulk export of audit events.")
blp.before_request(authenticate)

EXAMPLE_NDJSON = (
    '{"id":"0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b","tenant":"acme","type":"invoice.paid",'
    '"service":"billing","occurred_at":"2026-11-28T09:15:00.000000Z",'
    '"received_at":"2026-11-28T09:15:00.412000Z","actor":{"id":"alice","type":"user"},'
    '"outcome":"success","data":{},"schema_version":1,"seq":17}\n'
)
EXAMPLE_CSV = (
    ",".join(CSV_COLUMNS) + "\r\n17,0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b,invoice.paid,billing,acme,"
    "2026-11-28T09:15:00.000000Z,2026-11-28T09:15:00.412000Z,alice,user,,,,,,success,,,{}\r\n"
)


@blp.route("/v1/events/export", methods=["GET"])
@blp.doc(
    summary="Export every matching event",
    description="The filters and order of GET /v1/events; no limit or cursor. Streamed "
    "in constant memory as an attachment: NDJSON (one stored event per line) or CSV "
    f"(columns {', '.join(CSV_COLUMNS)}; data as JSON).",
    security=SECURED,
    parameters=[{"in": "query", "schema": ExportQuerySchema}],
    responses={
        "200": {
            "description": "The events",
            "headers": {
                "Content-Disposition": {
                    "schema": {"type": "string"},
                    "example": 'attachment; filename="audit-acme.ndjson"',
                }
            },
            "content": {
                MEDIA_TYPES["ndjson"]: {"schema": {"type": "string"}, "example": EXAMPLE_NDJSON},
                "text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
            },
        },
        **problem_responses(400, 401, 403, 503),
    },
)
def export_events() -> Response:
    key = current_key()
    key.require("read")
    filters, fmt = parse_export_args(request.args, key.default_tenant)
    tenant_for(filters.tenant, "read")
    job = Export(service().query, filters, fmt)
    response = Response(stream_with_context(iter(job)), mimetype=None)
    response.headers["Content-Type"] = job.media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{job.filename()}"'
    response.headers["X-Accel-Buffering"] = "no"  # let proxies pass it on as it comes
    return response
