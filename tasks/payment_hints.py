"""Which payment a webhook payload belongs to, read from the payload alone: the hint of the flows whose events
of one payment are coalesced (``tasks.routing.COALESCING_FLOWS``, ``tasks.followers``).

The receiver calls it for every event, so this module imports nothing of the worker (no flow, stage,
connector or vendor patch). A hint only groups events; the pipeline re-reads Stripe to decide what a
payment is, so a wrong hint can only delay an event behind another, never post it to the wrong payment.
"""

from __future__ import annotations

from typing import Any

MAX_ID_LENGTH = 255


def order_to_cash_payment(obj: dict[str, Any]) -> str | None:
    """The payment a charge, PaymentIntent or Checkout Session belongs to, as its payload says: the
    PaymentIntent id, or the charge id for a charge made without one; None for any other object."""
    kind = obj.get("object")
    intent = obj.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if kind == "payment_intent":
        intent_id = obj.get("id")
    elif kind == "charge":
        intent_id = intent_id or obj.get("id")
    elif kind != "checkout.session":
        return None
    return intent_id if isinstance(intent_id, str) and 0 < len(intent_id) <= MAX_ID_LENGTH else None
