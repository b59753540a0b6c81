"""The web receiver: a thin Flask app that verifies, records and queues events, nothing more.

Built by ``create_app()`` (gunicorn ``"app:create_app()"``); nothing is built at import time. It
imports only the enqueue API of ``tasks`` (``tasks.api``), never the pipeline's internals. Beside the
receivers it serves the operator console (``/console/``) and the JSON API (``/api/``), both behind the
console's users (``app.auth``: one guard for every request; webhooks and health checks stay open).
"""

from __future__ import annotations

import logging
from importlib import import_module

from flask import Flask


def create_app() -> Flask:
    from tasks.settings import get_settings

    settings = get_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = import_module("app.params").RequestJson(app)  # a too deeply nested JSON body is a 400, not a 500
    from history import db as history_db

    history_db.migrate_quietly()  # the history's tables before the console reads them; never fatal
    from app import api, auth, console, epicor_webhooks, errors, health, mappings_api, metrics, payouts, webhooks

    auth.init_app(app)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(epicor_webhooks.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(payouts.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(mappings_api.bp)
    app.register_blueprint(import_module("app.tables_api").bp)  # lookup tables and flow switches
    app.register_blueprint(import_module("app.designer_api").bp)  # the mapping designer's own endpoints
    app.register_blueprint(import_module("app.assist_api").bp)  # assisted mapping: suggestions and verdicts
    console.register(app)
    errors.register(app)
    logging.getLogger(__name__).info("receiver ready")
    return app
