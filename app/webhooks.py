"""``POST /webhooks/stripe``: verify, record, queue, answer (``/webhooks/epicor`` is ``app.epicor_webhooks``).

Answers: 200 only once the event is durably queued (or recognised as a duplicate, or as a type with
no flow, recorded as ignored); 400 with a reason for a bad, stale or missing signature, a body that is
not JSON or not a Stripe event, with nothing stored; 413 for an oversized body; 415 for a non-JSON
content type; 503 when Redis or the broker cannot take the event, so Stripe redelivers. No
processing happens in the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.signatures import SignatureRejected, verify
from tasks.api import QueueUnavailable, payment_hint, receive
from tasks.settings import get_settings

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


class BadEvent(ValueError):
    """The verified body is not a Stripe event this receiver can queue."""


def reject(status: int, reason: str) -> tuple[Response, int]:
    return jsonify({"error": reason}), status


def is_json_request() -> bool:
    return (request.mimetype or "") == "application/json"


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    settings = get_settings()
    return receive_signed("stripe", request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets,
                          stripe_event_summary)


def receive_signed(source: str, signature: str | None, secrets: tuple[str, ...],
                   summarise: Callable[[bytes], dict[str, Any]]) -> tuple[Response, int]:
    """The receivers' one path: size, content type, signature on the raw body, shape, then queue.
    The body is read first (bounded by the size limit) so that every answer leaves the connection
    clean for the sender's next request."""
    body = read_body()
    if not is_json_request():
        return reject(415, "content type must be application/json")
    try:
        verify(body, signature, secrets, get_settings().webhook_tolerance)
        event = summarise(body)
    except (SignatureRejected, BadEvent) as exc:
        log.info("%s webhook rejected: %s", source, exc)
        return reject(400, str(exc))
    return queue(event)


def read_body() -> bytes:
    """The raw body (413 above the limit). A body streamed without Content-Length is cut at the
    limit by Werkzeug rather than refused, so one that reaches the limit is refused here."""
    body = request.get_data(cache=False)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is None and len(body) >= limit:
        raise RequestEntityTooLarge()
    return body


def queue(event: dict[str, Any]) -> tuple[Response, int]:
    try:
        receipt = receive(event)
    except QueueUnavailable:
        return reject(503, "event queue unavailable; retry later")
    current_app.logger.debug("event %s %s", receipt.event_id, receipt.status)
    return jsonify({"received": True, "event_id": receipt.event_id, "status": receipt.status}), 200


def stripe_event_summary(body: bytes) -> dict[str, Any]:
    """The few fields of a snapshot event that the pipeline keeps: ids, type, version. No payload."""
    event = _json_object(body)
    if event.get("object") == "v2.core.event":
        raise BadEvent("thin events are not supported: configure the destination for snapshot payloads")
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if event.get("object") != "event" or not _text(event.get("id")) or not _text(event.get("type")):
        raise BadEvent("body is not a Stripe event (object, id and type are required)")
    if not isinstance(obj, dict) or not _text(obj.get("id")):
        raise BadEvent("event has no data.object with an id")
    return {"id": event["id"], "source": "stripe", "type": event["type"], "object_id": obj["id"],
            "object_type": str(obj.get("object") or ""), "api_version": str(event.get("api_version") or ""),
            "created": event.get("created") if isinstance(event.get("created"), int) else None,
            "livemode": bool(event.get("livemode")), "account": str(event.get("account") or ""),
            "payment": payment_hint(obj)}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadEvent("body is not valid JSON") from None
    except RecursionError:  # signed, but nested deeper than any event: refuse it, never a 500
        raise BadEvent("body is nested too deeply to be an event") from None
    if not isinstance(parsed, dict):
        raise BadEvent("body is not a JSON object")
    return parsed


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255
