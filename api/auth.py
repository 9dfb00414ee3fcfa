"""API keys on requests: who is calling, and may they do this to that tenant."""

from __future__ import annotations

from flask import current_app, g, request

from collector.apikeys import OPEN_ACCESS, ApiKey
from collector.service import AuditService


def service() -> AuditService:
    """The app's core service (set by ``create_app``)."""
    svc: AuditService = current_app.extensions["audit"]
    return svc


def authenticate() -> None:
    """``before_request`` of protected blueprints: sets ``g.api_key`` or raises 401."""
    svc = service()
    if not svc.settings.auth_required:
        g.api_key = OPEN_ACCESS
        return
    g.api_key = svc.api_keys.authenticate(request.headers.get("Authorization"))


def current_key() -> ApiKey:
    """The API key of the request in hand (set by :func:`authenticate`)."""
    key: ApiKey = g.api_key
    return key


def tenant_for(requested: str | None, scope: str) -> str:
    """The tenant a request acts on (named, else the key's default); raises 403 if not allowed."""
    key = current_key()
    tenant = requested or key.default_tenant
    key.require(scope, tenant)
    return tenant
