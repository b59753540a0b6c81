"""Disputes: a chargeback credit while the funds are withdrawn, its reversal when they come back, the
order held while the dispute is open (``tasks.mapping.disputes`` says what is posted at each stage).

Events: ``charge.dispute.created``, ``.funds_withdrawn``, ``.funds_reinstated`` and ``.closed``. Each one
re-reads the dispute and brings Epicor to the dispute's current state, step by step, each step once:
the chargeback (credit memo and receipt, external reference ``dp_…``), the reversal (debit invoice and
receipt, ``dp_…-R``), the lost outcome on the credit memo, and the order's hold. So a ``closed`` that
arrives before ``created`` posts the chargeback and its reversal in order, and a repeated event finds
every step done. Like refunds, a dispute waits at fetch (``PrerequisiteMissing``, retried with backoff)
until its sale is in Epicor, and its postings share the payment's lock with its sale and refunds.

Documents: transform builds the chargeback (``mappings/documents/disputes``: invoice group, credit memo
with its line, cash group, receipt with its line) and the reversal (``mappings/documents/dispute_reversals``:
the same with a debit invoice) with the mapping engine, in the one document shape (``tasks.documents``),
completed with the sale's customer, invoice, type and order that fetch read; validate checks them
generically and post only fills the keys Epicor assigns. The lost outcome on the memo and the order's hold
are changes to rows already in Epicor, decided against their current values at post.

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
from tasks.epicor.schemas import validate_document, validate_documents
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for
from tasks.mapping.disputes import dispute_state, order_notes

log = logging.getLogger(__name__)
WRITEBACK_KEYS = {"Chargeback": "epicor_credit_memo_num", "Reversal": "epicor_reversal_invoice_num"}


# -- fetch ---------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the dispute and its charge from Stripe: the dispute's state, not the event, decides."""
    dispute = ctx.stripe.dispute(envelope["object_id"])
    charge_id = stripe_id(dispute.get("charge"))
    if not charge_id:
        raise SkipEvent("dispute has no charge: nothing in Epicor to adjust")
    charge = charge_summary(ctx.stripe.charge(charge_id))
    sale = adjustments.require_sale(ctx, charge, f"Dispute {dispute['id']} of Stripe payment {charge['id']}")
    return {"charge": charge, "dispute": _dispute_summary(dispute), "sale": sale}


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
# The mapping files of each step: the chargeback's and the reversal's (``tasks.mapping.shapes``).
STEP_DOCUMENTS = {"chargeback": "disputes", "reversal": "dispute_reversals"}


def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    """The documents and order change the dispute's current state calls for (``tasks.mapping.disputes``)."""
    dispute, mappings = fetched["dispute"], ctx.mappings
    state = dispute_state(dispute)
    lost_code = mappings.dispute_reason_code("lost")
    steps = {"chargeback": state["withdrawn"], "reversal": state["reinstated"]}
    built = {step: _documents(ctx, step, fetched) if wanted else None for step, wanted in steps.items()}
    return {"charge": fetched["charge"], "sale": fetched["sale"], "writeback": dispute["metadata"],
            "dispute": {"dispute_id": dispute["id"], "charge_id": dispute["charge"], "status": dispute["status"],
                        **state, **built, "order": order_notes(dispute, state["outcome"]),
                        "credit_memo_outcome": _lost_outcome(dispute["id"], lost_code) if state["outcome"] == "lost"
                        else None,
                        "reason_codes": [mappings.dispute_reason_code("chargeback"), lost_code]}}


def _lost_outcome(dispute_id: str, lost_code: str) -> dict[str, Any]:
    """What a lost dispute changes on its still unposted chargeback memo: its reason and a note."""
    return {"CMReason": lost_code, "InvoiceComment": f"Stripe dispute {dispute_id} lost"}


def _documents(ctx: Context, step: str, fetched: dict[str, Any]) -> dict[str, Any]:
    scope = {"dispute": fetched["dispute"], "charge": fetched["charge"], "sale": fetched["sale"]}
    documents = documents_for(ctx, STEP_DOCUMENTS[step], scope)
    memo = next(doc for doc in documents if doc["kind"] in ("credit_memo", "ar_invoice"))
    return {"external_id": memo["reference"]["ExternalID"], "documents": documents}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Documents must fit Epicor and the sale's currency; reason codes must exist in Epicor."""
    dispute, sale = stage_input["dispute"], stage_input["sale"]
    for step in filter(None, (dispute["chargeback"], dispute["reversal"])):
        validate_documents(step["documents"])
        adjustments.check_currency(step["documents"], sale)
    if dispute["credit_memo_outcome"]:
        validate_document("credit_memo_outcome", dispute["credit_memo_outcome"], sale["CurrencyCode"])
    adjustments.check_reasons(ctx, ctx.mappings.reason_type, dispute["reason_codes"])
    return stage_input


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    charge, dispute, sale = stage_input["charge"], stage_input["dispute"], stage_input["sale"]
    with store.locked(lock_name(charge)):
        chargeback = _post_step(ctx, dispute["chargeback"])
        if chargeback and dispute["credit_memo_outcome"]:
            adjustments.record_outcome(ctx, chargeback["InvoiceNum"], dispute["credit_memo_outcome"])
        reversal = _post_step(ctx, dispute["reversal"])
        order = _update_order(ctx, charge["payment_key"], dispute["order"])
    keys = {"CustNum": int(sale["CustNum"]), "InvoiceRef": int(sale["InvoiceNum"]), "DisputeStatus": dispute["status"],
            "Chargeback": chargeback, "Reversal": reversal, **order}
    references = {step.capitalize(): dispute[step]["external_id"]  # dp_…, dp_…-R: each document's own
                  for step in ("chargeback", "reversal") if dispute[step]}
    return {"keys": keys, "dispute_id": dispute["dispute_id"], "writeback": stage_input["writeback"],
            "references": references}


def _post_step(ctx: Context, step: dict[str, Any] | None) -> dict[str, Any] | None:
    return adjustments.post_documents(ctx, step["external_id"], step["documents"]) if step else None


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
