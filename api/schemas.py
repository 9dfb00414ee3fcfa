"""Response shapes, for the OpenAPI document (the views write JSON directly)."""

from __future__ import annotations

from marshmallow import Schema, fields

from collector.schema import StoredEventSchema


class AcceptedSchema(Schema):
    """One event accepted for storage."""

    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["accepted"]})


class BatchAcceptedSchema(Schema):
    """A batch accepted for storage, ids in the order sent."""

    accepted = fields.Integer(required=True)
    ids = fields.List(fields.String(), required=True)


class PageSchema(Schema):
    """One page of a list."""

    items = fields.List(fields.Nested(StoredEventSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Validation errors by field; by batch index first."}
    )
    request_id = fields.String(
        metadata={"description": "The request's X-Request-ID (kept from the request or made)."}
    )


class StatusSchema(Schema):
    """Liveness or readiness."""

    status = fields.String(required=True)
    durability = fields.String(metadata={"description": "What Redis keeps on a crash"})


class LegacyEventSchema(Schema):
    """An event in the legacy API's shape."""

    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    client_id = fields.String(required=True, allow_none=True)
    user_id = fields.Raw(allow_none=True)
    request_method = fields.String(allow_none=True)
    status = fields.Raw(allow_none=True)
    entity_json = fields.Raw(allow_none=True)


class LegacyCreatedSchema(Schema):
    """The legacy API's answer to POST /event."""

    message = fields.String(required=True)
    event_id = fields.String(required=True)


class LegacyErrorSchema(Schema):
    """The legacy API's error body."""

    error = fields.String(required=True)
    message = fields.String()


class ProofSchema(Schema):
    """An event's RFC 9162 inclusion proof and the signed checkpoint it is against."""

    tenant = fields.String(required=True)
    id = fields.String(required=True)
    leaf_index = fields.Integer(required=True, metadata={"description": "seq - 1"})
    tree_size = fields.Integer(required=True)
    leaf_hash = fields.String(
        required=True, metadata={"description": "base64 SHA-256(0x00 || JCS(event))"}
    )
    inclusion = fields.List(fields.String(), required=True, metadata={"description": "base64"})
    checkpoint = fields.String(required=True, metadata={"description": "the signed note"})


class ConsistencySchema(Schema):
    """An RFC 9162 consistency proof between two tree sizes (hashes in base64)."""

    from_ = fields.Integer(required=True, data_key="from")
    to = fields.Integer(required=True)
    proof = fields.List(fields.String(), required=True)
