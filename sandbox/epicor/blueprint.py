"""The Flask blueprint: REST routes for one Epicor instance, the admin routes, JSON errors.

Every route takes every verb and answers unknown verbs itself, and catch-all routes cover the rest of
``/{instance}/`` and ``/_sandbox/epicor/``, so nothing in this URL space ever answers with Flask's
HTML 404/405 page; errors raised here (business, HTTP, or a crash) leave as the contract's JSON body.
Error handlers are registered on the blueprint only, leaving the rest of the app alone.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from werkzeug.exceptions import HTTPException

from .admin import PREFIX, register_admin
from .errors import API_EXCEPTION, EpicorError, api_error, server_error
from .responses import error_response
from .rest import RestApi
from .state import EpicorState

logger = logging.getLogger(__name__)

_VERBS = ["GET", "POST", "PATCH", "PUT", "DELETE", "MERGE"]


def make_epicor_blueprint(state: EpicorState, instance: str = "KineticSandbox") -> Blueprint:
    """A blueprint serving the Epicor emulator for ``state`` under ``/{instance}``."""
    bp = Blueprint("sandbox_epicor", __name__)
    api = RestApi(state, instance)

    def v2(company: str, service: str, resource: str) -> Response:
        return api.handle("v2", company, service, resource)

    def v1(service: str, resource: str) -> Response:
        return api.handle("v1", None, service, resource)

    def no_route(rest: str = "") -> Response:
        raise api_error(404, "No resource matches the request URL.")

    bp.add_url_rule(f"/{instance}/api/v2/odata/<company>/<service>/<path:resource>", "v2", v2,
                    methods=_VERBS)
    bp.add_url_rule(f"/{instance}/api/v1/<service>/<path:resource>", "v1", v1, methods=_VERBS)
    bp.add_url_rule(f"/{instance}/", "instance_root", no_route, methods=_VERBS)
    bp.add_url_rule(f"/{instance}/<path:rest>", "instance_other", no_route, methods=_VERBS)
    register_admin(bp, state)
    bp.add_url_rule(f"{PREFIX}/<path:rest>", "admin_other", no_route, methods=_VERBS)
    _register_error_handlers(bp)
    return bp


def _register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(EpicorError, error_response)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _crash)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return error_response(EpicorError(status, error.description or error.name, API_EXCEPTION))


def _crash(error: Exception) -> Response:
    logger.exception("Epicor sandbox request failed")
    return error_response(server_error(500))
