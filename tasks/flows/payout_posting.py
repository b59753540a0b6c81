"""Posting a reconciled payout into Epicor, and reversing a failed one (contract §6b); used by the
``payout_reconciliation`` flow's stages, the CLI and the recheck.

Policy:

* **Only what reconciles is posted.** A payout is posted when its report is ``reconciled`` (every
  charge, refund and dispute has its Epicor document, an earlier failed payout's money back has its
  reversal, and Stripe's net equals the payout amount). Otherwise the event waits
  (``PrerequisiteMissing``: retried with the flow's backoff, and re-checked by ``tasks.payout_recheck``
  when the missing documents arrive); when the wait budget is spent it is dead-lettered with the
  unmatched transactions listed. Nothing is ever posted partly.
* **Automatic or by hand.** ``post_automatically`` in payouts.yaml; otherwise the report says the payout
  is ready and ``celery -A tasks payouts post po_…`` posts it.
* **One at a time.** Posting and reversing a payout hold the payout's lock; the documents are found by
  their reference before each create (``tasks.epicor.bank``, ``tasks.epicor.journal``), so a retry, a
  redelivery or a second worker completes a half-posted payout and never duplicates a document.
* **Failed payouts.** ``payout.failed`` after the transfer was made transfers the amount back
  (``po_…-R``), dated the day Stripe returned the money; fees stay. Failed or canceled before the
  transfer: nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tasks import store
from tasks.context import Context
from tasks.epicor import bank, journal
from tasks.errors import PrerequisiteMissing, ValidationFailed
from tasks.mapping.dates import epicor_date
from tasks.mapping.payout_settings import PayoutSettings, load_payout_settings  # noqa: F401 - re-used by the CLI
from tasks.mapping.payouts import fee_totals

MAX_LISTED = 20


def payout_settings(ctx: Context) -> PayoutSettings:
    return load_payout_settings(ctx.settings.mappings_dir, ctx.mappings.bank_account)


def build_plan(ctx: Context, payout: Mapping[str, Any], txns: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The payout's documents in the configured shape; None when payouts.yaml is absent (report only)."""
    settings = payout_settings(ctx)
    if not settings.configured:
        return None
    own = [txn for txn in txns if txn.get("currency") == str(payout["currency"]).lower()]
    fees = fee_totals(own)
    shape = journal if settings.shape == "journal" else bank
    return {**shape.plan(payout, fees, settings, ctx.mappings.currency_code(str(payout["currency"]))),
            "fees_minor": fees, "amount_minor": int(payout["amount"]),
            "post_automatically": settings.post_automatically}


def check_plan(plan: Mapping[str, Any] | None) -> None:
    """What Epicor would refuse, refused before a call: a non-positive transfer, an unbalanced journal."""
    if plan is None:
        return
    if plan["shape"] == "journal" and not journal.balanced(plan):
        raise ValidationFailed(f"journal of payout {plan['payout']} does not balance", reason="payout.unbalanced")
    if plan["shape"] == "bank" and not float(plan["transfer"]["amount"]) > 0:
        raise ValidationFailed(f"payout {plan['payout']} has no positive amount to transfer", reason="payout.amount")
    if plan["shape"] == "bank" and not plan["operating"]:
        raise ValidationFailed("payouts.yaml names no operating bank for this currency", reason="payout.config")


def post_reconciled(ctx: Context, plan: Mapping[str, Any]) -> dict[str, Any]:
    """Create what is missing of a reconciled payout's documents, under the payout's lock."""
    with store.locked(lock_name(plan["payout"])):
        posted = journal.post_plan(ctx, plan) if plan["shape"] == "journal" else bank.post_plan(ctx, plan)
    return {"status": "posted", "shape": plan["shape"], "documents": posted["documents"], "at": time.time()}


def planned_documents(ctx: Context, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan's documents, each with what Epicor already holds (``created`` False: there; None: would be
    created); read-only, for a dry run."""
    if plan["shape"] == "journal":
        header = journal.open_header(ctx, plan["Description"])
        there = header is not None or journal.posted_exists(ctx, plan["Description"])
        return [{"kind": "journal", "Description": plan["Description"], "GroupID": plan["group"],
                 "JournalNum": (header or {}).get("JournalNum"), "created": False if there else None,
                 "lines": plan["lines"]}]
    done = bank.progress(plan, bank.rows_with(ctx, [plan["payout"]]))
    documents = [{"kind": "bank_adjustment", "category": adj["category"], "BankFeeID": adj["BankFeeID"],
                  "BankAcctID": plan["clearing"], "GroupID": plan["group"], "amount": adj["DocTranAmt"],
                  "TranNum": done["fees"][adj["category"]],
                  "created": False if done["fees"][adj["category"]] is not None else None}
                 for adj in plan["adjustments"]]
    return [*documents, {"kind": "funds_transfer", "TranRef": plan["payout"], "from": plan["clearing"],
                         "to": plan["operating"], "amount": plan["transfer"]["amount"], "TranNum": done["transfer"],
                         "created": False if done["transfer"] is not None else None}]


def waiting(report: Mapping[str, Any]) -> PrerequisiteMissing:
    """The wait (and, once the budget is spent, the dead letter) naming what is missing."""
    unmatched = report.get("unmatched") or []
    listed = "; ".join(f"{txn['id']} {txn['category']} {txn.get('source') or '-'}: {txn['note']}"
                       for txn in unmatched[:MAX_LISTED])
    more = f" (and {len(unmatched) - MAX_LISTED} more)" if len(unmatched) > MAX_LISTED else ""
    delta = f"; Stripe's net differs from the payout amount by {report['delta_text']} {report['currency'].upper()}" \
        if report.get("delta") else ""
    foreign = f"; transactions in {', '.join(report['other_currencies']).upper()} do not net to zero" \
        if report.get("other_currencies") else ""
    return PrerequisiteMissing(f"Payout {report['payout']} does not reconcile yet, so nothing is posted: "
                               f"{len(unmatched)} transactions unmatched{': ' + listed if listed else ''}{more}"
                               f"{delta}{foreign}", retry_after=None)


def reverse(ctx: Context, plan: Mapping[str, Any], returned_at: int | None) -> dict[str, Any] | None:
    """The failed payout's reversal, or None when its transfer was never made (nothing to reverse)."""
    date = epicor_date(int(returned_at or time.time()), ctx.mappings.timezone)
    with store.locked(lock_name(plan["payout"])):
        if plan["shape"] == "journal":
            posted = _reverse_journal(ctx, plan, date)
        else:
            posted = bank.post_reversal(ctx, plan, date)
    if posted is None:
        return None
    return {"status": "reversed", "shape": plan["shape"], "documents": posted["documents"], "at": time.time()}


def _reverse_journal(ctx: Context, plan: Mapping[str, Any], date: str) -> dict[str, Any] | None:
    description = plan["payout"]
    if journal.open_header(ctx, description) is None and not journal.posted_exists(ctx, description):
        return None
    amount = int(plan["amount_minor"])
    return journal.post_plan(ctx, journal.reversal_plan(plan, payout_settings(ctx), amount, date))


def lock_name(payout_id: str) -> str:
    return f"payout:{payout_id}"
