"""JSON responses, built by hand so amounts stay numbers and no HTML page ever leaves."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from .errors import EpicorError


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as an ``application/json`` response."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(error: EpicorError) -> Response:
    """The contract's error body with the error's status."""
    return json_response(error.body(), error.status)


def no_content() -> Response:
    """204 with an empty body (a successful PATCH)."""
    return Response(status=204)
