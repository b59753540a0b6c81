"""Payout reconciliation end to end: payout.paid → report in Redis → JSON, CSV and the CLI."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import ROOT
from tests.integration.test_order_to_cash import post_all_events
from tests.integration.test_subscriptions import PLAN, admin, customer, deliver_all

CELERY = str(Path(sys.executable).parent / "celery")

pytestmark = pytest.mark.integration


def paid_out(harness, currency: str, sources: list[str], *, reconciles: bool = True, **extra: Any) -> dict[str, Any]:
    """Pay out and deliver ``payout.paid``: done (reconciled and posted), or waiting for what is missing
    (retried, its report already stored)."""
    payout = admin(harness, "payouts", {"currency": currency, "sources": sources, **extra})
    event = next(e for e in payout["events"] if e["type"] == "payout.paid")
    assert harness.deliver(event).status_code == 200
    if reconciles:
        record = harness.wait(event["id"])[0]
        assert record["state"] == "done", record
    else:
        harness.wait_for_error(event["id"], "prerequisite.missing")
    return payout


def report_of(harness, payout_id: str) -> dict[str, Any]:
    response = harness.http.get(f"{harness.stack.web_url}/api/payouts/{payout_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_payout_of_posted_sales_and_a_subscription_reconciles_to_the_cent(harness):
    sales = [harness.create_payment(amount=amount, currency="eur", customer=customer(f"po{amount}"))
             for amount in (1999, 5000)]
    for sale in sales:
        post_all_events(harness, sale)
    started = admin(harness, "subscriptions", {"currency": "eur", "customer": customer("posub"), "items": [PLAN]})
    deliver_all(harness, started["events"])
    subscription_charge = next(e for e in started["events"] if e["type"] == "charge.succeeded")["data"]["object"]
    sources = [sale["charge"]["id"] for sale in sales] + [subscription_charge["id"]]
    payout = paid_out(harness, "eur", sources)
    report = report_of(harness, payout["payout"]["id"])
    txns = [t for t in payout["balance_transactions"] if t["type"] != "payout"]
    assert report["status"] == "reconciled", report["unmatched"]
    assert report["delta"] == 0 and report["matched_count"] == 3
    totals = report["totals"]["eur"]
    assert totals["gross"] == sum(t["amount"] for t in txns) == 1999 + 5000 + 4000
    assert totals["fees"] == sum(t["fee"] for t in txns)
    assert totals["net"] == sum(t["net"] for t in txns) == payout["payout"]["amount"]
    assert Decimal(totals["net_text"]) == Decimal(payout["payout"]["amount"]) / 100


def test_payout_with_an_unposted_sale_and_a_wrong_amount_is_a_mismatch_in_json_csv_and_cli(harness, stack):
    posted = harness.create_payment(amount=1200, currency="gbp", customer=customer("mm1"))
    post_all_events(harness, posted)
    unposted = harness.create_payment(amount=3300, currency="gbp", customer=customer("mm2"))
    payout = paid_out(harness, "gbp", [posted["charge"]["id"], unposted["charge"]["id"]], reconciles=False,
                      adjustment=-100)
    payout_id = payout["payout"]["id"]
    report = report_of(harness, payout_id)
    assert report["status"] == "mismatch"
    assert report["delta"] == -100 and report["delta_text"] == "-1.00"
    assert [t["source"] for t in report["unmatched"]] == [unposted["charge"]["id"]]

    answer = harness.http.get(f"{harness.stack.web_url}/api/payouts/{payout_id}.csv", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    unmatched = [r for r in rows if r["record"] == "transaction" and r["matched"] == "no"]
    assert [r["source"] for r in unmatched] == [unposted["charge"]["id"]]
    net = next(r for r in rows if r["record"] == "total" and r["category"] == "net")
    assert Decimal(net["amount"]) == Decimal(payout["payout"]["amount"] + 100) / 100

    for command in ([sys.executable, "-m", "tasks.payouts_cli"], [CELERY, "-A", "tasks", "payouts"]):
        cli = subprocess.run([*command, "show", payout_id], cwd=ROOT, env=stack.env(), capture_output=True,
                             text=True, timeout=60, check=False)
        assert cli.returncode == 1, cli.stderr
        assert "MISMATCH" in cli.stdout and unposted["charge"]["id"] in cli.stdout

    post_all_events(harness, unposted)  # the late sale is posted; re-running now matches it
    cli = subprocess.run([sys.executable, "-m", "tasks.payouts_cli", "reconcile", payout_id, "--json"], cwd=ROOT,
                         env=stack.env(), capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 1, cli.stderr  # still a mismatch: the payout is 1.00 short
    assert '"unmatched": []' in cli.stdout


def test_unknown_payout_is_404(harness):
    response = harness.http.get(f"{harness.stack.web_url}/api/payouts/po_never", timeout=10)
    assert response.status_code == 404


def test_a_late_sale_is_matched_by_the_worker_s_recheck_without_anyone_asking(harness, stack):
    from celery import Celery

    late = harness.create_payment(amount=2100, currency="gbp", customer=customer("late1"))
    payout = paid_out(harness, "gbp", [late["charge"]["id"]], reconciles=False)
    payout_id = payout["payout"]["id"]
    assert [t["source"] for t in report_of(harness, payout_id)["unmatched"]] == [late["charge"]["id"]]

    post_all_events(harness, late)  # the sale reaches Epicor after the payout was reconciled
    sender = Celery(broker=stack.redis_url)
    sender.send_task("payouts.recheck", queue="pipeline")  # what beat sends every PAYOUT_RECHECK_SECONDS
    deadline = time.monotonic() + 60
    while (report := report_of(harness, payout_id))["unmatched"] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert report["unmatched"] == [] and report["status"] == "reconciled", report
