"""``GET /v1/me``: who the API key is (name, scopes, tenants); the viewer signs in with it."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.auth import authenticate, current_key, service
from api.responses import SECURED, json_response, problem_responses

blp = Blueprint("me", __name__, description="The calling API key.")
blp.before_request(authenticate)


class MeSchema(Schema):
    """The calling key's public facts (never its secret)."""

    name = fields.String(required=True, metadata={"description": "anonymous with auth off"})
    scopes = fields.List(fields.String(), required=True)
    tenants = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "The key's tenants; for a key of every tenant, those with events."
        },
    )
    all_tenants = fields.Boolean(required=True, metadata={"description": "The key has '*'."})
    auth = fields.Boolean(required=True, metadata={"description": "Whether AUDIT_AUTH is on."})


@blp.route("/v1/me", methods=["GET"])
@blp.doc(summary="The calling API key", security=SECURED, responses=problem_responses(401))
@blp.alt_response(
    200,
    schema=MeSchema,
    success=True,
    description="The key",
    example={
        "name": "auditor",
        "scopes": ["read"],
        "tenants": ["acme"],
        "all_tenants": False,
        "auth": True,
    },
)
def me() -> Response:
    key = current_key()
    svc = service()
    all_tenants = "*" in key.tenants
    tenants = svc.store.tenants() if all_tenants else sorted(key.tenants)
    return json_response(
        {
            "name": key.name,
            "scopes": list(key.scopes),
            "tenants": tenants,
            "all_tenants": all_tenants,
            "auth": svc.settings.auth_required,
        }
    )
