"""``POST /webhooks/epicor``: events sent by an Epicor BPM / Epicor Function (contract §7).

Body: ``{"id", "type", "company", "key", "occurred_at"}``; header
``X-Epicor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, checked on the raw
body against every secret in ``EPICOR_WEBHOOK_SECRET`` (several during a rotation) with the same
300 s tolerance as Stripe's (the scheme is Stripe's, so ``app.signatures.verify`` checks both).

Answers: 200 once the event is durably queued (or is a duplicate of one that is, or is a recognised
type with no flow, recorded as ignored); 400 with the reason for a bad, stale or missing signature
or a body that is not such an event (unknown type, missing field, another company, a key that is
not ``{"CustNum": n}`` / ``{"OrderNum": n}`` with a positive integer), with nothing stored; 415 for
a non-JSON content type; 503 when Redis or the broker cannot take it, so the sender's outbox keeps
the row and sends it again. Only ids are stored: whether the record exists is for the worker to
find out (a key Epicor does not have ends ``dead``, never retried).

The body is read as ``app.inputs`` reads any signed body: strict JSON; the ``id`` must be a token
(it names the event's Redis record), the type and company are checked against known values, and
``occurred_at``, text kept only for display, is made safe rather than refused.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from app.inputs import is_token, parse_json_object, safe_text
from app.webhooks import BadEvent, for_pair, receive_signed
from tasks import pairs

bp = Blueprint("epicor_webhooks", __name__)

SIGNATURE_HEADER = "X-Epicor-Signature"
# Event type -> the one key field its record is named by (contract §7; DESIGN.md public interface).
EVENT_KEYS = {"Customer.Created": "CustNum", "Customer.Updated": "CustNum",
              "SalesOrder.Created": "OrderNum", "SalesOrder.Updated": "OrderNum"}
MAX_KEY_NUMBER = 2**31 - 1  # Epicor keys are SQL int
OCCURRED_AT_LENGTH = 64


def _token(value: str) -> bool:
    if not is_token(value):
        raise ValidationError("must be 1-255 printable characters without spaces")
    return True


class EpicorEvent(Schema):
    """The body of one Epicor event; fields beyond the contract's are ignored."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=_token)
    type = fields.String(required=True, validate=validate.OneOf(
        sorted(EVENT_KEYS), error="'{input}' is not an event type this receiver knows ({choices})"))
    company = fields.String(required=True, validate=validate.Length(min=1, max=8))
    key = fields.Dict(required=True, keys=fields.String(), values=fields.Raw())
    occurred_at = fields.String(load_default=None, validate=validate.Length(max=OCCURRED_AT_LENGTH))

    @validates_schema
    def _key_matches_type(self, event: dict[str, Any], **_: object) -> None:
        name = EVENT_KEYS.get(event.get("type", ""))
        key = event.get("key")
        if name is None or key is None:
            return
        number = key.get(name)
        if set(key) != {name} or isinstance(number, bool) or not isinstance(number, int):
            raise ValidationError(f'must be {{"{name}": <integer>}} for {event["type"]}', "key")
        if not 0 < number <= MAX_KEY_NUMBER:
            raise ValidationError(f"{name} must be a positive integer (got {number})", "key")

    @validates_schema
    def _our_company(self, event: dict[str, Any], **_: object) -> None:
        expected = pairs.settings_for(pairs.current.get()).epicor_company  # the pair being received for
        if event.get("company") is not None and event["company"] != expected:
            raise ValidationError(f"'{event['company']}' is not the company this service posts for ({expected})",
                                  "company")


class BadEpicorEvent(BadEvent):
    """The verified body is not an Epicor event this receiver can queue."""


@bp.post("/webhooks/epicor")
def epicor_webhook() -> tuple[Response, int]:
    settings = pairs.settings_for(pairs.DEFAULT)
    return receive_signed("epicor", _lower_hex(request.headers.get(SIGNATURE_HEADER)),
                          settings.epicor_webhook_secrets, epicor_event_summary)


@bp.post("/webhooks/epicor/<pair_name>")
def epicor_webhook_of_pair(pair_name: str) -> tuple[Response, int]:
    """An Epicor company's events, at its pair's path: its secrets, its company (``app.webhooks.for_pair``)."""
    return for_pair(pair_name, lambda settings: receive_signed(
        "epicor", _lower_hex(request.headers.get(SIGNATURE_HEADER)), settings.epicor_webhook_secrets,
        epicor_event_summary, pair=pair_name))


def _lower_hex(header: str | None) -> str | None:
    """.NET's ``Convert.ToHexString`` writes upper-case hex; the digest is the same, so accept both.
    Only ASCII is lowered: ``str.lower`` maps some other letters to ASCII ones (KELVIN SIGN to ``k``),
    and a non-ASCII header is refused as it came."""
    return header.lower() if header and header.isascii() else header


def epicor_event_summary(body: bytes) -> dict[str, Any]:
    """The event as the pipeline keeps it: ids, type and key number; nothing else from the body."""
    try:
        event = EpicorEvent().load(parse_json_object(body))
    except ValidationError as exc:
        raise BadEpicorEvent("not an Epicor event: " + _reasons(exc.messages)) from None
    number = event["key"][EVENT_KEYS[event["type"]]]
    return {"id": event["id"], "source": "epicor", "type": event["type"], "object_id": str(number),
            "object_type": EVENT_KEYS[event["type"]], "company": event["company"],
            "occurred_at": safe_text(event["occurred_at"], OCCURRED_AT_LENGTH)}


def _reasons(messages: dict[str, Any] | list[Any]) -> str:
    if isinstance(messages, list):
        return "; ".join(str(message) for message in messages)
    return "; ".join(f"{field}: {_reasons(detail) if isinstance(detail, (dict, list)) else detail}"
                     for field, detail in sorted(messages.items()))
