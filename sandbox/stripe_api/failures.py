"""Failed payments in the Stripe emulator: card declines and late failures.

`POST /_sandbox/stripe/payments/declined` is a card payment the issuer declines: a PaymentIntent left
in `requires_payment_method` with `last_payment_error` (`code`, `decline_code`, `message`, the failed
`charge`), its failed charge (`status: failed`, `failure_code`, `failure_message`, an `outcome` of type
`issuer_declined`, no balance transaction), and the events `charge.failed` and
`payment_intent.payment_failed`. `POST /_sandbox/stripe/payments/<pi>/fail` is a late failure of a
payment that had succeeded (a bank debit returned days later): its charge turns `failed` and the
PaymentIntent goes back to `requires_payment_method`, with the same two events. Events are rendered for
the requested API version.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects
from sandbox.stripe_api.ids import new_idempotency_key, new_request_id
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

# decline_code -> (error code, message the payer sees), as Stripe's test cards answer.
DECLINES = {
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "generic_decline": ("card_declined", "Your card was declined."),
    "lost_card": ("card_declined", "Your card was declined."),
    "stolen_card": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "debit_not_authorized": ("payment_method_not_available", "The customer's bank account could not be debited."),
}


def decline_payment(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """A new card payment declined by the issuer: nothing was ever paid."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    decline_code = _decline_code(body.get("decline_code"))
    now = int(time.time())
    with account.state.lock:
        payment = _payment(account, body, now)
        intent = objects.payment_intent(payment, now)
        charge = objects.charge({**payment, "payment_intent": intent["id"]}, now)
        mark_charge_failed(charge, decline_code)
        account.state.insert(charge)
        account.state.insert(mark_intent_failed(intent, charge, decline_code))
        events = _emit_failure(account, charge, intent, now, version)
    return _summary(account, version, intent, events)


def fail_payment(account: StripeAccount, intent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A payment that had succeeded fails late (a returned bank debit)."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    decline_code = _decline_code(body.get("decline_code") or "debit_not_authorized")
    now = int(time.time())
    with account.state.lock:
        intent = account.state.get(intent_id, "payment_intent")
        if intent is None:
            raise errors.resource_missing("payment_intent", intent_id)
        if intent["status"] != "succeeded" or not intent.get("latest_charge"):
            raise errors.invalid_request(f"PaymentIntent {intent_id} has not succeeded; it cannot fail late.")
        charge = account.state.get(intent["latest_charge"], "charge")
        assert charge is not None, "a succeeded PaymentIntent has its charge"
        account.state.save(mark_charge_failed(charge, decline_code))
        account.state.save(mark_intent_failed(intent, charge, decline_code))
        events = _emit_failure(account, charge, intent, now, version)
    return _summary(account, version, intent, events)


def mark_charge_failed(charge: dict[str, Any], decline_code: str) -> dict[str, Any]:
    """The charge as Stripe reports a declined or returned payment."""
    code, message = DECLINES[decline_code]
    charge.update({
        "status": "failed", "paid": False, "failure_code": code, "failure_message": message,
        "outcome": {**charge["outcome"], "network_status": "declined_by_network", "reason": decline_code,
                    "risk_level": "normal", "seller_message": "The bank returned the decline code "
                                                              f"`{decline_code}`.", "type": "issuer_declined"},
    })
    if charge.get("balance_transaction") is None:
        charge.update(captured=False, amount_captured=0)
    return charge


def mark_intent_failed(intent: dict[str, Any], charge: dict[str, Any], decline_code: str) -> dict[str, Any]:
    """The PaymentIntent back in `requires_payment_method`, carrying the error of its last attempt."""
    code, message = DECLINES[decline_code]
    intent.update({
        "status": "requires_payment_method", "amount_received": 0, "latest_charge": charge["id"],
        "last_payment_error": {
            "charge": charge["id"], "code": code, "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}", "message": message,
            "param": None, "payment_method": {"id": charge["payment_method"], "object": "payment_method",
                                              "type": "card"},
            "type": "card_error",
        },
    })
    return intent


def _decline_code(value: Any) -> str:
    code = value or "insufficient_funds"
    if code not in DECLINES:
        raise errors.invalid_request(f"decline_code must be one of {', '.join(DECLINES)}", param="decline_code")
    return str(code)


def _payment(account: StripeAccount, body: dict[str, Any], now: int) -> dict[str, Any]:
    amount = body.get("amount")
    if not isinstance(amount, int) or amount <= 0:
        raise errors.invalid_request("amount must be a positive integer in minor units", param="amount")
    customer = _customer(account, body.get("customer"), now)
    billing = body.get("billing_details") or {key: (customer or {}).get(key) for key in ("name", "email")}
    return {"amount": amount, "currency": str(body.get("currency") or "usd").lower(),
            "customer": customer and customer["id"], "metadata": body.get("metadata") or {},
            "description": body.get("description"), "billing_details": billing,
            "receipt_email": billing.get("email")}


def _customer(account: StripeAccount, spec: Any, now: int) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, dict):
        return account.state.insert(objects.customer(spec, now))
    existing = account.state.get(str(spec), "customer")
    if existing is None:
        raise errors.resource_missing("customer", str(spec), param="customer")
    return existing


def _emit_failure(account: StripeAccount, charge: dict[str, Any], intent: dict[str, Any], now: int,
                  version: str) -> list[dict[str, Any]]:
    request = {"id": new_request_id(), "idempotency_key": new_idempotency_key()}
    return [account.emit("charge.failed", charge, now, api_version=version, request=request),
            account.emit("payment_intent.payment_failed", intent, now, api_version=version, request=request)]


def _summary(account: StripeAccount, version: str, intent: dict[str, Any],
             events: list[dict[str, Any]]) -> dict[str, Any]:
    charge = account.state.get(intent["latest_charge"], "charge")
    assert charge is not None, "a failed PaymentIntent has its charge"
    return {"payment_intent": render(intent, version, account.state.get),
            "charge": render(charge, version, account.state.get),
            "events": [public(event) for event in events]}
