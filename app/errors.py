"""JSON error answers for every HTTP error, so a sender always gets a reason, never an HTML page."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        reasons = {413: "body too large", 404: "not found", 405: "method not allowed"}
        return jsonify({"error": reasons.get(exc.code or 500, exc.description)}), exc.code or 500
