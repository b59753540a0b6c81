"""Payouts (``payout.paid``, ``payout.failed``, ``payout.canceled``): reconciled against Epicor, then posted.

``payout.paid``. Stages: fetch lists the payout's balance transactions from Stripe (all pages, sources
expanded); transform sorts and totals them (``tasks.mapping.payouts``) and builds the payout's Epicor
documents from ``mappings/payouts.yaml`` (fee adjustments and the transfer, or one journal:
``tasks.flows.payout_posting``); post looks the transactions' external references up in Epicor in
batches (cash receipts first, then AR invoices and credit memos; an earlier failed payout's reversal on
the bank), builds the report and, when the payout reconciles and posting is automatic, posts the
documents; a payout that does not reconcile yet waits (retried, re-checked by ``tasks.payout_recheck``)
and is dead-lettered with its unmatched transactions once the wait budget is spent. The
status-update stage stores the report, with the posted document numbers, in Redis, where the CLI
(``celery -A tasks payouts``), the console, the JSON and the CSV endpoints read it. The report is
rebuilt on every run, so a payout that arrived before its last sale was posted is brought up to date
(and posted) by running it again: ``reconcile`` by hand, or the recheck once the missing documents
are in Epicor.

``payout.failed`` / ``payout.canceled``: a payout whose transfer was posted gets the transfer back
(contract §6b); one that failed or was canceled before its transfer gets nothing (``ignored``).

Only automatic payouts can be reconciled: Stripe lists balance transactions by payout for those
alone, so a manual payout is acknowledged as ``ignored``.

A Stripe Connect account's payout (an event with ``account``) is read with ``Stripe-Account`` (``tasks.context``)
and its report names the account (``account``), so the recheck and ``payouts reconcile|post`` read that
account's payout again, not the platform's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tasks import store
from tasks.connectors.epicor import odata_literal
from tasks.context import Context
from tasks.epicor import bank as epicor_bank
from tasks.epicor import posting as epicor_docs
from tasks.flows import Flow, RetryPolicy, SkipEvent, payout_posting
from tasks.mapping.payouts import build_report, transaction_facts, wanted_references

BATCH = 20
REPORT_TTL = 60 * 60 * 24 * 400
PAYOUT_FIELDS = ("id", "amount", "currency", "arrival_date", "status", "automatic", "created")
RECEIPT_FIELDS = "ExternalID,GroupID,HeadNum,DocTranAmt,CurrencyCode"
INVOICE_FIELDS = "ExternalID,InvoiceNum,DocInvoiceAmt,CreditMemo,CurrencyCode"
ENDED = ("payout.failed", "payout.canceled")


# -- stages --------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    if envelope["type"] in ENDED:
        return _fetch_ended(ctx, envelope)
    payout = ctx.stripe.payout(envelope["object_id"])
    if payout.get("status") != "paid":
        raise SkipEvent(f"payout is {payout.get('status')}, not paid")
    if payout.get("automatic") is False:
        raise SkipEvent("manual payout: Stripe lists balance transactions only for automatic payouts")
    txns = [transaction_facts(txn) for txn in ctx.stripe.payout_transactions(payout["id"])]
    return {"payout": {name: payout.get(name) for name in PAYOUT_FIELDS}, "transactions": txns,
            "mode": envelope.get("mode", "auto")}


def _fetch_ended(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """A failed or canceled payout as Stripe has it now, with the day its money came back."""
    payout = ctx.stripe.payout(envelope["object_id"])
    if payout.get("status") not in ("failed", "canceled"):
        raise SkipEvent(f"payout is {payout.get('status')}: not failed or canceled, nothing to reverse")
    failure = payout.get("failure_balance_transaction")
    if isinstance(failure, str):
        failure = ctx.stripe.balance_transaction(failure)
    returned_at = failure.get("created") if isinstance(failure, dict) else None
    return {"payout": {name: payout.get(name) for name in PAYOUT_FIELDS}, "transactions": [],
            "ended": payout.get("status"), "returned_at": returned_at, "mode": "reverse"}


def transform(ctx: Context, snapshot: dict[str, Any]) -> dict[str, Any]:
    plan = payout_posting.build_plan(ctx, snapshot["payout"], snapshot["transactions"])
    if snapshot["mode"] == "reverse" and plan is None:
        raise SkipEvent("payouts are not posted (no payouts.yaml): nothing to reverse")
    return {**snapshot, "references": wanted_references(snapshot["transactions"]), "plan": plan}


def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    payout_posting.check_plan(stage_input["plan"])
    return stage_input


def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    if stage_input["mode"] == "reverse":
        return _reverse(ctx, stage_input)
    documents = epicor_documents(ctx, stage_input["references"])
    report = _of_account(ctx, build_report(stage_input["payout"], stage_input["transactions"], documents, time.time()))
    report["posting"] = _posting(ctx, stage_input, report)
    return {"report": report, "keys": {"payout": report["payout"], "status": report["status"],
                                       "delta": report["delta"], "unmatched": len(report["unmatched"]),
                                       "posting": report["posting"]["status"],
                                       **_document_numbers(report["posting"])}}


def _of_account(ctx: Context, report: dict[str, Any]) -> dict[str, Any]:
    """The report with the Stripe (Connect) account its payout was read from, when it is not the pair's own."""
    account = (ctx.event or {}).get("account") or ctx.settings.stripe_account
    return {**report, "account": str(account)} if account else report


