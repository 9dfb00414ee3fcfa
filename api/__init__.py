"""The HTTP API: ``create_app(settings=None, redis=None)`` builds the Flask app.

Production: ``gunicorn "api:create_app()"`` with ``REDIS_URL`` set.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib
from flask import Flask
from swagger_ui_bundle import swagger_ui_path

from api import (
    deadletters,
    errors,
    events,
    export,
    health,
    integrity,
    legacy,
    me,
    metrics,
    responses,
    status,
    tail,
    ui,
)
from collector.connection import connect
from collector.metrics import SystemMetrics
from collector.schema import IPAddress
from collector.service import AuditService
from collector.settings import Settings

# Swagger UI's files ship in a wheel and are served as the app's static files, so /docs
# works without reaching a CDN (air-gapped deployments, locked-down browsers).
SWAGGER_UI_URL = "/docs/assets/"


def create_app(settings: Settings | None = None, redis: redis_lib.Redis | None = None) -> Flask:
    """Build the app over ``redis`` (a client from ``REDIS_URL`` when not given)."""
    settings = settings or Settings.from_env()
    client = redis if redis is not None else connect(settings.redis_url)
    app = Flask(__name__, static_folder=str(swagger_ui_path), static_url_path="/docs/assets")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="audit-trail",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_URL,
        API_SPEC_OPTIONS={
            "info": {
                "description": "Collects audit events (who did what, to what, when, with "
                "what outcome) and serves them back."
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
    )
    svc = app.extensions["audit"] = AuditService(client, settings)
    metrics.init_app(app, SystemMetrics(client, svc.key_names))
    api = errors.ProblemApi(app)
    errors.register(app)
    app.after_request(responses.bare_options)
    api.ma_plugin.converter.add_attribute_function(_ip_address)
    api.register_blueprint(events.blp)
    api.register_blueprint(integrity.blp)
    api.register_blueprint(legacy.blp)
    api.register_blueprint(health.blp)
    api.register_blueprint(metrics.blp)
    api.register_blueprint(export.blp)
    api.register_blueprint(deadletters.blp)
    for blueprint in (tail.blp, me.blp, status.blp, ui.blp):  # the viewer and its reads
        api.register_blueprint(blueprint)
    _document_docs(app, api)
    return app


def _ip_address(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """OpenAPI for ``IPAddress`` fields: an IPv4 or an IPv6 address."""
    if isinstance(field, IPAddress):
        return {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    return {}


_DOC_ROUTES = (
    # path, summary, description, media type, schema, example
    (
        "/openapi.json",
        "This OpenAPI 3 document",
        "The document",
        "application/json",
        {"type": "object"},
        {"openapi": "3.0.3", "info": {"title": "audit-trail"}},
    ),
    (
        "/docs",
        "Interactive docs (Swagger UI)",
        "An HTML page",
        "text/html",
        {"type": "string"},
        "<!DOCTYPE html>...",
    ),
)


def _document_docs(app: Flask, api: errors.ProblemApi) -> None:
    """The document and the docs page are routes too; list them (no key needed)."""
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    for path, summary, description, media, schema, example in _DOC_ROUTES:
        content = {media: {"schema": schema, "example": example}}
        responses = {
            "200": {"description": description, "content": content},
            "default": {"$ref": "#/components/responses/DEFAULT_ERROR"},
        }
        api.spec.path(
            rule=rules[path],
            operations={"get": {"tags": ["docs"], "summary": summary, "responses": responses}},
        )
