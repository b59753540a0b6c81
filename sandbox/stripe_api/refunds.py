"""Refunds in the Stripe emulator: the objects, the charge's running totals and the events Stripe sends.

A refund is made through the admin route (`POST /_sandbox/stripe/refunds`) the way a person refunds
from the dashboard: against a succeeded charge, for the whole unrefunded amount or part of it, with
one of Stripe's reasons. As in Stripe, the charge's `amount_refunded` counts pending refunds too,
`refunded` turns true once nothing is left, a succeeded refund has a balance transaction (type
`refund`, negative, no fee), and the request emits `charge.refunded` (the charge) and `refund.created`
(the refund) with one request id. A pending refund later moves on through
`POST /_sandbox/stripe/refunds/<id>/status`: `refund.updated` and the legacy `charge.refund.updated`,
plus `refund.failed` when it fails (the charge's `amount_refunded` then drops back). Events are
rendered for the requested API version; before 2022-11-15 the charge in them embeds its refunds.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects
from sandbox.stripe_api.ids import new_id, new_idempotency_key, new_request_id
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CREATE_STATUSES = ("succeeded", "pending")
NEXT_STATUSES = {"pending": ("succeeded", "failed", "canceled"), "succeeded": ("failed",)}
FAILURE_REASON = "expired_or_canceled_card"


def refund_object(charge: dict[str, Any], amount: int, reason: str | None, status: str, now: int,
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A card refund of `amount` minor units of `charge`, in the current API's shape."""
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "destination_details": {"card": {"reference": None, "reference_status": "pending",
                                         "reference_type": "acquirer_reference_number", "type": "refund"},
                                "type": "card"},
        "failure_balance_transaction": None,
        "failure_reason": None,
        "metadata": {key: str(value) for key, value in (metadata or {}).items()},
        "payment_intent": charge.get("payment_intent"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def refund_transaction(refund: dict[str, Any], amount: int, now: int, category: str) -> dict[str, Any]:
    """The balance transaction of a refund (negative) or of its failure (positive): no fee."""
    txn = objects.balance_transaction(refund["id"], amount, refund["currency"], now)
    txn.update(fee=0, fee_details=[], net=amount, type="refund" if amount < 0 else "refund_failure",
               reporting_category=category, description="REFUND FOR CHARGE" if amount < 0 else "REFUND FAILURE")
    return txn


def create_refund(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Refund a charge (all that is left by default); return the objects and the events emitted."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    now = int(time.time())
    with account.state.lock:
        charge = _refundable_charge(account, body.get("charge"))
        amount = _amount(body.get("amount"), charge)
        refund = refund_object(charge, amount, _reason(body.get("reason")), _status(body.get("status")), now,
                               body.get("metadata"))
        if refund["status"] == "succeeded":
            _book(account, refund, now)
        account.state.insert(refund)
        _add_to_charge(charge, refund)
        account.state.save(charge)
        request = {"id": new_request_id(), "idempotency_key": new_idempotency_key()}
        events = [account.emit("charge.refunded", charge, now, api_version=version, request=request),
                  account.emit("refund.created", refund, now, api_version=version, request=request)]
    return _summary(account, version, refund, events)


def change_refund_status(account: StripeAccount, refund_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Move a refund to `succeeded`, `failed` or `canceled`, as the card network reports it."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    now = int(time.time())
    with account.state.lock:
        refund = account.state.get(refund_id, "refund")
        if refund is None:
            raise errors.resource_missing("refund", refund_id)
        status = _next_status(refund["status"], body.get("status"))
        _apply_status(account, refund, status, now)
        events = [account.emit("refund.updated", refund, now, api_version=version),
                  account.emit("charge.refund.updated", refund, now, api_version=version)]
        if status == "failed":
            events.append(account.emit("refund.failed", refund, now, api_version=version))
    return _summary(account, version, refund, events)


def _refundable_charge(account: StripeAccount, charge_id: Any) -> dict[str, Any]:
    charge = account.param_object("charge", charge_id)
    if charge["status"] != "succeeded" or not charge["captured"]:
        raise errors.invalid_request(f"Charge {charge['id']} has not succeeded; it cannot be refunded.",
                                     param="charge", code="charge_not_refundable")
    return charge


def _amount(amount: Any, charge: dict[str, Any]) -> int:
    left = charge["amount_captured"] - charge["amount_refunded"]
    if amount is None:
        amount = left
    if not isinstance(amount, int) or amount <= 0:
        raise errors.invalid_request("amount must be a positive integer in minor units", param="amount")
    if amount > left:
        raise errors.invalid_request(f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                                     f"({left})", param="amount", code="amount_too_large")
    return amount


def _reason(reason: Any) -> str | None:
    if reason in (None, ""):
        return None
    if reason not in REASONS:
        raise errors.invalid_request(f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason")
    return str(reason)


def _status(status: Any) -> str:
    status = status or "succeeded"
    if status not in CREATE_STATUSES:
        raise errors.invalid_request(f"status must be one of {', '.join(CREATE_STATUSES)}", param="status")
    return str(status)


def _next_status(current: str, wanted: Any) -> str:
    allowed = NEXT_STATUSES.get(current, ())
    if wanted not in allowed:
        raise errors.invalid_request(f"A {current} refund cannot become {wanted!r}; allowed: "
                                     f"{', '.join(allowed) or 'none'}", param="status")
    return str(wanted)


def _book(account: StripeAccount, refund: dict[str, Any], now: int) -> None:
    txn = account.state.insert(refund_transaction(refund, -refund["amount"], now, "refund"))
    refund["balance_transaction"] = txn["id"]


def _apply_status(account: StripeAccount, refund: dict[str, Any], status: str, now: int) -> None:
    if status == "succeeded":
        _book(account, refund, now)
    elif refund["status"] == "succeeded":  # failed after it had succeeded: the money comes back
        txn = account.state.insert(refund_transaction(refund, refund["amount"], now, "refund_failure"))
        refund["failure_balance_transaction"] = txn["id"]
    if status == "failed":
        refund["failure_reason"] = FAILURE_REASON
    if status in ("failed", "canceled"):
        charge = _charge_of(account, refund)
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        account.state.save(charge)
    refund["status"] = status
    account.state.save(refund)


def _add_to_charge(charge: dict[str, Any], refund: dict[str, Any]) -> None:
    charge["amount_refunded"] += refund["amount"]
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    charge["_refund_ids"] = [refund["id"], *charge.get("_refund_ids", [])]


def _charge_of(account: StripeAccount, refund: dict[str, Any]) -> dict[str, Any]:
    charge = account.state.get(refund["charge"], "charge")
    assert charge is not None, "a refund's charge is never deleted"
    return charge


def _summary(account: StripeAccount, version: str, refund: dict[str, Any],
             events: list[dict[str, Any]]) -> dict[str, Any]:
    charge = _charge_of(account, refund)
    return {"refund": render(refund, version, account.state.get),
            "charge": render(charge, version, account.state.get),
            "events": [public(event) for event in events]}
