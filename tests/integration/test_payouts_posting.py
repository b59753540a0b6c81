"""Payouts posted into Epicor end to end (contract §6b), over HTTP with the real worker and the sandbox.

Each test pays out sales (with a refund and a chargeback where it matters), delivers ``payout.paid``
twice, and reads the sandbox's bank registers: one adjustment per fee category with its Bank Fee ID on
the clearing bank, one transfer clearing → operating, amounts to the cent in the currency's decimals, and
the clearing bank netting to zero over the payout (its receipts in, the fees and the transfer out).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.test_order_to_cash import post_all_events
from tests.integration.test_refunds import deliver_all, sandbox
from tests.integration.test_subscriptions import admin, customer

pytestmark = pytest.mark.integration


def register(harness, bank: str, reference: str) -> dict[str, Any]:
    answer = harness.http.get(f"{harness.stack.sandbox_url}/_sandbox/epicor/bank/{bank}",
                              params={"TranRef": reference}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def paid_sale(harness, label: str, amount: int, currency: str) -> dict[str, Any]:
    payment = harness.create_payment(amount=amount, currency=currency, customer=customer(label))
    assert {r["state"] for r in post_all_events(harness, payment)} == {"done"}
    return payment


def pay_out(harness, currency: str, sources: list[str]) -> dict[str, Any]:
    return admin(harness, "payouts", {"currency": currency, "sources": sources})


def deliver_payout_twice(harness, payout: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    event = next(e for e in payout["events"] if e["type"] == "payout.paid")
    assert harness.deliver(event).status_code == 200
    assert harness.deliver(event).status_code == 200
    record = harness.wait(event["id"], timeout=timeout)[0]
    assert record["state"] == "done", record
    return record


def expected_fees(payout: dict[str, Any]) -> dict[str, int]:
    """Per Bank Fee ID, what §6b's table sums over the sandbox's transactions (card, dispute, fx, other)."""
    fees = {"STRFEE": 0, "DISPFEE": 0, "FXFEE": 0, "OTHFEE": 0}
    for txn in payout["balance_transactions"]:
        if txn["type"] == "payout":
            continue
        if txn["type"] == "stripe_fx_fee":
            fees["FXFEE"] -= txn["amount"]
        elif txn["reporting_category"] in ("fee", "tax"):
            fees["OTHFEE"] -= txn["amount"]
        else:
            key = "DISPFEE" if txn["reporting_category"] in ("dispute", "dispute_reversal") else "STRFEE"
            fees[key] += sum(detail["amount"] for detail in txn["fee_details"])
    return {fee_id: total for fee_id, total in fees.items() if total}


def assert_posted_once(harness, payout: dict[str, Any], exponent: int) -> None:
    """One adjustment per fee category, one transfer, to the cent; the clearing bank nets to zero."""
    po, unit = payout["payout"]["id"], Decimal(1).scaleb(-exponent)
    clearing, operating = register(harness, "MAIN", po), register(harness, "OPER", po)
    adjustments = [row for row in clearing["rows"] if row.get("BankFeeID")]
    assert {row["BankFeeID"]: Decimal(str(row["DocTranAmt"])) for row in adjustments} == {
        fee_id: -Decimal(total) * unit for fee_id, total in expected_fees(payout).items()}
    assert len(adjustments) == len(expected_fees(payout))
    transfers = operating["rows"]
    assert len(transfers) == 1
    assert Decimal(str(transfers[0]["DocTranAmt"])) == Decimal(payout["payout"]["amount"]) * unit
    gross = sum(txn["amount"] for txn in payout["balance_transactions"]
                if txn["type"] != "payout" and txn["reporting_category"] not in ("fee", "tax"))
    currency = payout["payout"]["currency"].upper()
    # Receipts (and a failed payout's reversal) put the gross in, each matched by the report; the payout's
    # own rows (fees, fee transactions and the transfer) take exactly that out again.
    assert Decimal(str(clearing["balance"][currency])) == -Decimal(gross) * unit


def test_a_usd_payout_with_sales_a_refund_and_a_chargeback_is_posted_once(harness):
    first, second = paid_sale(harness, "pp-usd1", 12000, "usd"), paid_sale(harness, "pp-usd2", 4500, "usd")
    refund = sandbox(harness, "/refunds", charge=first["charge"]["id"], amount=2000, reason="requested_by_customer")
    dispute = sandbox(harness, "/disputes", charge=second["charge"]["id"], reason="fraudulent")
    assert {r["state"] for r in deliver_all(harness, refund["events"] + dispute["events"])} == {"done"}
    fx_fee = admin(harness, "fees", {"type": "stripe_fx_fee", "amount": 123, "currency": "usd"})
    payout = pay_out(harness, "usd", [first["charge"]["id"], second["charge"]["id"], refund["refund"]["id"],
                                      dispute["dispute"]["id"], fx_fee["balance_transaction"]["id"]])
    assert set(expected_fees(payout)) == {"STRFEE", "DISPFEE", "FXFEE"}
    record = deliver_payout_twice(harness, payout)
    assert record["epicor_keys"]["posting"] == "posted"
    assert_posted_once(harness, payout, exponent=2)

    po = payout["payout"]["id"]
    page = harness.http.get(f"{harness.stack.web_url}/api/payouts/{po}", timeout=10).json()
    numbers = {doc["TranNum"] for doc in page["posting"]["documents"]}
    assert numbers == {row["TranNum"] for row in register(harness, "MAIN", po)["rows"]}


def test_a_jpy_payout_under_epicor_faults_is_posted_once_in_whole_yen(harness):
    sales = [paid_sale(harness, f"pp-jpy{n}", amount, "jpy") for n, amount in enumerate((5000, 12345))]
    payout = pay_out(harness, "jpy", [sale["charge"]["id"] for sale in sales])
    harness.epicor_faults(error_rate=0.1, commit_then_timeout_rate=0.15, timeout_seconds=11, seed=15)
    try:
        deliver_payout_twice(harness, payout, timeout=300)
    finally:
        harness.epicor_faults(error_rate=0.0, commit_then_timeout_rate=0.0)
    assert_posted_once(harness, payout, exponent=0)
    adjustment = next(row for row in register(harness, "MAIN", payout["payout"]["id"])["rows"] if row.get("BankFeeID"))
    assert Decimal(str(adjustment["DocTranAmt"])) == Decimal(str(adjustment["DocTranAmt"])).to_integral_value()


def test_a_payout_before_its_last_sale_waits_and_is_posted_when_the_sale_arrives(harness, stack):
    from celery import Celery

    posted = paid_sale(harness, "pp-late1", 3000, "usd")
    late = harness.create_payment(amount=4200, currency="usd", customer=customer("pp-late2"))
    payout = pay_out(harness, "usd", [posted["charge"]["id"], late["charge"]["id"]])
    po = payout["payout"]["id"]
    event = next(e for e in payout["events"] if e["type"] == "payout.paid")
    assert harness.deliver(event).status_code == 200
    waiting = harness.wait_for_error(event["id"], "prerequisite.missing")
    assert late["charge"]["id"] in waiting["last_error"]["message"]
    assert register(harness, "MAIN", po)["rows"] == [] and register(harness, "OPER", po)["rows"] == []

    assert {r["state"] for r in post_all_events(harness, late)} == {"done"}
    Celery(broker=stack.redis_url).send_task("payouts.recheck", queue="pipeline")  # what beat sends
    deadline = time.monotonic() + 90
    while not register(harness, "OPER", po)["rows"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert_posted_once(harness, payout, exponent=2)
    assert harness.wait(event["id"], timeout=120)[0]["state"] == "done"  # its own retry finds it all done
    assert_posted_once(harness, payout, exponent=2)


def test_a_failed_payout_after_posting_is_transferred_back_once_and_the_next_payout_still_posts(harness):
    sale = paid_sale(harness, "pp-fail1", 8800, "usd")
    payout = pay_out(harness, "usd", [sale["charge"]["id"]])
    deliver_payout_twice(harness, payout)
    po, amount = payout["payout"]["id"], Decimal(payout["payout"]["amount"]) / 100
    failed = admin(harness, f"payouts/{po}/fail", {"failure_code": "account_closed"})
    event = next(e for e in failed["events"] if e["type"] == "payout.failed")
    for _ in range(2):
        assert harness.deliver(event).status_code == 200
    assert harness.wait(event["id"])[0]["state"] == "done"
    back = register(harness, "MAIN", f"{po}-R")["rows"]
    assert [Decimal(str(row["DocTranAmt"])) for row in back] == [amount]  # one transfer back, into clearing
    assert [Decimal(str(row["DocTranAmt"])) for row in register(harness, "OPER", f"{po}-R")["rows"]] == [-amount]
    assert len([row for row in register(harness, "MAIN", po)["rows"] if row.get("BankFeeID")]) == 1  # fees stay
    report = harness.http.get(f"{harness.stack.web_url}/api/payouts/{po}", timeout=10).json()
    assert report["reversal"]["documents"][0]["TranRef"] == f"{po}-R"

    # The money comes back in the next payout as a payout_failure without a receipt: the reversal stands for it.
    later = paid_sale(harness, "pp-fail2", 2500, "usd")
    returned = failed["balance_transactions"][0]["id"]
    second = pay_out(harness, "usd", [later["charge"]["id"], returned])
    assert {txn["type"] for txn in second["balance_transactions"]} == {"charge", "payout_failure", "payout"}
    deliver_payout_twice(harness, second)
    assert_posted_once(harness, second, exponent=2)


def test_a_payout_failed_before_it_was_posted_gets_nothing(harness):
    unposted = harness.create_payment(amount=1500, currency="usd", customer=customer("pp-fail3"))
    payout = pay_out(harness, "usd", [unposted["charge"]["id"]])
    po = payout["payout"]["id"]
    failed = admin(harness, f"payouts/{po}/fail", {"failure_code": "no_account"})
    event = next(e for e in failed["events"] if e["type"] == "payout.failed")
    assert harness.deliver(event).status_code == 200
    record = harness.wait(event["id"])[0]
    assert record["state"] == "ignored", record
    assert register(harness, "MAIN", f"{po}-R")["rows"] == [] and register(harness, "OPER", po)["rows"] == []
