"""Disputes (chargebacks) in the Stripe emulator, through their life: opened, funds withdrawn, closed.

`POST /_sandbox/stripe/disputes` opens a dispute on a succeeded charge, as a cardholder's bank does:
the charge becomes `disputed`, and, unless it is an inquiry (`"inquiry": true`, status
`warning_needs_response`, no money moved), Stripe withdraws the disputed amount plus its dispute fee
at once: a balance transaction (type `adjustment`, reporting category `dispute`) listed in the
dispute's `balance_transactions`, and the events `charge.dispute.created` then
`charge.dispute.funds_withdrawn`. `POST /_sandbox/stripe/disputes/<id>/close` with `won` or `lost`
ends it: won returns the amount (a `dispute_reversal` transaction, `charge.dispute.funds_reinstated`)
and both send `charge.dispute.closed`; a won inquiry closes as `warning_closed`. Events are rendered
for the requested API version.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects
from sandbox.stripe_api.ids import new_id
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

REASONS = ("fraudulent", "product_not_received", "unrecognized", "duplicate", "subscription_canceled",
           "product_unacceptable", "credit_not_processed", "general")
OPEN_STATUSES = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
DISPUTE_FEES = {"jpy": 2000, "kwd": 5000}
DEFAULT_DISPUTE_FEE = 1500
EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
    "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt", "refund_policy",
    "refund_policy_disclosure", "refund_refusal_explanation", "service_date", "service_documentation",
    "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation",
    "shipping_tracking_number", "uncategorized_file", "uncategorized_text")


def dispute_object(charge: dict[str, Any], amount: int, reason: str, inquiry: bool, now: int) -> dict[str, Any]:
    """A card dispute of `amount` minor units of `charge`, in the current API's shape."""
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**{field: None for field in EVIDENCE_FIELDS}, "enhanced_evidence": {}},
        "evidence_details": {"due_by": now + 14 * 86400, "enhanced_eligibility": {}, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": inquiry,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge.get("payment_intent"),
        "payment_method_details": {"card": {"brand": "visa", "case_type": "inquiry" if inquiry else "chargeback",
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason,
        "status": "warning_needs_response" if inquiry else "needs_response",
    }


def dispute_transaction(dispute: dict[str, Any], amount: int, fee: int, now: int) -> dict[str, Any]:
    """A withdrawal (negative, with the dispute fee) or reinstatement (positive) of disputed funds."""
    txn = objects.balance_transaction(dispute["id"], amount, dispute["currency"], now)
    withdrawal = amount < 0
    txn.update(fee=fee, net=amount - fee, type="adjustment",
               reporting_category="dispute" if withdrawal else "dispute_reversal",
               description=f"Chargeback {'withdrawal' if withdrawal else 'reversal'} for {dispute['charge']}",
               fee_details=[{"amount": fee, "application": None, "currency": dispute["currency"],
                             "description": "Dispute fee", "type": "stripe_fee"}] if fee else [])
    return txn


def open_dispute(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Open a dispute on a charge; a chargeback withdraws the funds at once."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    now = int(time.time())
    inquiry = bool(body.get("inquiry"))
    with account.state.lock:
        charge = _disputable_charge(account, body.get("charge"))
        dispute = dispute_object(charge, _amount(body.get("amount"), charge), _reason(body.get("reason")),
                                 inquiry, now)
        account.state.insert(dispute)
        charge["disputed"] = True
        account.state.save(charge)
        events = [account.emit("charge.dispute.created", dispute, now, api_version=version)]
        if not inquiry:
            fee = DISPUTE_FEES.get(dispute["currency"], DEFAULT_DISPUTE_FEE)
            _move_funds(account, dispute, -dispute["amount"], fee, now)
            events.append(account.emit("charge.dispute.funds_withdrawn", dispute, now, api_version=version))
    return _summary(account, version, dispute, events)


def close_dispute(account: StripeAccount, dispute_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Close an open dispute as `won` (funds reinstated) or `lost` (the withdrawal is final)."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    now = int(time.time())
    with account.state.lock:
        dispute = account.state.get(dispute_id, "dispute")
        if dispute is None:
            raise errors.resource_missing("dispute", dispute_id)
        outcome = _outcome(dispute, body.get("status"))
        events = []
        if outcome == "won":
            _move_funds(account, dispute, dispute["amount"], 0, now)
            events.append(account.emit("charge.dispute.funds_reinstated", dispute, now, api_version=version))
        dispute["status"] = outcome
        account.state.save(dispute)
        events.append(account.emit("charge.dispute.closed", dispute, now, api_version=version))
    return _summary(account, version, dispute, events)


def _disputable_charge(account: StripeAccount, charge_id: Any) -> dict[str, Any]:
    charge = account.param_object("charge", charge_id)
    if charge["status"] != "succeeded" or charge.get("disputed"):
        raise errors.invalid_request(f"Charge {charge['id']} cannot be disputed (not succeeded, or disputed "
                                     "already).", param="charge")
    return charge


def _amount(amount: Any, charge: dict[str, Any]) -> int:
    if amount is None:
        return int(charge["amount_captured"])
    if not isinstance(amount, int) or not 0 < amount <= charge["amount_captured"]:
        raise errors.invalid_request("amount must be a positive integer no larger than the charge",
                                     param="amount")
    return amount


def _reason(reason: Any) -> str:
    if reason in (None, ""):
        return "fraudulent"
    if reason not in REASONS:
        raise errors.invalid_request(f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason")
    return str(reason)


def _outcome(dispute: dict[str, Any], wanted: Any) -> str:
    if dispute["status"] not in OPEN_STATUSES:
        raise errors.invalid_request(f"Dispute {dispute['id']} is already closed ({dispute['status']}).")
    if wanted not in ("won", "lost"):
        raise errors.invalid_request("status must be won or lost", param="status")
    if dispute["status"].startswith("warning_"):
        if wanted == "lost":
            raise errors.invalid_request("An inquiry is not lost: it closes, or becomes a chargeback.",
                                         param="status")
        return "warning_closed"
    return str(wanted)


def _move_funds(account: StripeAccount, dispute: dict[str, Any], amount: int, fee: int, now: int) -> None:
    txn = account.state.insert(dispute_transaction(dispute, amount, fee, now))
    dispute["balance_transactions"] = [*dispute["balance_transactions"], public(txn)]
    dispute["is_charge_refundable"] = False
    account.state.save(dispute)


def _summary(account: StripeAccount, version: str, dispute: dict[str, Any],
             events: list[dict[str, Any]]) -> dict[str, Any]:
    charge = account.state.get(dispute["charge"], "charge")
    assert charge is not None, "a dispute's charge is never deleted"
    return {"dispute": render(dispute, version, account.state.get),
            "charge": render(charge, version, account.state.get),
            "events": [public(event) for event in events]}
