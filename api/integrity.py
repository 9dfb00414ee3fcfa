"""Tamper evidence over HTTP: signed checkpoints, inclusion and consistency proofs, and the
verifier key. Read scope; tenants as for reads."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api.auth import authenticate, current_key, service, tenant_for
from api.responses import SECURED, json_response, problem_responses
from api.schemas import ConsistencySchema, ProofSchema
from collector.errors import BadRequest, NotFound
from collector.schema import TENANT_PATTERN, is_valid_tenant

blp = Blueprint(
    "integrity", __name__, description="Signed checkpoints and Merkle proofs (RFC 9162)."
)
blp.before_request(authenticate)

EXAMPLE_NOTE = (
    "audit-trail/acme\n17\nq4bRmmTqJAbmJd0OA6ikjWiPnkaMYDiCtlDNT6uVu6o=\n\n"
    "\u2014 audit-trail Wm9BHeUGEQd84CMM6mo1Z5fgQzyqsFTf/MlVVT0QY7cTwtTaHhF0ZrlF1/aIxvfSVcN+"
    "LB5pp03g6GsaXTc54o2oYwo=\n"
)
EXAMPLE_VERIFIER_KEY = "audit-trail+5a6f411d+AeknVEKB3QzGe5ES8lE2hvc7aTPOwbdYtPvsYO6mvhax"
EXAMPLE_PROOF = {
    "tenant": "acme",
    "id": "0193c7c4-6f4e-7b1a-9a51-2f1f8f0e9d3b",
    "leaf_index": 16,
    "tree_size": 17,
    "leaf_hash": "2s1bUJ8kBIv0U5CGHdVXlrBQpnqmvD1Ffq2U6ZDWIyg=",
    "inclusion": ["xO1QkT1+GrUOEMBaVf3rXQUAfDOWOihvPl4FX9bpwH0="],
    "checkpoint": EXAMPLE_NOTE,
}

TENANT_PARAM = {
    "in": "query",
    "name": "tenant",
    "schema": {"type": "string", "pattern": f"^{TENANT_PATTERN.pattern}$"},
    "description": "Defaults to the key's tenant when it has one, else default.",
}


def _size_param(name: str, description: str, required: bool = True) -> dict[str, Any]:
    return {
        "in": "query",
        "name": name,
        "required": required,
        "schema": {"type": "integer", "minimum": 1},
        "description": description,
    }


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


def _text_doc(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"example": example}}}


def _tenant() -> str:
    requested = request.args.get("tenant")
    if requested is not None and not is_valid_tenant(requested):
        raise BadRequest("Invalid tenant.", errors={"tenant": ["Invalid tenant name."]})
    return tenant_for(requested, "read")


def _size(name: str, required: bool = True) -> int | None:
    raw = request.args.get(name)
    if raw is None and not required:
        return None
    if raw is None or not raw.isdigit() or int(raw) < 1 or len(raw) > 19:
        raise BadRequest(f"{name} must be a positive integer.", errors={name: ["Not a size."]})
    return int(raw)


@blp.route("/v1/checkpoints/latest", methods=["GET"])
@blp.doc(
    summary="The tenant's latest signed checkpoint",
    description="A C2SP tlog-checkpoint (origin <AUDIT_LOG_ORIGIN>/<tenant>, tree size, base64 "
    "root hash) signed as a C2SP signed note with Ed25519.",
    security=SECURED,
    parameters=[TENANT_PARAM],
    responses={
        "200": _text_doc("The signed note", EXAMPLE_NOTE),
        **problem_responses(400, 401, 403, 404, e404="No checkpoint yet, or integrity is off"),
    },
)
def latest_checkpoint() -> Response:
    current_key().require("read")
    return _text(service().proofs.latest(_tenant()))


@blp.route("/v1/checkpoints/verifier-key", methods=["GET"])
@blp.doc(
    summary="The note verifier key the checkpoints are signed with",
    description="<name>+<hex key id>+<base64(0x01 || Ed25519 public key)>. Pin it out of band: "
    "a verifier that fetches it from the server it checks trusts that server.",
    security=SECURED,
    responses={
        "200": _text_doc("The verifier key", EXAMPLE_VERIFIER_KEY),
        **problem_responses(401, 403, 404, e404="Integrity is off"),
    },
)
def verifier_key() -> Response:
    current_key().require("read")
    return _text(service().proofs.verifier_key() + "\n")


@blp.route("/v1/checkpoints/consistency", methods=["GET"])
@blp.doc(
    summary="Consistency proof between two tree sizes",
    description="RFC 9162 2.1.4: the tree of size `to` extends the tree of size `from`.",
    security=SECURED,
    parameters=[
        TENANT_PARAM,
        _size_param("from", "The older tree size"),
        _size_param("to", "The newer tree size, at most the latest checkpoint's"),
    ],
    responses=problem_responses(
        400, 401, 403, e400="Not 1 <= from <= to <= the latest checkpoint's size"
    ),
)
@blp.alt_response(
    200,
    schema=ConsistencySchema,
    success=True,
    example={"from": 4, "to": 17, "proof": ["xO1QkT1+GrUOEMBaVf3rXQUAfDOWOihvPl4FX9bpwH0="]},
    description="The proof (hashes in base64)",
)
def consistency() -> Response:
    current_key().require("read")
    tenant = _tenant()
    old, new = _size("from"), _size("to")
    assert old is not None and new is not None
    return json_response(service().proofs.consistency(tenant, old, new))


@blp.route("/v1/events/<event_id>/proof", methods=["GET"])
@blp.doc(
    summary="An event's inclusion proof",
    description="RFC 9162 2.1.3 inclusion of leaf seq - 1 (SHA-256(0x00 || RFC 8785 JSON of the "
    "event as GET /v1/events/<id> returns it)) in the latest checkpoint, or the one of "
    "tree_size.",
    security=SECURED,
    parameters=[TENANT_PARAM, _size_param("tree_size", "A checkpoint's size", required=False)],
    responses=problem_responses(
        400, 401, 403, 404, 409, e404="No such event, or no checkpoint of that size"
    ),
)
@blp.alt_response(
    200, schema=ProofSchema, success=True, example=EXAMPLE_PROOF, description="The proof bundle"
)
def event_proof(event_id: str) -> Response:
    key = current_key()
    key.require("read")
    requested = request.args.get("tenant")
    if requested is not None and not is_valid_tenant(requested):
        raise BadRequest("Invalid tenant.", errors={"tenant": ["Invalid tenant name."]})
    tenant = requested or key.default_tenant
    if not key.allows_tenant(tenant):  # as GET /v1/events/<id>: not found, not forbidden
        raise NotFound(f"No event {event_id!r} in tenant {tenant!r}.")
    return json_response(service().proofs.inclusion(tenant, event_id, _size("tree_size", False)))
