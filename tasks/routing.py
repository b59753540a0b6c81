"""Which flow an event runs, and the stages every flow runs: the routing the receiver needs, nothing more.

``EVENT_FLOWS`` is the single routing table from a Stripe event type to a flow name; a type that is
not in it has no flow and is acknowledged as ``ignored``. ``EPICOR_EVENT_FLOWS`` does the same for
Epicor's events (contract §7). This module imports no flow, stage, connector or vendor patch, so the
web receiver can route and enqueue an event without loading the worker (STYLE.md point 1); the flows
themselves are found by name (``tasks.flows.flow_named``) only inside the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.payment_hints import order_to_cash_payment

STAGES = ("fetch", "transform", "validate", "post", "status_update")

EVENT_FLOWS: dict[str, str] = {
    "charge.succeeded": "order_to_cash",
    "charge.captured": "order_to_cash",
    "payment_intent.succeeded": "order_to_cash",
    "checkout.session.completed": "order_to_cash",
    "checkout.session.async_payment_succeeded": "order_to_cash",
    "charge.refunded": "refunds",
    "refund.created": "refunds",
    "refund.updated": "refunds",
    "refund.failed": "refunds",
    "charge.refund.updated": "refunds",
    "charge.dispute.created": "disputes",
    "charge.dispute.funds_withdrawn": "disputes",
    "charge.dispute.funds_reinstated": "disputes",
    "charge.dispute.closed": "disputes",
    "charge.failed": "payment_failed",
    "payment_intent.payment_failed": "payment_failed",
    "checkout.session.async_payment_failed": "payment_failed",
    "invoice.paid": "stripe_invoice",
    "invoice.payment_succeeded": "stripe_invoice",
    "invoice.payment_failed": "customer_standing",
    "customer.subscription.created": "customer_standing",
    "customer.subscription.updated": "customer_standing",
    "customer.subscription.deleted": "customer_standing",
    "customer.subscription.paused": "customer_standing",
    "customer.subscription.resumed": "customer_standing",
    "customer.created": "customer_sync",
    "customer.updated": "customer_sync",
    "payout.paid": "payout_reconciliation",
    # A payout that failed after it was posted is reversed (contract §6b); before that, nothing happens.
    "payout.failed": "payout_reconciliation",
    "payout.canceled": "payout_reconciliation",
}

# Events sent by Epicor (contract §7) through ``POST /webhooks/epicor``: a type listed with ``None`` is
# recognised but has no flow (acknowledged as ignored); a type not listed is refused by the receiver.
EPICOR_EVENT_FLOWS: dict[str, str | None] = {
    "Customer.Created": "epicor_customer",
    "Customer.Updated": "epicor_customer",
    "SalesOrder.Created": "epicor_sales_order",
    "SalesOrder.Updated": None,
}


# Flows whose events of one payment run one after the other (``tasks.followers``: the first is the lead, the
# others wait behind it and mostly finish without a Stripe or Epicor call), each with the function that reads
# the payment from a webhook payload (``tasks.payment_hints``: light, the receiver calls it).
COALESCING_FLOWS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "order_to_cash": order_to_cash_payment,
}


def payment_hint(obj: dict[str, Any]) -> str | None:
    """The payment a Stripe object belongs to, by the first coalescing flow's hint that knows one (the
    receiver keeps it with the event before the flow is looked up); None for objects no such flow groups."""
    return next((found for hint in COALESCING_FLOWS.values() if (found := hint(obj)) is not None), None)


def coalescing_group(flow: str | None, payment: str | None) -> str | None:
    """The group an event of ``flow`` waits in behind the other events of its payment, or None."""
    return f"{flow}:{payment}" if flow in COALESCING_FLOWS and payment else None


def flow_for(event_type: str, source: str = "stripe") -> str | None:
    table = EPICOR_EVENT_FLOWS if source == "epicor" else EVENT_FLOWS
    return table.get(event_type)
