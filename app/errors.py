"""JSON error answers for every HTTP error, so a sender always gets a reason, never an HTML page.

The receivers also have a safety net. Their own checks answer every input they know to be bad
with a 400 and its reason; an exception they did not expect is, on a webhook, far more likely a
body or header nobody foresaw than a fault of this service, and a 500 would tell the sender
nothing. So an unexpected exception in a receiver is a 400 ("could not be processed"), logged as
an error with its type and place (never its message, which may quote the body) so the gap is
found and closed. Outages are not input: a Redis, broker or network error stays a 503, so the
sender redelivers once the service is back. Other routes keep Flask's handling.
"""

from __future__ import annotations

import logging
import traceback

import kombu.exceptions
import redis.exceptions
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from tasks.api import QueueUnavailable

log = logging.getLogger(__name__)

RECEIVER_BLUEPRINTS = frozenset({"webhooks", "epicor_webhooks"})
OUTAGES = (QueueUnavailable, redis.exceptions.RedisError, kombu.exceptions.OperationalError, OSError, MemoryError)
UNPROCESSABLE = "the request could not be processed"


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        reasons = {413: "body too large", 404: "not found", 405: "method not allowed"}
        return jsonify({"error": reasons.get(exc.code or 500, exc.description)}), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        if request.blueprint not in RECEIVER_BLUEPRINTS:
            raise exc
        if isinstance(exc, OUTAGES):
            log.warning("receiver unavailable: %s", type(exc).__name__)
            return jsonify({"error": "event queue unavailable; retry later"}), 503
        log.error("receiver failed unexpectedly on a request (%s at %s); answered 400", type(exc).__name__,
                  _place(exc))
        return jsonify({"error": UNPROCESSABLE}), 400


def _place(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown"
