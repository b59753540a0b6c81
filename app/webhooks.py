"""``POST /webhooks/stripe``: verify, record, queue, answer (``/webhooks/epicor`` is ``app.epicor_webhooks``).

Answers: 200 only once the event is durably queued (or recognised as a duplicate, or as a type with
no flow, recorded as ignored); 400 with a reason for a bad, stale or missing signature, a body that is
not JSON or not a Stripe event, with nothing stored; 413 for an oversized body; 415 for a non-JSON
content type; 503 when Redis or the broker cannot take the event, so Stripe redelivers. No
processing happens in the request.

Integration pairs (``tasks.pairs``): ``POST /webhooks/stripe/<pair>`` checks the signature with that pair's
secrets (``/webhooks/stripe`` is the pair ``default``); an unknown pair is a 404. An event of a Stripe
Connect account (``account``) goes to the pair that lists the account in ``connect_accounts``; an account
no pair lists is refused (400 with the reason) by a pair that declares its own ``stripe_account`` and
taken as its own by one that does not. The event's record and envelope carry its ``pair``; the record of
an event of another pair than the default is named ``<pair>:<id>`` (two Epicor companies may number their
events alike), and the answer's ``event_id`` says so.

A signed body is still read as hostile (``app.inputs``): strict JSON, and every field kept (ids,
type, object type, API version, account, the payment's id) must be a token this service can store,
log and name a Redis key by, or the event is refused with the field named. The payload's free
text (descriptions, names) is never kept here: the worker re-reads the objects from Stripe and
cleans their text (``tasks.mapping.address.clean_text``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.inputs import UnreadableJson, is_token, parse_json_object, safe_reason
from app.signatures import SignatureRejected, verify
from tasks.api import QueueUnavailable, payment_hint, receive
from tasks.pairs import DEFAULT, Pair, get_pairs, working_for
from tasks.settings import ConfigError, Settings, get_settings
from telemetry import metrics

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


class BadEvent(ValueError):
    """The verified body is not a Stripe event this receiver can queue."""


def reject(status: int, reason: str) -> tuple[Response, int]:
    metrics.event_rejected(request.path, status, reason)
    return jsonify({"error": reason}), status


def is_json_request() -> bool:
    return (request.mimetype or "") == "application/json"


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    settings = get_settings()
    return receive_signed("stripe", request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets,
                          stripe_event_summary)


@bp.post("/webhooks/stripe/<pair_name>")
def stripe_webhook_of_pair(pair_name: str) -> tuple[Response, int]:
    return for_pair(pair_name, lambda settings: receive_signed(
        "stripe", request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets, stripe_event_summary,
        pair=pair_name))


def for_pair(pair_name: str, answer: Callable[[Settings], tuple[Response, int]]) -> tuple[Response, int]:
    """``answer`` with the settings of pair ``pair_name``, as that pair; 404 for a pair not declared."""
    try:
        pair = get_pairs().get(pair_name)
    except ConfigError:
        return reject(503, "the integration pairs cannot be read; retry later")
    if pair is None:
        read_body()  # the connection stays clean for the sender's next request
        return reject(404, f"no integration pair named {safe_reason(pair_name)[:40]}")
    with working_for(pair.name):
        return answer(pair.settings)


def receive_signed(source: str, signature: str | None, secrets: tuple[str, ...],
                   summarise: Callable[[bytes], dict[str, Any]], pair: str = DEFAULT) -> tuple[Response, int]:
    """The receivers' one path: size, content type, signature on the raw body, shape, then queue.
    The body is read first (bounded by the size limit) so that every answer leaves the connection
    clean for the sender's next request."""
    body = read_body()
    if not is_json_request():
        return reject(415, "content type must be application/json")
    try:
        verify(body, signature, secrets, get_settings().webhook_tolerance)
        event = of_pair(summarise(body), pair)
    except (SignatureRejected, BadEvent, UnreadableJson) as exc:
        reason = safe_reason(str(exc))  # reasons may quote the sender's input
        log.info("%s webhook rejected: %s", source, reason)
        return reject(400, reason)
    except ConfigError:
        return reject(503, "the integration pairs cannot be read; retry later")
    return queue(event)


def of_pair(event: dict[str, Any], received_by: str) -> dict[str, Any]:
    """The event as its pair's: a Connect account's event goes to the pair listing the account
    (``tasks.pairs.Pairs.for_account``); the record of a pair other than the default is ``<pair>:<id>``."""
    name = received_by
    if event.get("account"):
        pairs = get_pairs()
        routed: Pair | None
        routed, reason = pairs.for_account(pairs.by_name[received_by], event["account"])
        if routed is None:
            raise BadEvent(reason)
        name = routed.name
    if name == DEFAULT:
        return event | {"pair": DEFAULT}
    return event | {"pair": name, "id": f"{name}:{event['id']}", "sender_id": event["id"]}


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
    metrics.event_received(event.get("source") or "stripe", event["type"], receipt.status, event.get("pair") or DEFAULT)
    return jsonify({"received": True, "event_id": receipt.event_id, "status": receipt.status}), 200


def stripe_event_summary(body: bytes) -> dict[str, Any]:
    """The few fields of a snapshot event that the pipeline keeps: ids, type, version. No payload."""
    event = parse_json_object(body)
    if event.get("object") == "v2.core.event":
        raise BadEvent("thin events are not supported: configure the destination for snapshot payloads")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if event.get("object") != "event" or "id" not in event or "type" not in event:
        raise BadEvent("body is not a Stripe event (object, id and type are required)")
    if not isinstance(obj, dict) or "id" not in obj:
        raise BadEvent("event has no data.object with an id")
    return {"id": _token(event, "id"), "source": "stripe", "type": _token(event, "type"),
            "object_id": _token(obj, "id", "data.object.id"),
            "object_type": _optional_token(obj, "object", "data.object.object"),
            "api_version": _optional_token(event, "api_version"), "created": _unix_time(event.get("created")),
            "livemode": bool(event.get("livemode")), "account": _optional_token(event, "account"),
            "payment": _payment(obj)}


def _token(fields: dict[str, Any], name: str, path: str = "") -> str:
    value = fields.get(name)
    if not is_token(value):
        raise BadEvent(f"body is not a Stripe event: {path or name} is not an id or type (1-255 printable characters,"
                       " no spaces)")
    return str(value)


def _optional_token(fields: dict[str, Any], name: str, path: str = "") -> str:
    """An optional id-like field: absent, null or empty is ""; otherwise it must be a token."""
    return _token(fields, name, path) if fields.get(name) else ""


def _unix_time(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def _payment(obj: dict[str, Any]) -> str | None:
    """The payment the object belongs to, which names a Redis key: a token, or the event is refused."""
    payment = payment_hint(obj)
    if payment is not None and not is_token(payment):
        raise BadEvent("body is not a Stripe event: data.object's payment intent is not an id")
    return payment
