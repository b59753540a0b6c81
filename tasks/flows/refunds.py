"""Refunds: each succeeded Stripe refund becomes a credit memo against the sale's invoice and a refund
receipt applied to it (``tasks.mapping.refunds`` says what is posted).

Events: ``charge.refunded`` names a charge, whose refunds are all listed (``GET /v1/refunds?charge=``)
and each one not yet in Epicor posted; ``refund.created``, ``refund.updated``, ``refund.failed`` and the
legacy ``charge.refund.updated`` name one refund. One refund seen through several of these events is
posted once: its documents are looked up by the refund id before they are created, postings for one
payment are serialised by the lock its sale is posted under (``tasks.epicor.adjustments.lock_name``), and a
journal per refund skips work already done.

Waiting and refusing:

* A refund needs its sale's invoice: the credit memo credits it, for its customer, type and order. Fetch
  looks the sale up (by the charge id, else the Stripe invoice the charge paid) whenever there is a
  succeeded refund to post; when the refund arrives first, fetch raises ``PrerequisiteMissing`` and the
  event is retried with backoff until the sale is posted (then dead-lettered with
  ``prerequisite.missing.retries_exhausted``; ``dlq retry`` resumes it once the sale is in).
* Only ``succeeded`` refunds are posted. A pending one is left for the ``refund.updated`` that reports
  it succeeded (the event is ``ignored`` with that reason); a failed or canceled one is not money paid
  back and is ignored.
* A refund that fails after its credit memo was posted is dead-lettered with a message naming the memo,
  for the accountant to reverse in Epicor: the service never deletes or reverses posted documents itself.
* A refund that only releases an uncaptured authorisation posts nothing (no sale was ever posted).

Documents: transform builds each succeeded refund's invoice group, credit memo (header and line), cash
group and refund receipt (header and the line applying it to the memo) with the mapping engine from
``mappings/documents/refunds/*.yaml``, in the one document shape (``tasks.documents``); validate checks
them generically and post only fills in the keys Epicor assigns (GroupID, InvoiceNum, HeadNum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks import store
from tasks.context import Context
from tasks.epicor import adjustments as adjustments
from tasks.epicor.adjustments import charge_summary, lock_name, stripe_id
from tasks.epicor.schemas import validate_documents
from tasks.errors import PermanentError
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for
from tasks.mapping.refunds import sort_refunds

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
    summaries, summary = [_refund_summary(refund) for refund in refunds], charge_summary(charge)
    return {"charge": summary, "refunds": summaries, "single_refund": envelope["type"] != "charge.refunded",
            "sale": _sale_if_needed(ctx, summary, summaries)}


def _sale_if_needed(ctx: Context, charge: dict[str, Any], refunds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sale's invoice when a refund is to be posted against it (else the event waits for the sale,
    ``PrerequisiteMissing``); None when nothing is posted, so a pending or failed refund never waits."""
    if not _by_outcome(refunds)["post"]:
        return None
    return adjustments.require_sale(ctx, charge, f"Refund of Stripe payment {charge['id']}")


def _refund_summary(refund: dict[str, Any]) -> dict[str, Any]:
    metadata = refund.get("metadata") or {}
    return {"id": refund["id"], "amount": refund["amount"], "currency": refund["currency"],
            "reason": refund.get("reason"), "status": refund.get("status"), "created": refund["created"],
            "charge": stripe_id(refund.get("charge")),
            "metadata": {WRITEBACK_KEY: metadata[WRITEBACK_KEY]} if WRITEBACK_KEY in metadata else {}}


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    """Each succeeded refund's documents, oldest first, from the field mapping files."""
    by_outcome = _by_outcome(fetched["refunds"])
    not_paid = [refund["id"] for refund in by_outcome["not_paid"]] if fetched["single_refund"] else []
    if not by_outcome["post"] and not not_paid:
        raise SkipEvent("refund is pending: it is posted when Stripe reports it succeeded (refund.updated)"
                        if by_outcome["wait"] else "charge has no refund to post")
    oldest_first = sorted(by_outcome["post"], key=lambda refund: (refund["created"], refund["id"]))
    return {"charge": fetched["charge"], "sale": fetched["sale"], "not_paid": not_paid,
            "refunds": [_documents(ctx, refund, fetched) for refund in oldest_first],
            "writeback": {refund["id"]: refund["metadata"] for refund in fetched["refunds"]}}


def _by_outcome(refunds: list[dict[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Refunds by what happens to them: ``post`` (succeeded), ``wait`` (pending), ``not_paid`` (failed …)."""
    return sort_refunds(list[Mapping[str, Any]](refunds))


def _documents(ctx: Context, refund: Mapping[str, Any], fetched: dict[str, Any]) -> dict[str, Any]:
    scope = {"refund": refund, "charge": fetched["charge"], "sale": fetched["sale"]}
    return {"external_id": refund["id"],
            "documents": documents_for(ctx, "refunds", scope)}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Documents must fit Epicor and the sale's currency; reason codes must exist in Epicor."""
    if not stage_input["refunds"]:
        return stage_input
    for refund in stage_input["refunds"]:
        validate_documents(refund["documents"])
        adjustments.check_currency(refund["documents"], stage_input["sale"])
    adjustments.check_reasons(ctx, ctx.mappings.reason_type,
                              [doc["header"]["CMReason"] for refund in stage_input["refunds"]
                               for doc in refund["documents"] if doc["kind"] == "credit_memo"])
    return stage_input


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    with store.locked(lock_name(stage_input["charge"])):
        _refuse_unpaid_after_posting(ctx, stage_input["not_paid"])
        if not stage_input["refunds"]:
            raise SkipEvent("refund failed or was canceled: no money was paid back, nothing to post")
        credit_memos = [{"RefundID": refund["external_id"],
                         **adjustments.post_documents(ctx, refund["external_id"], refund["documents"])}
                        for refund in stage_input["refunds"]]
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
