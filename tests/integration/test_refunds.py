"""Refunds end to end: a refund made in the Stripe sandbox → signed events → worker → credit memo and
refund receipt in the Epicor sandbox, against the sale's invoice, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import redis

from tasks import store
from tests.integration.conftest import INTEGRATION_REDIS_URL
from tests.integration.test_order_to_cash import CUSTOMER, documents_for, post_all_events

pytestmark = pytest.mark.integration


def sandbox(harness, path: str, **body: Any) -> dict[str, Any]:
    """Run a Stripe-sandbox admin scenario (refund, dispute, failure …) and return its answer."""
    response = harness.http.post(f"{harness.stack.sandbox_url}/_sandbox/stripe{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def deliver_all(harness, events: list[dict[str, Any]], times: int = 1) -> list[dict[str, Any]]:
    for _ in range(times):
        for event in events:
            assert harness.deliver(event).status_code == 200
    return harness.wait(*(event["id"] for event in events))


def paid_sale(harness, email: str, amount: int = 3700, **spec: Any) -> dict[str, Any]:
    payment = harness.create_payment(amount=amount, currency=spec.pop("currency", "usd"),
                                     customer={**CUSTOMER, "email": email}, **spec)
    assert {r["state"] for r in post_all_events(harness, payment)} == {"done"}
    return payment


def credit_memos(dump: dict[str, Any], reference: str) -> dict[str, list[dict[str, Any]]]:
    """The AR documents, receipts and applications carrying one external reference (re_…, dp_…)."""
    invoices = [i for i in dump["ARInvoices"] if i["ExternalID"] == reference]
    numbers = {i["InvoiceNum"] for i in invoices}
    receipts = [r for r in dump["CashRecs"] if r["ExternalID"] == reference]
    heads = {(r["GroupID"], r["HeadNum"]) for r in receipts}
    return {"invoices": invoices, "lines": [d for d in dump["InvcDtls"] if d["InvoiceNum"] in numbers],
            "receipts": receipts, "applied": [d for d in dump["CashDtls"] if (d["GroupID"], d["HeadNum"]) in heads]}


def amount(row: dict[str, Any], field: str) -> Decimal:
    return Decimal(str(row[field]))


def assert_one_credit(docs: dict[str, list[dict[str, Any]]], sale_invoice: dict[str, Any], value: str,
                      reason: str) -> dict[str, Any]:
    """One credit memo of -value against the sale, settled by one refund receipt of -value."""
    assert len(docs["invoices"]) == 1 and len(docs["receipts"]) == 1 and len(docs["applied"]) == 1
    memo, receipt, applied = docs["invoices"][0], docs["receipts"][0], docs["applied"][0]
    assert memo["CreditMemo"] is True and memo["InvoiceRef"] == sale_invoice["InvoiceNum"]
    assert memo["CMReason"] == reason and memo["CustNum"] == sale_invoice["CustNum"]
    assert memo["CurrencyCode"] == sale_invoice["CurrencyCode"]
    assert [amount(line, "SellingShipQty") for line in docs["lines"]] == [-1]
    assert amount(memo, "DocInvoiceAmt") == -Decimal(value) and amount(memo, "DocUnpostedBal") == 0
    assert receipt["TranType"] == "PayInv" and amount(receipt, "DocTranAmt") == -Decimal(value)
    assert receipt["CheckRef"] == sale_invoice["ExternalID"] and receipt["CustNum"] == sale_invoice["CustNum"]
    assert applied["InvoiceNum"] == memo["InvoiceNum"] and amount(applied, "DocTranAmt") == -Decimal(value)
    return memo


def test_partial_refunds_add_up_and_a_full_refund_nets_the_sale_to_zero(harness):
    payment = paid_sale(harness, "refunds@acme.example")
    charge = payment["charge"]["id"]
    first = sandbox(harness, "/refunds", charge=charge, amount=1250, reason="requested_by_customer")
    records = deliver_all(harness, first["events"])
    assert {r["state"] for r in records} == {"done"}, records
    second = sandbox(harness, "/refunds", charge=charge, reason="duplicate")
    assert {r["state"] for r in deliver_all(harness, second["events"])} == {"done"}

    dump = harness.epicor()
    sale_invoice = documents_for(dump, payment)["invoices"][0]
    memo_1 = assert_one_credit(credit_memos(dump, first["refund"]["id"]), sale_invoice, "12.50", "CUSTREQ")
    memo_2 = assert_one_credit(credit_memos(dump, second["refund"]["id"]), sale_invoice, "24.50", "DUPL")
    assert amount(sale_invoice, "DocInvoiceAmt") + amount(memo_1, "DocInvoiceAmt") + \
        amount(memo_2, "DocInvoiceAmt") == 0
    receipts = [r for r in dump["CashRecs"] if r["CheckRef"] == charge]
    assert sum(amount(r, "DocTranAmt") for r in receipts) == 0 and len(receipts) == 3
    keys = records[0]["epicor_keys"]
    assert keys["InvoiceRef"] == sale_invoice["InvoiceNum"]
    assert keys["CreditMemos"][0]["InvoiceNum"] == memo_1["InvoiceNum"]


def test_credit_memo_number_is_written_back_to_the_refund(harness):
    payment = paid_sale(harness, "writeback-refund@acme.example", amount=1000)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"])
    records = deliver_all(harness, refund["events"])
    memo_num = records[0]["epicor_keys"]["CreditMemos"][0]["InvoiceNum"]
    stored = next(r for r in harness.stripe_dump()["refund"] if r["id"] == refund["refund"]["id"])
    assert stored["metadata"] == {"epicor_credit_memo_num": str(memo_num)}


def test_refund_before_its_sale_waits_and_is_posted_once_the_sale_is_in(harness):
    payment = harness.create_payment(amount=2000, currency="usd", customer={**CUSTOMER, "email": "early@acme.example"})
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"], amount=500)
    for event in refund["events"]:
        assert harness.deliver(event).status_code == 200
    waiting = harness.wait_for_error(refund["events"][0]["id"], "prerequisite.missing")
    assert waiting["state"] == "processing" and "not in Epicor yet" in waiting["last_error"]["message"]
    assert credit_memos(harness.epicor(), refund["refund"]["id"])["invoices"] == []

    assert {r["state"] for r in post_all_events(harness, payment)} == {"done"}
    records = harness.wait(*(event["id"] for event in refund["events"]), timeout=90)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    assert_one_credit(credit_memos(dump, refund["refund"]["id"]), documents_for(dump, payment)["invoices"][0],
                      "5.00", "OTHER")


def test_the_same_refund_through_every_event_type_and_redeliveries_is_posted_once(harness):
    payment = paid_sale(harness, "twice@acme.example", amount=4900)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"], amount=900, status="pending")
    pending = deliver_all(harness, refund["events"])
    assert {r["state"] for r in pending} == {"ignored"}
    assert any("pending" in r["reason"] for r in pending)
    assert credit_memos(harness.epicor(), refund["refund"]["id"])["invoices"] == []

    settled = sandbox(harness, f"/refunds/{refund['refund']['id']}/status", status="succeeded")
    later = sandbox(harness, "/refunds", charge=payment["charge"]["id"], amount=100)  # its charge.refunded lists both
    records = deliver_all(harness, settled["events"] + later["events"], times=3)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    sale_invoice = documents_for(dump, payment)["invoices"][0]
    assert_one_credit(credit_memos(dump, refund["refund"]["id"]), sale_invoice, "9.00", "OTHER")
    assert_one_credit(credit_memos(dump, later["refund"]["id"]), sale_invoice, "1.00", "OTHER")


@pytest.mark.parametrize(("api_version", "currency", "minor", "expected"), [
    ("2020-08-27", "usd", 2599, "25.99"), ("2025-03-31.basil", "jpy", 5000, "5000"),
    ("2024-06-20", "kwd", 12340, "12.340")])
def test_refund_events_of_every_api_version_and_currency(harness, api_version, currency, minor, expected):
    payment = paid_sale(harness, f"{currency}-refund@acme.example", amount=minor, currency=currency,
                        api_version=api_version)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"], api_version=api_version,
                     reason="fraudulent")
    assert refund["events"][0]["api_version"] == api_version
    assert {r["state"] for r in deliver_all(harness, refund["events"])} == {"done"}
    dump = harness.epicor()
    assert_one_credit(credit_memos(dump, refund["refund"]["id"]), documents_for(dump, payment)["invoices"][0],
                      expected, "FRAUD")


def test_a_refund_that_fails_before_it_is_paid_posts_nothing(harness):
    payment = paid_sale(harness, "failed-refund@acme.example", amount=1500)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"], status="pending")
    failed = sandbox(harness, f"/refunds/{refund['refund']['id']}/status", status="failed")
    records = deliver_all(harness, refund["events"] + failed["events"])
    assert {r["state"] for r in records} == {"ignored"}, records
    assert credit_memos(harness.epicor(), refund["refund"]["id"])["invoices"] == []


def test_a_refund_failing_after_its_credit_memo_was_posted_is_dead_lettered_for_the_accountant(harness):
    payment = paid_sale(harness, "late-refund-failure@acme.example", amount=1500)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"])
    posted = deliver_all(harness, refund["events"])
    memo_num = posted[0]["epicor_keys"]["CreditMemos"][0]["InvoiceNum"]
    failed = sandbox(harness, f"/refunds/{refund['refund']['id']}/status", status="failed")
    failure = next(e for e in failed["events"] if e["type"] == "refund.failed")
    record = deliver_all(harness, [failure])[0]
    assert record["state"] == "dead"
    assert record["last_error"]["reason"] == "refund.failed_after_posting"
    assert str(memo_num) in record["last_error"]["message"]
    assert len(credit_memos(harness.epicor(), refund["refund"]["id"])["invoices"]) == 1


def test_the_write_back_echo_is_harmless_even_when_the_posting_journal_is_lost(harness):
    payment = paid_sale(harness, "echo-refund@acme.example", amount=3000)
    refund = sandbox(harness, "/refunds", charge=payment["charge"]["id"], amount=1000)
    records = deliver_all(harness, refund["events"])
    memo_num = records[0]["epicor_keys"]["CreditMemos"][0]["InvoiceNum"]
    echo = next(e for e in harness.stripe_dump()["event"]
                if e["type"] == "refund.updated" and e["data"]["object"]["id"] == refund["refund"]["id"])
    assert echo["data"]["object"]["metadata"] == {"epicor_credit_memo_num": str(memo_num)}
    redis.Redis.from_url(INTEGRATION_REDIS_URL).delete(store.key("journal", refund["refund"]["id"]))
    record = deliver_all(harness, [echo])[0]
    assert record["state"] == "done" and record["epicor_keys"]["CreditMemos"][0]["InvoiceNum"] == memo_num
    dump = harness.epicor()
    assert_one_credit(credit_memos(dump, refund["refund"]["id"]), documents_for(dump, payment)["invoices"][0],
                      "10.00", "OTHER")
