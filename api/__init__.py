"""The HTTP API: ``create_app(settings=None, redis=None)`` builds the Flask app.

Production: ``gunicorn "api:create_app()"`` with ``REDIS_URL`` set.
"""

from __future__ import annotations

import redis as redis_lib
from flask import Flask

from api import errors, events, health, seed
from collector.connection import connect
from collector.ingest import max_body_bytes
from collector.service import AuditService
from collector.settings import Settings

SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"


def create_app(settings: Settings | None = None, redis: redis_lib.Redis | None = None) -> Flask:
    """Build the app over ``redis`` (a client from ``REDIS_URL`` when not given)."""
    settings = settings or Settings.from_env()
    client = redis if redis is not None else connect(settings.redis_url)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=max_body_bytes(settings),
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
    app.extensions["audit"] = AuditService(client, settings)
    api = errors.ProblemApi(app)
    errors.register(app)
    api.register_blueprint(events.blp)
    api.register_blueprint(seed.blp)
    api.register_blueprint(health.blp)
    return app
