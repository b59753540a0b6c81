"""Payout reports brought up to date by themselves when a late document reaches Epicor.

A payout often arrives before every sale, refund or dispute in it is posted (a sale dead-lettered
and replayed tomorrow, a refund still in its chain). Its report then shows those transactions
unmatched. Every ``PAYOUT_RECHECK_SECONDS`` (default 900) from Celery beat (task
``payouts.recheck``), and on demand (``celery -A tasks payouts recheck``), each report of the last
``PAYOUT_RECHECK_DAYS`` (30) that still has unmatched transactions is checked against Epicor: one
read-only look-up of just those references (in batches of twenty). When any of them is now there,
the payout is reconciled again (Stripe's transaction list and every Epicor look-up, as
``payouts reconcile`` does) and its report replaced; a payout that now reconciles is posted into
Epicor then (``tasks.flows.payout_posting``: its documents are found before they are created, so this
and the payout event's own retry never post it twice), one that still does not is logged as failed
and looked at again on the next run. Nothing changes, and Stripe is not called, for a
report whose missing documents are still missing. Runs never overlap (a lock); a payout that fails
to reconcile is logged and tried again on the next run.

Integration pairs (``tasks.pairs``): each pair's reports are its own (``tasks.store.key``), so each pair is
rechecked with its own Epicor company and Stripe key, under a lock of its own; the beat task goes through
every pair, one pair's trouble logged with its name and never stopping the next. A Stripe Connect
account's payout (its report names the ``account``) is read again with ``Stripe-Account`` for that account
(``for_report``), with the pair's own key and Epicor company.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tasks import celery_app, liveness, pairs, periodic, store
from tasks.context import Context, context_for
from tasks.errors import PipelineError, classify
from tasks.flows.payout_reconciliation import epicor_documents, load_report, reconcile_now
from tasks.mapping.payouts import references
from tasks.pairs import DEFAULT, get_pairs, working_for
from tasks.settings import env_int

log = logging.getLogger(__name__)


def recheck_days() -> int:
    return env_int("PAYOUT_RECHECK_DAYS", 30)


def waiting_reports(now: float, days: int) -> list[dict[str, Any]]:
    """Reports of payouts that arrived in the last ``days`` days and still have unmatched transactions."""
    ids = store.client().zrangebyscore(store.key("payouts"), now - days * 86400, "+inf")
    reports = (load_report(str(payout_id)) for payout_id in ids)
    return [report for report in reports if report and report.get("unmatched")]


def missing_references(report: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(ref for row in report["unmatched"] for ref in references(row)))


def recheck(ctx: Context, now: float | None = None) -> dict[str, Any]:
    """One pass; returns what it looked at and what it reconciled again."""
    now = time.time() if now is None else now
    summary: dict[str, Any] = {"checked": 0, "reconciled": [], "failed": []}
    for report in waiting_reports(now, recheck_days()):
        summary["checked"] += 1
        payout_id = report["payout"]
        try:
            if not epicor_documents(ctx, missing_references(report)):
                continue
            fresh = reconcile_now(for_report(ctx, report), payout_id)
        except Exception as exc:  # noqa: BLE001 - one payout's trouble must not stop the others
            error: PipelineError = classify(exc)
            log.warning("payout %s not reconciled again: %s", payout_id, error.reason)
            summary["failed"].append({"payout": payout_id, "reason": error.reason})
            continue
        log.info("payout %s reconciled again: %s, %s unmatched", payout_id, fresh.get("status"),
                 len(fresh.get("unmatched") or []))
        summary["reconciled"].append({"payout": payout_id, "status": fresh.get("status"),
                                      "unmatched": len(fresh.get("unmatched") or [])})
    return summary


def for_report(ctx: Context, report: dict[str, Any]) -> Context:
    """The context that reads ``report``'s payout from Stripe: the pair's, with ``Stripe-Account`` for the
    Connect account the report names (``tasks.context.context_for``), the pair's own account otherwise."""
    account = report.get("account")
    if not account or account == getattr(ctx.settings, "stripe_account", ""):
        return ctx
    return context_for({"pair": pairs.current.get(), "account": str(account)})


def run_locked(pair: str = DEFAULT) -> dict[str, Any] | None:
    """A pass over pair ``pair``'s reports unless another one of it is running (then None)."""
    with working_for(pair):  # its reports and its lock are the pair's
        return periodic.run_locked("payout-recheck", lambda _ctx: recheck(context_for({"pair": pair})))


def run_pairs(names: list[str] | None = None) -> dict[str, dict[str, Any] | None]:
    """A pass of each pair named (every pair by default): its summary, None when another pass of it is
    running, or {"error": reason} when it could not run (its Epicor or Stripe settings, Redis)."""
    found: dict[str, dict[str, Any] | None] = {}
    for name in names or get_pairs().names():
        try:
            found[name] = run_locked(name)
        except Exception as exc:  # noqa: BLE001 - one pair's trouble must not stop the next pair's pass
            reason = classify(exc).reason
            found[name] = {"error": reason}
            log.warning("payout recheck of pair %s failed: %s", name, reason)
    return found


@celery_app.task(name="payouts.recheck", ignore_result=True)
def run_recheck() -> None:
    """The beat task: every pair's reports."""
    liveness.note_periodic_run("payouts.recheck")  # the console's beat tile
    for name, summary in run_pairs().items():
        if summary and (summary.get("reconciled") or summary.get("failed")):
            log.info("payout recheck of pair %s: %s reports waiting, %s reconciled again, %s failed", name,
                     summary["checked"], len(summary["reconciled"]), len(summary["failed"]))
