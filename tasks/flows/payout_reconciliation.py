"""Payout reconciliation (``payout.paid``): every balance transaction of the payout against Epicor.

Stages: fetch lists the payout's balance transactions from Stripe (all pages, sources expanded);
transform sorts and totals them (``tasks.mapping.payouts``); post looks their external references
up in Epicor in batches (cash receipts first, then AR invoices and credit memos), read-only; the
status-update stage stores the report in Redis, where the CLI (``python -m tasks.payouts_cli``), the
JSON and the CSV endpoints read it. The report is rebuilt on every run, so a payout that arrived
before its last sale was posted is brought up to date by running it again: ``reconcile`` by hand,
or ``tasks.payout_recheck`` from beat once the missing documents are in Epicor.

Only automatic payouts can be reconciled: Stripe lists balance transactions by payout for those
alone, so a manual payout is acknowledged as ``ignored``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tasks import store
from tasks.connectors.epicor import odata_literal
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.payouts import build_report, transaction_facts, wanted_references

BATCH = 20
REPORT_TTL = 60 * 60 * 24 * 400
PAYOUT_FIELDS = ("id", "amount", "currency", "arrival_date", "status", "automatic", "created")
RECEIPT_FIELDS = "ExternalID,GroupID,HeadNum,DocTranAmt,CurrencyCode"
INVOICE_FIELDS = "ExternalID,InvoiceNum,DocInvoiceAmt,CreditMemo,CurrencyCode"


# -- stages --------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    payout = ctx.stripe.payout(envelope["object_id"])
    if payout.get("status") != "paid":
        raise SkipEvent(f"payout is {payout.get('status')}, not paid")
    if payout.get("automatic") is False:
        raise SkipEvent("manual payout: Stripe lists balance transactions only for automatic payouts")
    txns = [transaction_facts(txn) for txn in ctx.stripe.payout_transactions(payout["id"])]
    return {"payout": {name: payout.get(name) for name in PAYOUT_FIELDS}, "transactions": txns}


def transform(ctx: Context, snapshot: dict[str, Any]) -> dict[str, Any]:
    return {**snapshot, "references": wanted_references(snapshot["transactions"])}


def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    return stage_input


def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    documents = epicor_documents(ctx, stage_input["references"])
    report = build_report(stage_input["payout"], stage_input["transactions"], documents, time.time())
    return {"report": report, "keys": {"payout": report["payout"], "status": report["status"],
                                       "delta": report["delta"], "unmatched": len(report["unmatched"])}}


def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    save_report(stage_input["report"])
    return {"keys": stage_input["keys"]}


FLOW = Flow(name="payout_reconciliation", fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=12, backoff_base=10, backoff_max=600))


# -- Epicor look-ups -----------------------------------------------------------------------------
def epicor_documents(ctx: Context, references: list[str]) -> dict[str, dict[str, Any]]:
    """ExternalID → the Epicor document carrying it: a cash receipt, else an AR invoice / credit memo."""
    found: dict[str, dict[str, Any]] = {}
    for row in _rows_with(ctx, epicor_docs.RECEIPTS, references, RECEIPT_FIELDS):
        found.setdefault(row["ExternalID"], {"kind": "receipt", "reference": f"{row['GroupID']}/{row['HeadNum']}",
                                             "amount": str(row.get("DocTranAmt"))})
    missing = [ref for ref in references if ref not in found]
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
    """Keep the latest report of a payout (about 13 months) and index it by arrival date."""
    client = store.client()
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


def reconcile_now(ctx: Context, payout_id: str) -> dict[str, Any]:
    """Run the stages in this process (the CLI's ``reconcile``); returns the stored report."""
    stage_input: dict[str, Any] = {"type": "payout.paid", "object_id": payout_id}
    for name in ("fetch", "transform", "validate", "post", "status_update"):
        stage_input = FLOW.stage(name)(ctx, stage_input)
    return load_report(payout_id) or {}
