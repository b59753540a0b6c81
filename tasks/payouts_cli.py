"""``celery -A tasks payouts`` (or ``python -m tasks.payouts_cli``): payout reconciliation reports.

    list                       the latest payouts with their verdict
    show PO_ID [--json|--csv]  one payout: totals per currency, delta, unmatched transactions
    reconcile PO_ID            rebuild the report now (after late postings), then show it
    recheck                    reconcile again every recent payout whose missing documents are now in
                               Epicor (what the worker's beat task does every PAYOUT_RECHECK_SECONDS)
    post PO_ID [--dry-run]     post one reconciled payout into Epicor now (mappings/payouts.yaml, even
                               when post_automatically is false); --dry-run shows the documents it would
                               create and those already in Epicor, and writes nothing

Reads the reports the ``payout.paid`` flow stores in Redis (``REDIS_URL``); ``reconcile`` and ``post``
also need the Stripe and Epicor settings, like the worker. Exit status 0 when the payout is reconciled
(``post``: posted), 1 when it is not, 2 when there is no report (``post``: nothing to post).

Every command takes ``--pair NAME`` (``tasks.pairs``): that integration pair's reports, its Stripe key and
its Epicor company. Without it, ``show``, ``reconcile`` and ``post`` are the pair ``default``'s, ``list``
and ``recheck`` every pair's. An unknown pair is refused (exit 2).

A Stripe Connect account's payout: ``reconcile`` and ``post`` read it with ``Stripe-Account`` for the account
its stored report names, or ``--account acct_…`` (one of the pair's ``connect_accounts``; another is
refused, exit 2) for a payout that has no report yet.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tasks.context import context_for
from tasks.errors import PipelineError, PrerequisiteMissing
from tasks.flows import SkipEvent
from tasks.flows import payout_reconciliation as flow
from tasks.flows.payout_reconciliation import load_report, recent_reports, reconcile_now
from tasks.mapping.payouts import TOTALS, report_csv
from tasks.pairs import DEFAULT, get_pairs, working_for


def _known_pair(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and get_pairs().get(value) is None:
        raise click.BadParameter(f"no pair named {value} (pairs: {', '.join(get_pairs().names())})")
    return value


PAIR_OPTION = click.option("--pair", default=None, metavar="NAME", callback=_known_pair,
                           help="The integration pair (tasks.pairs) whose payouts these are.")


ACCOUNT_OPTION = click.option("--account", default=None, metavar="ACCT",
                              help="The Stripe Connect account the payout belongs to (one the pair lists); "
                                   "by default the account its stored report names, else the pair's own.")


def _context(pair: str | None, name: str, payout_id: str, account: str | None = None) -> Any:
    """The worker's context of ``pair`` (its Stripe key and Epicor company) for a command on one payout, with
    ``Stripe-Account`` for a Connect account's payout (``--account``, else its stored report's account).
    Called as the pair (``working_for``), so the stored report read is the pair's."""
    if account and account not in _connect_accounts(pair or DEFAULT):
        raise click.BadParameter(f"{account} is not a Connect account of pair {pair or DEFAULT}",
                                 param_hint="--account")
    account = account or str((load_report(payout_id) or {}).get("account") or "")
    return context_for({"id": f"cli-{name}-{payout_id}", "type": "payout.paid", "object_id": payout_id,
                        "pair": pair or DEFAULT, **({"account": account} if account else {})})


def _connect_accounts(pair: str) -> tuple[str, ...]:
    found = get_pairs().get(pair)
    return found.connect_accounts if found else ()