def _posting(ctx: Context, stage_input: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Post a reconciled payout when its mode says so; make a payout that does not reconcile wait."""
    plan = stage_input["plan"]
    if plan is None:
        return {"status": "not_configured"}
    automatic = stage_input["mode"] == "force" or plan["post_automatically"]
    if report["status"] != "reconciled":
        if not automatic:
            return {"status": "not_reconciled", "shape": plan["shape"]}
        save_report({**report, "posting": {"status": "waiting", "shape": plan["shape"]}})
        raise payout_posting.waiting(report)
    if not automatic:
        return {"status": "ready", "shape": plan["shape"], "plan": plan}
    return payout_posting.post_reconciled(ctx, plan)


def _reverse(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    payout_id = stage_input["payout"]["id"]
    reversal = payout_posting.reverse(ctx, stage_input["plan"], stage_input["returned_at"])
    if reversal is None:
        raise SkipEvent(f"payout {stage_input['ended']} before its transfer was posted: nothing to reverse")
    report = load_report(payout_id)
    if report is not None:
        report["reversal"] = reversal
    return {"report": report, "keys": {"payout": payout_id, "posting": "reversed", **_document_numbers(reversal)}}


def _document_numbers(posting: dict[str, Any]) -> dict[str, Any]:
    documents = posting.get("documents") or []
    return {"documents": [{name: doc[name] for name in ("kind", "TranNum", "JournalNum", "category", "TranRef")
                           if name in doc} for doc in documents]} if documents else {}


def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    if stage_input.get("report"):
        save_report(stage_input["report"])
    return {"keys": stage_input["keys"]}


FLOW = Flow(name="payout_reconciliation", fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=12, backoff_base=10, backoff_max=600))


# -- Epicor look-ups -----------------------------------------------------------------------------
def epicor_documents(ctx: Context, references: list[str]) -> dict[str, dict[str, Any]]:
    """ExternalID → the Epicor document carrying it: a cash receipt, else an AR invoice / credit memo."""
    found: dict[str, dict[str, Any]] = {}
    receipts = [ref for ref in references if not ref.startswith("po_")]
    for row in _rows_with(ctx, epicor_docs.RECEIPTS, receipts, RECEIPT_FIELDS):
        found.setdefault(row["ExternalID"], {"kind": "receipt", "reference": f"{row['GroupID']}/{row['HeadNum']}",
                                             "amount": str(row.get("DocTranAmt"))})
    for ref in [ref for ref in references if ref.startswith("po_")]:
        rows = epicor_bank.rows_with(ctx, [ref])
        if rows:
            found[ref] = {"kind": "payout reversal", "reference": ", ".join(str(row.get("TranNum")) for row in rows),
                          "amount": None}
    missing = [ref for ref in references if ref not in found and not ref.startswith("po_")]
    for row in _rows_with(ctx, epicor_docs.INVOICES, missing, INVOICE_FIELDS):
        kind = "credit memo" if row.get("CreditMemo") else "invoice"
        found.setdefault(row["ExternalID"], {"kind": kind, "reference": str(row["InvoiceNum"]),
                                             "amount": str(row.get("DocInvoiceAmt"))})
    return found


def _rows_with(ctx: Context, entity: tuple[str, str], references: list[str], select: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start in range(0, len(references), BATCH):
        batch = references[start:start + BATCH]
        condition = " or ".join(f"ExternalID eq {odata_literal(ref)}" for ref in batch)
        rows.extend(ctx.epicor.query(*entity, condition, select=select))
    return rows


# -- stored reports ------------------------------------------------------------------------------
def _report_key(payout_id: str) -> str:
    return store.key("payout", payout_id)


def save_report(report: dict[str, Any]) -> None:
    """Keep the latest report of a payout (about 13 months) and index it by arrival date; a reversal
    already recorded stays on the rebuilt report."""
    client = store.client()
    previous = load_report(report["payout"])
    if previous and previous.get("reversal") and not report.get("reversal"):
        report = {**report, "reversal": previous["reversal"]}
    client.set(_report_key(report["payout"]), json.dumps(report), ex=REPORT_TTL)
    client.zadd(store.key("payouts"), {report["payout"]: float(report.get("arrival_date") or report["checked_at"])})


def load_report(payout_id: str) -> dict[str, Any] | None:
    raw = store.client().get(_report_key(payout_id))
    return json.loads(raw) if raw else None


def recent_reports(limit: int = 50) -> list[dict[str, Any]]:
    """The newest reports first (summaries without the transaction list)."""
    ids = store.client().zrevrange(store.key("payouts"), 0, limit - 1)
    reports = [load_report(str(payout_id)) for payout_id in ids]
    return [{k: v for k, v in report.items() if k != "transactions"} for report in reports if report]


def dry_run(ctx: Context, payout_id: str) -> dict[str, Any]:
    """What ``payouts post --dry-run`` shows: the report as it would be now, the plan and what of it Epicor
    already holds. Reads Stripe and Epicor, writes nothing (not even the report)."""
    stage_input: dict[str, Any] = {"type": "payout.paid", "object_id": payout_id, "mode": "dry_run"}
    for name in ("fetch", "transform", "validate"):
        stage_input = FLOW.stage(name)(ctx, stage_input)
    documents = epicor_documents(ctx, stage_input["references"])
    report = build_report(stage_input["payout"], stage_input["transactions"], documents, time.time())
    plan = stage_input["plan"]
    return {"report": report, "plan": plan,
            "documents": payout_posting.planned_documents(ctx, plan) if plan else []}


def reconcile_now(ctx: Context, payout_id: str, mode: str = "auto") -> dict[str, Any]:
    """Run the stages in this process (the CLI's ``reconcile`` and ``post``, the recheck); returns the
    stored report. ``mode``: ``auto`` posts as payouts.yaml says, ``force`` posts a reconciled payout."""
    stage_input: dict[str, Any] = {"type": "payout.paid", "object_id": payout_id, "mode": mode}
    for name in ("fetch", "transform", "validate", "post", "status_update"):
        stage_input = FLOW.stage(name)(ctx, stage_input)
    return load_report(payout_id) or {}
