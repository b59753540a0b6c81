"""The console's Payouts pages: each payout's reconciliation report, as an accountant closing the month reads it.

``/console/payouts`` lists the latest reports (verdict, amount, delta, unmatched count) and
``/console/payouts/<id>`` shows one: totals per currency, every balance transaction with the Epicor
document it matched, discrepancies highlighted (marked in words, not by colour alone) with the reason,
and a link to the CSV of ``/api/payouts/<id>.csv``, and what was posted into Epicor for it (each fee
adjustment and the transfer with their TranNum, or the journal; the reversal of a failed payout). The
reports are what the ``payout.paid`` flow and beat's recheck stored (``tasks.api``); these pages only
read them. Amounts are exact decimal text made from Stripe's minor units. Redis away: the page says so,
with a 200 (the console stays usable).

Integration pairs (``tasks.pairs``): each pair keeps its own reports. The list shows every pair's, with a
Pair column and a pair filter (``?pair=``) when the deployment has more than one pair; a report's page and
its CSV are the pair's named by ``?pair=`` (the default pair's without it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request

from app.api import pair_names, pairs_payout_reports
from app.console import bp, helpers  # noqa: F401  helpers: the stripe_url template global
from tasks.api import QueueUnavailable, money_text, payout_report
from tasks.pairs import DEFAULT, working_for

LIST_LIMIT = 200
MAX_ID_LENGTH = 255
TOTAL_NAMES = ("gross", "refunds", "disputes", "other", "fees", "net")


def day_text(epoch: Any) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).date().isoformat() if epoch else ""


def time_text(epoch: Any) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds") if epoch else ""


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """One line of the list: what a report says at a glance."""
    return {"payout": report["payout"], "status": report["status"], "currency": report["currency"].upper(),
            "amount": report["amount_text"], "delta": report["delta_text"], "delta_minor": report["delta"],
            "unmatched": len(report.get("unmatched") or []), "arrival": day_text(report.get("arrival_date")),
            "checked": time_text(report.get("checked_at")), "transactions": report.get("transaction_count", 0),
            "matched": report.get("matched_count", 0),
            "posting": str((report.get("reversal") or report.get("posting") or {}).get("status") or ""),
            "pair": report.get("pair") or DEFAULT}


def transaction_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**txn, "currency": txn["currency"].upper(), "amount": money_text(txn["amount"], txn["currency"]),
             "fee": money_text(txn["fee"], txn["currency"]), "net": money_text(txn["net"], txn["currency"]),
             "discrepancy": txn["matched"] is False} for txn in report.get("transactions") or []]


POSTING_WORDS = {"posted": "posted in Epicor", "waiting": "waiting: not reconciled yet, nothing posted",
                 "ready": "ready: reconciled, to be posted by hand (payouts post)",
                 "not_reconciled": "not reconciled: nothing posted", "not_configured": "not posted (no payouts.yaml)",
                 "reversed": "reversed in Epicor"}


def posting_rows(posting: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each document posted for the payout (or its reversal), as the accountant finds it in Epicor."""
    rows = []
    for doc in (posting or {}).get("documents") or []:
        kind = {"bank_adjustment": "Bank adjustment", "funds_transfer": "Funds transfer"}.get(doc["kind"], "GL journal")
        where = (f"{doc.get('BankAcctID')} group {doc.get('GroupID')}" if doc["kind"] == "bank_adjustment"
                 else f"{doc.get('from')} → {doc.get('to')}" if doc["kind"] == "funds_transfer"
                 else f"group {doc.get('GroupID') or '-'}")
        rows.append({"kind": kind, "number": doc.get("TranNum") or doc.get("JournalNum") or "",
                     "detail": doc.get("BankFeeID") and f"{doc['BankFeeID']} ({doc.get('category')})" or "",
                     "where": where, "amount": doc.get("amount") or "",
                     "reference": doc.get("TranRef") or doc.get("Description") or ""})
    return rows


def posting_view(posting: dict[str, Any] | None) -> dict[str, Any] | None:
    if not posting:
        return None
    status = str(posting.get("status") or "")
    return {"status": status, "words": POSTING_WORDS.get(status, status), "shape": posting.get("shape") or "",
            "at": time_text(posting.get("at")), "documents": posting_rows(posting)}


def chosen_pair(pairs: list[str]) -> str | None:
    """``?pair=`` when it names one of the deployment's pairs; None (every pair) otherwise."""
    pair = request.args.get("pair")
    return pair if pair in pairs else None


@bp.get("/payouts")
def payouts() -> str:
    pairs = pair_names()  # the pair filter and column are offered only when the deployment has several
    pair = chosen_pair(pairs)
    try:
        reports, unavailable = [summary(report) for report in pairs_payout_reports(pair, LIST_LIMIT)], False
    except QueueUnavailable:
        reports, unavailable = [], True
    return render_template("console/payouts.html", reports=reports, unavailable=unavailable, pairs=pairs,
                           pair=pair)


@bp.get("/payouts/<payout_id>")
def payout(payout_id: str) -> str | tuple[str, int]:
    if len(payout_id) > MAX_ID_LENGTH:
        abort(404)
    pair = chosen_pair(pair_names()) or DEFAULT
    try:
        with working_for(pair):  # the report is the pair's
            report = payout_report(payout_id)
    except QueueUnavailable:
        return render_template("console/payout.html", payout_id=payout_id, report=None, unavailable=True)
    if report is None:
        return render_template("console/payout.html", payout_id=payout_id, report=None, unavailable=False), 404
    report = {**report, "pair": pair}
    return render_template("console/payout.html", payout_id=payout_id, unavailable=False, report=summary(report),
                           totals=report.get("totals") or {}, total_names=TOTAL_NAMES,
                           other_currencies=[code.upper() for code in report.get("other_currencies") or []],
                           transactions=transaction_rows(report), posting=posting_view(report.get("posting")),
                           reversal=posting_view(report.get("reversal")))
