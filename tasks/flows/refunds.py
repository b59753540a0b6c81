"""Refunds: each succeeded Stripe refund becomes a credit memo against the sale's invoice and a refund
receipt applied to it (``tasks.mapping.refunds`` says what is posted).

Events: ``charge.refunded`` names a charge, whose refunds are all listed (``GET /v1/refunds?charge=``)
and each one not yet in Epicor posted; ``refund.created``, ``refund.updated``, ``refund.failed`` and the
legacy ``charge.refund.updated`` name one refund. One refund seen through several of these events is
posted once: its documents are looked up by the refund id before they are created, postings for one
payment are serialised by the lock its sale is posted under (``tasks.epicor.adjustments.lock_name``), and a
journal per refund skips work already done.

Waiting and refusing:

* A refund needs its sale's invoice. When it arrives first, validation raises ``PrerequisiteMissing`` and
  the event is retried with backoff until the sale is posted (then dead-lettered with
  ``prerequisite.missing.retries_exhausted``; ``dlq retry`` resumes it once the sale is in).
* Only ``succeeded`` refunds are posted. A pending one is left for the ``refund.updated`` that reports
  it succeeded (the event is ``ignored`` with that reason); a failed or canceled one is not money paid
  back and is ignored.
* A refund that fails after its credit memo was posted is dead-lettered with a message naming the memo,
  for the accountant to reverse in Epicor: the service never deletes or reverses posted documents itself.
* A refund that only releases an uncaptured authorisation posts nothing (no sale was ever posted).
"""

from __future__ import annotations

from typing import Any

from tasks import store
from tasks.context import Context
from tasks.epicor import adjustments as adjustments
from tasks.epicor.adjustments import charge_summary, lock_name, stripe_id
from tasks.errors import PermanentError
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.refunds import build_refunds

WRITEBACK_KEY = "epicor_credit_memo_num"


# -- fetch ---------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the refund(s) and the charge from Stripe; event payloads are never trusted."""
    if envelope["type"] == "charge.refunded":
        charge = ctx.stripe.charge(envelope["object_id"])
        refunds = ctx.stripe.refunds_of_charge(charge["id"])
    else:
        refund = ctx.stripe.refund(envelope["object_id"])
        charge_id = stripe_id(refund.get("charge"))
        if not charge_id:
            raise SkipEvent("refund has no charge (not a refund of a card or bank payment): nothing to post")
        charge, refunds = ctx.stripe.charge(charge_id), [refund]
    if charge.get("captured") is False:
        raise SkipEvent("refund releases an authorisation that was never captured: no sale was posted")
    return {"charge": charge_summary(charge), "refunds": [_refund_summary(refund) for refund in refunds],
            "single_refund": envelope["type"] != "charge.refunded"}


def _refund_summary(refund: dict[str, Any]) -> dict[str, Any]:
    metadata = refund.get("metadata") or {}
    return {"id": refund["id"], "amount": refund["amount"], "currency": refund["currency"],
            "reason": refund.get("reason"), "status": refund.get("status"), "created": refund["created"],
            "charge": stripe_id(refund.get("charge")),
            "metadata": {WRITEBACK_KEY: metadata[WRITEBACK_KEY]} if WRITEBACK_KEY in metadata else {}}


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    outcome = build_refunds(fetched["refunds"], ctx.mappings)
    not_paid = outcome["not_paid"] if fetched["single_refund"] else []
    if not outcome["refunds"] and not not_paid:
        raise SkipEvent("refund is pending: it is posted when Stripe reports it succeeded (refund.updated)"
                        if outcome["waiting"] else "charge has no refund to post")
    return {"charge": fetched["charge"], "refunds": outcome["refunds"], "not_paid": not_paid,
            "writeback": {refund["id"]: refund["metadata"] for refund in fetched["refunds"]}}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """The sale must be posted (else wait), reason codes must exist, documents must fit Epicor."""
    if not stage_input["refunds"]:
        return stage_input | {"sale": None}
    charge = stage_input["charge"]
    sale = adjustments.require_sale(ctx, charge, f"Refund of Stripe payment {charge['id']}")
    refunds = [adjustments.against_sale(documents, sale) for documents in stage_input["refunds"]]
    for documents in refunds:
        adjustments.validate_adjustment(documents)
    adjustments.check_reasons(ctx, ctx.mappings.reason_type,
                              [documents["invoice"]["header"]["CMReason"] for documents in refunds])
    return stage_input | {"sale": sale, "refunds": refunds}


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    with store.locked(lock_name(stage_input["charge"])):
        _refuse_unpaid_after_posting(ctx, stage_input["not_paid"])
        if not stage_input["refunds"]:
            raise SkipEvent("refund failed or was canceled: no money was paid back, nothing to post")
        credit_memos = [{"RefundID": documents["external_id"], **adjustments.post_adjustment(ctx, documents)}
                        for documents in stage_input["refunds"]]
    sale = stage_input["sale"]
    keys = {"CustNum": int(sale["CustNum"]), "InvoiceRef": int(sale["InvoiceNum"]), "CreditMemos": credit_memos}
    return {"keys": keys, "writeback": stage_input["writeback"]}


def _refuse_unpaid_after_posting(ctx: Context, refund_ids: list[str]) -> None:
    for refund_id in refund_ids:
        memo = adjustments.posted_reference(ctx, refund_id)
        if memo:
            raise PermanentError(f"Stripe refund {refund_id} failed after credit memo {memo['InvoiceNum']} was posted "
                                 "for it: the money was not paid back; reverse the credit memo and its refund "
                                 "receipt in Epicor", reason="refund.failed_after_posting")


# -- status-update -------------------------------------------------------------------------------
def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write each credit memo number onto its refund's metadata (once: skipped when already there)."""
    for memo in stage_input["keys"]["CreditMemos"]:
        wanted = {WRITEBACK_KEY: str(memo["InvoiceNum"])}
        if stage_input["writeback"].get(memo["RefundID"]) != wanted:
            ctx.stripe.update_metadata(memo["RefundID"], wanted,
                                       idempotency_key=f"epicor-writeback-{memo['RefundID']}-{memo['InvoiceNum']}")
    return {"keys": stage_input["keys"]}


FLOW = Flow(name="refunds", fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=16, backoff_base=5, backoff_max=600))