def _print_report(report: dict[str, Any]) -> None:
    click.echo(f"Payout {report['payout']}: {report['amount_text']} {report['currency'].upper()} — "
               f"{report['status'].upper()} (delta {report['delta_text']})")
    click.echo(f"{report['transaction_count']} transactions, {report['matched_count']} matched in Epicor")
    click.echo(f"{'CURRENCY':<9}" + "".join(f"{name.upper():>14}" for name in TOTALS))
    for code, line in report["totals"].items():
        click.echo(f"{code.upper():<9}" + "".join(f"{line[name + '_text']:>14}" for name in TOTALS))
    for code in report.get("other_currencies") or []:
        click.echo(f"  {code.upper()} transactions do not net to zero and are not in the payout's currency")
    if report["unmatched"]:
        click.echo("Unmatched:")
    for txn in report["unmatched"]:
        click.echo(f"  {txn['id']} {txn['category']:<8} {txn['source'] or '-':<30} {txn['amount']:>10} {txn['note']}")
    _print_posting(report.get("posting") or {}, "Epicor")
    _print_posting(report.get("reversal") or {}, "Reversal")


def _print_posting(posting: dict[str, Any], title: str) -> None:
    if posting:
        click.echo(f"{title}: {posting.get('status')} ({posting.get('shape') or '-'} shape)")
    for doc in posting.get("documents") or []:
        click.echo("  " + document_line(doc))


def document_line(doc: dict[str, Any]) -> str:
    """One posted (or planned) document as an accountant finds it in Epicor."""
    number = doc.get("TranNum") or doc.get("JournalNum") or "-"
    new = {"True": "created", "False": "already there", "None": "to create"}[str(doc.get("created"))]
    if doc["kind"] == "bank_adjustment":
        return (f"bank adjustment {doc['BankAcctID']} TranNum {number} {doc['BankFeeID']} ({doc['category']}) "
                f"{doc['amount']} group {doc['GroupID']} {new}")
    if doc["kind"] == "funds_transfer":
        return (f"funds transfer {doc['from']} -> {doc['to']} TranNum {number} {doc['amount']} "
                f"ref {doc['TranRef']} {new}")
    return f"journal {doc.get('Description')} JournalNum {number} group {doc.get('GroupID') or '-'} {new}"


