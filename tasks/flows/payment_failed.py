"""Failed payments: the Epicor order of a payment that failed is put on hold with the decline reason.

Events: ``charge.failed``, ``payment_intent.payment_failed`` and ``checkout.session.async_payment_failed``
(a bank debit returned after Checkout). The payment is re-read from Stripe and:

* when it has since succeeded (a customer whose first card was declined paid with another one, and the
  failure arrived late), the failure is history: the event is ignored, the paid order is not held;
* when no Epicor order exists for it (``IntExternalKey`` = the PaymentIntent id, or the charge id),
  nothing is created: a payment that never succeeded has nothing to book, and the event is ignored
  with that reason;
* otherwise the order gets ``OrderHeld`` and a comment line with the decline code and Stripe's message,
  e.g. ``Stripe payment pi_… failed: card_declined / insufficient_funds: Your card has insufficient
  funds.`` A second event about the same failure finds the line there and writes nothing.

The hold and its comment line are data: ``mappings/documents/payment_failed/order_hold.yaml`` (the engine builds
it as a document of the one shape; post finds the order and adds the line once).

Cash already booked for a payment that failed late (a returned bank debit) is not reversed here: the
hold tells the accountant to look, and the reversal is theirs to post.
"""

from __future__ import annotations

from typing import Any

from tasks import store
from tasks.context import Context
from tasks.epicor import adjustments as adjustments
from tasks.epicor.adjustments import charge_summary, lock_name, stripe_id
from tasks.epicor.schemas import validate_documents
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for

FLOW_NAME = "payment_failed"


# -- fetch ---------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the payment; a failure the payment has since recovered from is not acted on."""
    intent, charge = _payment(ctx, envelope)
    failed = charge or {}
    current = intent or failed  # a payment intent's status covers all its attempts
    if current.get("status") == "succeeded":
        raise SkipEvent("the payment has since succeeded: this failure was an earlier attempt")
    error = (intent or {}).get("last_payment_error") or {}
    return {**_payer(intent, charge),
            "failure": {"code": error.get("code") or failed.get("failure_code"),
                        "decline_code": error.get("decline_code") or (failed.get("outcome") or {}).get("reason"),
                        "message": error.get("message") or failed.get("failure_message")}}


def _payment(ctx: Context, envelope: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(PaymentIntent, charge) of the failed payment; either may be absent, not both."""
    if envelope["type"].startswith("charge."):
        charge = ctx.stripe.charge(envelope["object_id"])
        intent_id = stripe_id(charge.get("payment_intent"))
        return (ctx.stripe.payment_intent(intent_id) if intent_id else None), charge
    intent_id = envelope["object_id"]
    if envelope["type"].startswith("checkout.session."):
        intent_id = stripe_id(ctx.stripe.checkout_session(intent_id).get("payment_intent"))
        if not intent_id:
            raise SkipEvent("checkout session has no payment intent: nothing was charged")
    intent = ctx.stripe.payment_intent(intent_id)
    error = intent.get("last_payment_error") or {}
    charge_id = stripe_id(intent.get("latest_charge")) or stripe_id(error.get("charge"))
    return intent, ctx.stripe.charge(charge_id) if charge_id else None


def _payer(intent: dict[str, Any] | None, charge: dict[str, Any] | None) -> dict[str, Any]:
    """The payment key (PaymentIntent id, else charge id) and who paid, for the posting lock."""
    if charge is not None:
        return {"payment_key": intent["id"] if intent else charge["id"], "payer": charge_summary(charge)}
    if intent is None:
        raise SkipEvent("neither a payment intent nor a charge: nothing to act on")
    payer = {"id": intent["id"], "customer": stripe_id(intent.get("customer")), "guest_email": None}
    return {"payment_key": intent["id"], "payer": payer}


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    """The order hold from its mapping file (``mappings/documents/payment_failed/order_hold.yaml``)."""
    return {"payer": fetched["payer"], "payment_key": fetched["payment_key"],
            "documents": documents_for(ctx, FLOW_NAME, fetched)}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    validate_documents(stage_input["documents"])  # an order hold has no amounts: the currency plays no part
    return stage_input


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    [hold] = stage_input["documents"]
    held = bool(hold["header"]["OrderHeld"])
    with store.locked(lock_name(stage_input["payer"])):
        order = adjustments.sale_order(ctx, stage_input["payment_key"])
        if order is None:
            raise SkipEvent("no Epicor order for this payment: nothing is created for a payment that never succeeded")
        adjustments.set_order_hold(ctx, order, held=held, notes=[hold["header"].get("OrderComment") or ""])
    keys = {"OrderNum": int(order["OrderNum"]), "CustNum": int(order["CustNum"]), "OrderHeld": held}
    return {"keys": keys}


# -- status-update -------------------------------------------------------------------------------
def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Nothing goes back to Stripe: the payment's own status already says it failed."""
    return {"keys": stage_input["keys"]}


FLOW = Flow(name=FLOW_NAME, fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=8, backoff_base=5, backoff_max=300))
