"""Disputes: a chargeback credit while the funds are withdrawn, its reversal when they come back, the
order held while the dispute is open (``tasks.mapping.disputes`` says what is posted at each stage).

Events: ``charge.dispute.created``, ``.funds_withdrawn``, ``.funds_reinstated`` and ``.closed``. Each one
re-reads the dispute and brings Epicor to the dispute's current state, step by step, each step once:
the chargeback (credit memo and receipt, external reference ``dp_…``), the reversal (debit invoice and
receipt, ``dp_…-R``), the lost outcome on the credit memo, and the order's hold. So a ``closed`` that
arrives before ``created`` posts the chargeback and its reversal in order, and a repeated event finds
every step done. Like refunds, a dispute waits (``PrerequisiteMissing``, retried with backoff) until its
sale is in Epicor, and its postings share the payment's lock with its sale and refunds.

Writing the Epicor numbers back onto the dispute's metadata is best effort: Stripe may refuse to change
a closed dispute, and the books are complete either way.
"""

from __future__ import annotations

import logging
from typing import Any

from tasks import store
from tasks.connectors.stripe_api import StripeRejected
from tasks.context import Context
from tasks.epicor import adjustments as adjustments
from tasks.epicor.adjustments import charge_summary, lock_name, stripe_id
from tasks.epicor.schemas import validate_document
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.disputes import build_dispute

log = logging.getLogger(__name__)
WRITEBACK_KEYS = {"Chargeback": "epicor_credit_memo_num", "Reversal": "epicor_reversal_invoice_num"}


# -- fetch ---------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the dispute and its charge from Stripe: the dispute's state, not the event, decides."""
    dispute = ctx.stripe.dispute(envelope["object_id"])
    charge_id = stripe_id(dispute.get("charge"))
    if not charge_id:
        raise SkipEvent("dispute has no charge: nothing in Epicor to adjust")
    charge = ctx.stripe.charge(charge_id)
    return {"charge": charge_summary(charge), "dispute": _dispute_summary(dispute)}


def _dispute_summary(dispute: dict[str, Any]) -> dict[str, Any]:
    transactions = dispute.get("balance_transactions")
    metadata = dispute.get("metadata") or {}
    return {"id": dispute["id"], "amount": dispute["amount"], "currency": dispute["currency"],
            "reason": dispute.get("reason"), "status": dispute["status"], "created": dispute["created"],
            "charge": stripe_id(dispute["charge"]),
            "balance_transactions": None if transactions is None else [
                {"id": txn.get("id"), "amount": txn["amount"], "created": txn["created"]}
                for txn in transactions if isinstance(txn, dict)],
            "metadata": {key: value for key, value in metadata.items() if key in WRITEBACK_KEYS.values()}}


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    return {"charge": fetched["charge"], "dispute": build_dispute(fetched["dispute"], ctx.mappings),
            "writeback": fetched["dispute"]["metadata"]}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """The sale must be posted (else wait); reason codes and documents must fit Epicor."""
    charge, dispute = stage_input["charge"], stage_input["dispute"]
    sale = adjustments.require_sale(ctx, charge, f"Dispute {dispute['dispute_id']} of Stripe payment {charge['id']}")
    completed = {step: adjustments.against_sale(dispute[step], sale) if dispute[step] else None
                 for step in ("chargeback", "reversal")}
    for documents in filter(None, completed.values()):
        adjustments.validate_adjustment(documents)
    if dispute["credit_memo_outcome"]:
        validate_document("credit_memo_outcome", dispute["credit_memo_outcome"], sale["CurrencyCode"])
    adjustments.check_reasons(ctx, ctx.mappings.reason_type, dispute["reason_codes"])
    return stage_input | {"sale": sale, "dispute": dispute | completed}


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    charge, dispute, sale = stage_input["charge"], stage_input["dispute"], stage_input["sale"]
    with store.locked(lock_name(charge)):
        chargeback = adjustments.post_adjustment(ctx, dispute["chargeback"]) if dispute["chargeback"] else None
        if chargeback and dispute["credit_memo_outcome"]:
            adjustments.record_outcome(ctx, chargeback["InvoiceNum"], dispute["credit_memo_outcome"])
        reversal = adjustments.post_adjustment(ctx, dispute["reversal"]) if dispute["reversal"] else None
        order = _update_order(ctx, charge["payment_key"], dispute["order"])
    keys = {"CustNum": int(sale["CustNum"]), "InvoiceRef": int(sale["InvoiceNum"]), "DisputeStatus": dispute["status"],
            "Chargeback": chargeback, "Reversal": reversal, **order}
    references = {step.capitalize(): dispute[step]["external_id"]  # dp_…, dp_…-R: each document's own
                  for step in ("chargeback", "reversal") if dispute[step]}
    return {"keys": keys, "dispute_id": dispute["dispute_id"], "writeback": stage_input["writeback"],
            "references": references}


def _update_order(ctx: Context, payment_key: str, notes: dict[str, Any]) -> dict[str, Any]:
    """Hold the sale's order while the dispute is open or lost; release a hold this dispute set."""
    order = adjustments.sale_order(ctx, payment_key)
    if order is None:  # a subscription payment: its invoice has no sales order
        return {"OrderNum": None, "OrderHeld": None}
    held = bool(order.get("OrderHeld"))
    if notes["hold"]:
        adjustments.set_order_hold(ctx, order, held=True, notes=[notes["hold_note"], notes["lost_note"]])
        held = True
    elif notes["hold_note"] in (order.get("OrderComment") or ""):
        adjustments.set_order_hold(ctx, order, held=False, notes=[notes["release_note"]])
        held = False
    return {"OrderNum": int(order["OrderNum"]), "OrderHeld": held}


# -- status-update -------------------------------------------------------------------------------
def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write the chargeback (and reversal) numbers onto the dispute's metadata, when they are new."""
    keys = stage_input["keys"]
    wanted = {name: str(keys[step]["InvoiceNum"]) for step, name in WRITEBACK_KEYS.items() if keys.get(step)}
    if wanted and any(stage_input["writeback"].get(name) != value for name, value in wanted.items()):
        dispute_id = stage_input["dispute_id"]
        try:
            ctx.stripe.update_metadata(dispute_id, wanted,
                                       idempotency_key=f"epicor-writeback-{dispute_id}-" + "-".join(wanted.values()))
        except StripeRejected as refused:
            log.warning("dispute metadata not written back: %s", refused.reason)
    return {"keys": keys}


FLOW = Flow(name="disputes", fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=16, backoff_base=5, backoff_max=600))