def _show(report: dict[str, Any] | None, as_json: bool, as_csv: bool) -> None:
    if report is None:
        click.echo("No report for this payout (not received yet, or not paid).", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif as_csv:
        click.echo(report_csv(report), nl=False)
    else:
        _print_report(report)
    sys.exit(0 if report["status"] == "reconciled" else 1)


@click.group(name="payouts", help="Payout reconciliation reports: list | show PO_ID | reconcile PO_ID | recheck"
                                   " | post PO_ID (each with --pair NAME)")
def main() -> None:
    """Command group."""


@main.command("list", help="The latest payouts, newest first (every pair's unless --pair).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@PAIR_OPTION
def list_command(limit: int, as_json: bool, pair: str | None) -> None:
    names = [pair] if pair else get_pairs().names()
    reports = pairs_reports(names, limit)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
        return
    if not reports:
        click.echo("No payout reports yet.")
    for report in reports:
        shown = f"{report['pair']:<12} " if len(names) > 1 else ""  # a single-pair service: as before
        click.echo(f"{shown}{report['payout']:<32} {report['amount_text']:>14} {report['currency'].upper():<4} "
                   f"{report['status']:<11} delta {report['delta_text']:>10}  unmatched {len(report['unmatched'])}")


def pairs_reports(names: list[str], limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` reports of the pairs ``names``, each with its ``pair``, newest arrival first."""
    found = []
    for name in names:
        with working_for(name):
            found += [{**report, "pair": name} for report in recent_reports(limit)]
    found.sort(key=lambda report: float(report.get("arrival_date") or report.get("checked_at") or 0), reverse=True)
    return found[:limit]


@main.command("show", help="One payout's report.")
@click.argument("payout_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the report as CSV.")
@PAIR_OPTION
def show_command(payout_id: str, as_json: bool, as_csv: bool, pair: str | None) -> None:
    with working_for(pair):
        report = load_report(payout_id)
    _show(report, as_json, as_csv)


@main.command("reconcile", help="Rebuild one payout's report now, then show it.")
@click.argument("payout_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the report as CSV.")
@PAIR_OPTION
@ACCOUNT_OPTION
def reconcile_command(payout_id: str, as_json: bool, as_csv: bool, pair: str | None, account: str | None) -> None:
    with working_for(pair):
        report = _reconcile(_context(pair, "reconcile", payout_id, account), payout_id)
    _show(report or None, as_json, as_csv)


def _reconcile(ctx: Any, payout_id: str) -> dict[str, Any]:
    try:
        return reconcile_now(ctx, payout_id)
    except SkipEvent as skipped:
        click.echo(f"Not reconciled: {skipped}", err=True)
        sys.exit(2)
    except PrerequisiteMissing as waiting:  # posted automatically, once it reconciles: the report is stored
        click.echo(f"Not posted: {waiting.message}", err=True)
        return load_report(payout_id) or {}


@main.command("recheck", help="Reconcile again every recent payout whose missing documents are now in Epicor.")
@click.option("--json", "as_json", is_flag=True, help="Print what was checked and reconciled as JSON.")
@PAIR_OPTION
def recheck_command(as_json: bool, pair: str | None) -> None:
    from tasks.payout_recheck import run_pairs

    found = run_pairs([pair] if pair else None)
    if as_json:  # one pair's summary as it always was; several pairs' by name
        click.echo(json.dumps(found[pair or DEFAULT] if len(found) == 1 else found, indent=2))
    else:
        for name, summary in found.items():
            _print_recheck(name if len(found) > 1 else "", summary)
    sys.exit(1 if any(summary is None or "error" in summary for summary in found.values()) else 0)


def _print_recheck(name: str, summary: dict[str, Any] | None) -> None:
    title = f"Pair {name}: " if name else ""
    if summary is None:
        click.echo(f"{title}Another recheck is running.", err=True)
        return
    if "error" in summary:
        click.echo(f"{title}not rechecked: {summary['error']}")
        return
    click.echo(f"{title}{summary['checked']} payouts with unmatched transactions checked; "
               f"{len(summary['reconciled'])} reconciled again, {len(summary['failed'])} failed.")
    for done in summary["reconciled"]:
        click.echo(f"  {done['payout']}: {done['status']}, {done['unmatched']} unmatched")
    for failed in summary["failed"]:
        click.echo(f"  {failed['payout']}: not reconciled ({failed['reason']})")


@main.command("post", help="Post one reconciled payout into Epicor now (or show what it would post).")
@click.argument("payout_id")
@click.option("--dry-run", is_flag=True, help="Show the documents it would create; write nothing.")
@PAIR_OPTION
@ACCOUNT_OPTION
def post_command(payout_id: str, dry_run: bool, pair: str | None, account: str | None) -> None:
    with working_for(pair):  # its report, journal and locks are the pair's
        report = _post(_context(pair, "post", payout_id, account), payout_id, dry_run)
    if report is None:
        return
    _print_report(report)
    sys.exit(0 if (report.get("posting") or {}).get("status") == "posted" else 1)


def _post(ctx: Any, payout_id: str, dry_run: bool) -> dict[str, Any] | None:
    try:
        if dry_run:
            _print_dry_run(flow.dry_run(ctx, payout_id))
            return None
        return reconcile_now(ctx, payout_id, mode="force")
    except SkipEvent as skipped:
        click.echo(f"Nothing to post: {skipped}", err=True)
        sys.exit(2)
    except PipelineError as error:
        click.echo(f"Not posted: {error.message}", err=True)
        sys.exit(1)


def _print_dry_run(result: dict[str, Any]) -> None:
    report, plan = result["report"], result["plan"]
    click.echo(f"Payout {report['payout']}: {report['amount_text']} {report['currency'].upper()} — "
               f"{report['status'].upper()} (delta {report['delta_text']}); nothing is written (dry run)")
    for txn in report["unmatched"]:
        click.echo(f"  unmatched {txn['id']} {txn['source'] or '-'}: {txn['note']}")
    if plan is None:
        click.echo("No payouts.yaml: payouts are reported, never posted.")
        return
    verb = "would post" if report["status"] == "reconciled" else "would post once it reconciles"
    click.echo(f"It {verb} ({plan['shape']} shape, dated {plan['date'][:10]}):")
    for doc in result["documents"]:
        click.echo("  " + document_line(doc))


if __name__ == "__main__":
    main()
