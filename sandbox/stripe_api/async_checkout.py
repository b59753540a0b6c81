"""Checkout paid by a delayed method (a US bank debit): completed unpaid first, settled days later.

`POST /_sandbox/stripe/checkout/async` is the buyer finishing Checkout with a bank debit: the Session
is `complete` with `payment_status: "unpaid"`, the PaymentIntent is `processing` and its charge
`pending` (no balance transaction yet), and Stripe sends `payment_intent.processing`, `charge.pending`
and `checkout.session.completed`. `POST /_sandbox/stripe/checkout/<cs>/settle` with `succeeded` is the
debit clearing: charge `succeeded` with its balance transaction, PaymentIntent `succeeded`, Session
`paid`, and `charge.succeeded`, `payment_intent.succeeded`, `checkout.session.async_payment_succeeded`;
with `failed` the debit is returned: charge `failed`, PaymentIntent back to `requires_payment_method`,
Session still unpaid, and `charge.failed`, `payment_intent.payment_failed`,
`checkout.session.async_payment_failed`. Customers, products and prices are made exactly as the card
payment scenario makes them (`payments.py`), so the two kinds of checkout map to the same Epicor parts.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects, payments
from sandbox.stripe_api.failures import mark_charge_failed, mark_intent_failed
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

BANK_DEBIT = {"type": "us_bank_account",
              "us_bank_account": {"account_holder_type": "individual", "account_type": "checking",
                                  "bank_name": "STRIPE TEST BANK", "last4": "6789",
                                  "routing_number": "110000000"}}


def start_async_checkout(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """A Checkout completed with a bank debit that has not cleared: nothing is paid yet."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    lines = body.get("line_items") or []
    amount = payments._amount(body.get("amount"), lines)
    now = int(time.time())
    with account.state.lock:
        customer = payments._customer(account, body.get("customer"), now)
        billing = body.get("billing_details") or payments._billing_from(customer)
        payment = {"amount": amount, "currency": str(body.get("currency") or "usd").lower(),
                   "customer": customer and customer["id"], "metadata": body.get("metadata") or {},
                   "description": body.get("description"), "billing_details": billing,
                   "receipt_email": billing.get("email")}
        intent, charge = _processing_payment(account, payment, now)
        session = payments._checkout(account, {**payment, "payment_intent": intent["id"]},
                                     lines or [{**payments.DEFAULT_LINE, "unit_amount": amount}], now)
        session.update(payment_status="unpaid", payment_method_types=["us_bank_account"])
        account.state.save(session)
        events = [account.emit("payment_intent.processing", intent, now, api_version=version),
                  account.emit("charge.pending", charge, now, api_version=version),
                  account.emit("checkout.session.completed", session, now, api_version=version)]
    return _summary(account, version, session, events)


def settle_async_checkout(account: StripeAccount, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The bank debit of an unpaid Checkout clears (`succeeded`) or is returned (`failed`)."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    outcome = body.get("outcome") or "succeeded"
    if outcome not in ("succeeded", "failed"):
        raise errors.invalid_request("outcome must be succeeded or failed", param="outcome")
    now = int(time.time())
    with account.state.lock:
        session, intent, charge = _pending_checkout(account, session_id)
        if outcome == "succeeded":
            events = _clear(account, session, intent, charge, now, version)
        else:
            events = _return(account, session, intent, charge, now, version)
    return _summary(account, version, session, events)


def _processing_payment(account: StripeAccount, payment: dict[str, Any],
                        now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    intent = objects.payment_intent(payment, now)
    charge = objects.charge({**payment, "payment_intent": intent["id"]}, now)
    charge.update(status="pending", paid=False, payment_method_details=BANK_DEBIT)
    intent.update(status="processing", latest_charge=charge["id"], payment_method=charge["payment_method"],
                  payment_method_types=["us_bank_account"])
    return account.state.insert(intent), account.state.insert(charge)


def _pending_checkout(account: StripeAccount,
                     session_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    session = account.state.get(session_id, "checkout.session")
    if session is None:
        raise errors.resource_missing("checkout.session", session_id)
    intent = account.state.get(session.get("payment_intent") or "", "payment_intent")
    if session["payment_status"] != "unpaid" or intent is None or intent["status"] != "processing":
        raise errors.invalid_request(f"Checkout Session {session_id} has no bank debit waiting to clear.")
    charge = account.state.get(intent["latest_charge"], "charge")
    assert charge is not None, "a processing PaymentIntent has its charge"
    return session, intent, charge


def _clear(account: StripeAccount, session: dict[str, Any], intent: dict[str, Any], charge: dict[str, Any],
           now: int, version: str) -> list[dict[str, Any]]:
    txn = account.state.insert(objects.balance_transaction(charge["id"], charge["amount"], charge["currency"], now))
    charge.update(status="succeeded", paid=True, balance_transaction=txn["id"])
    account.state.save(charge)
    account.state.save(objects.mark_intent_succeeded(intent, charge))
    session["payment_status"] = "paid"
    account.state.save(session)
    return [account.emit("charge.succeeded", charge, now, api_version=version),
            account.emit("payment_intent.succeeded", intent, now, api_version=version),
            account.emit("checkout.session.async_payment_succeeded", session, now, api_version=version)]


def _return(account: StripeAccount, session: dict[str, Any], intent: dict[str, Any], charge: dict[str, Any],
            now: int, version: str) -> list[dict[str, Any]]:
    account.state.save(mark_charge_failed(charge, "debit_not_authorized"))
    account.state.save(mark_intent_failed(intent, charge, "debit_not_authorized"))
    return [account.emit("charge.failed", charge, now, api_version=version),
            account.emit("payment_intent.payment_failed", intent, now, api_version=version),
            account.emit("checkout.session.async_payment_failed", session, now, api_version=version)]


def _summary(account: StripeAccount, version: str, session: dict[str, Any],
             events: list[dict[str, Any]]) -> dict[str, Any]:
    intent = account.state.get(session["payment_intent"], "payment_intent")
    assert intent is not None, "an async Checkout Session has its PaymentIntent"
    charge = account.state.get(intent["latest_charge"], "charge")
    customer = account.state.get(session["customer"], "customer") if session.get("customer") else None
    return {"customer": render(customer, version, account.state.get) if customer else None,
            "payment_intent": render(intent, version, account.state.get),
            "charge": render(charge, version, account.state.get) if charge else None,
            "checkout_session": render(session, version, account.state.get),
            "line_items": account.line_items(session["id"], version),
            "events": [public(event) for event in events]}
