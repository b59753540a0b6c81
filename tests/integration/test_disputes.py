"""Disputes end to end: chargeback credit and order hold while open, reversal when won, final when lost;
each step once, whatever order the events arrive in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.test_order_to_cash import CUSTOMER, documents_for, post_all_events
from tests.integration.test_refunds import (
    amount,
    assert_one_credit,
    credit_memos,
    deliver_all,
    paid_sale,
    sandbox,
)

pytestmark = pytest.mark.integration


def sale_order(dump: dict[str, Any], payment: dict[str, Any]) -> dict[str, Any]:
    return documents_for(dump, payment)["orders"][0]


def assert_one_reversal(docs: dict[str, list[dict[str, Any]]], sale_invoice: dict[str, Any], value: str) -> None:
    """One miscellaneous debit invoice of +value for the sale's customer, settled by one receipt of +value."""
    assert len(docs["invoices"]) == 1 and len(docs["receipts"]) == 1 and len(docs["applied"]) == 1
    debit, receipt = docs["invoices"][0], docs["receipts"][0]
    assert debit["CreditMemo"] is False and debit["InvoiceType"] == "Mis"
    assert debit["CustNum"] == sale_invoice["CustNum"] and amount(debit, "DocInvoiceAmt") == Decimal(value)
    assert amount(debit, "DocUnpostedBal") == 0
    assert amount(receipt, "DocTranAmt") == Decimal(value) and receipt["CheckRef"] == sale_invoice["ExternalID"]
    assert docs["applied"][0]["InvoiceNum"] == debit["InvoiceNum"]


def test_chargeback_holds_the_order_and_a_won_dispute_reverses_it_each_step_once(harness):
    payment = paid_sale(harness, "dispute-won@acme.example")
    opened = sandbox(harness, "/disputes", charge=payment["charge"]["id"], reason="fraudulent")
    dispute_id = opened["dispute"]["id"]
    records = deliver_all(harness, opened["events"], times=2)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    sale_invoice = documents_for(dump, payment)["invoices"][0]
    assert_one_credit(credit_memos(dump, dispute_id), sale_invoice, "37.00", "DISPUTE")
    order = sale_order(dump, payment)
    assert order["OrderHeld"] is True
    assert order["OrderComment"].count(f"Stripe dispute {dispute_id} opened (fraudulent): order held") == 1
    assert records[0]["epicor_keys"]["OrderHeld"] is True

    closed = sandbox(harness, f"/disputes/{dispute_id}/close", status="won")
    records = deliver_all(harness, closed["events"] + opened["events"], times=2)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    assert_one_credit(credit_memos(dump, dispute_id), sale_invoice, "37.00", "DISPUTE")
    assert_one_reversal(credit_memos(dump, f"{dispute_id}-R"), sale_invoice, "37.00")
    order = sale_order(dump, payment)
    assert order["OrderHeld"] is False and f"Stripe dispute {dispute_id} won: hold released" in order["OrderComment"]
    stored = next(d for d in harness.stripe_dump()["dispute"] if d["id"] == dispute_id)
    assert set(stored["metadata"]) == {"epicor_credit_memo_num", "epicor_reversal_invoice_num"}


def test_a_lost_dispute_is_final_and_keeps_the_order_on_hold(harness):
    payment = paid_sale(harness, "dispute-lost@acme.example", amount=4900)
    opened = sandbox(harness, "/disputes", charge=payment["charge"]["id"], reason="product_not_received")
    assert {r["state"] for r in deliver_all(harness, opened["events"])} == {"done"}
    dispute_id = opened["dispute"]["id"]
    closed = sandbox(harness, f"/disputes/{dispute_id}/close", status="lost")
    records = deliver_all(harness, closed["events"])
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    memo = assert_one_credit(credit_memos(dump, dispute_id), documents_for(dump, payment)["invoices"][0],
                             "49.00", "DISPLOST")
    assert memo["InvoiceComment"] == f"Stripe dispute {dispute_id} lost"
    assert credit_memos(dump, f"{dispute_id}-R")["invoices"] == []
    order = sale_order(dump, payment)
    assert order["OrderHeld"] is True and \
        f"Stripe dispute {dispute_id} lost: the chargeback is final" in order["OrderComment"]


def test_dispute_events_before_the_sale_and_out_of_order_end_in_the_same_books(harness):
    payment = harness.create_payment(amount=2500, currency="usd",
                                     customer={**CUSTOMER, "email": "dispute-early@acme.example"},
                                     api_version="2020-08-27")
    opened = sandbox(harness, "/disputes", charge=payment["charge"]["id"], api_version="2020-08-27")
    closed = sandbox(harness, f"/disputes/{opened['dispute']['id']}/close", status="won", api_version="2020-08-27")
    for event in reversed(opened["events"] + closed["events"]):  # closed first, created last
        assert harness.deliver(event).status_code == 200
    harness.wait_for_error(closed["events"][-1]["id"], "prerequisite.missing")
    assert {r["state"] for r in post_all_events(harness, payment)} == {"done"}
    records = harness.wait(*(e["id"] for e in opened["events"] + closed["events"]), timeout=90)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    sale_invoice = documents_for(dump, payment)["invoices"][0]
    dispute_id = opened["dispute"]["id"]
    assert_one_credit(credit_memos(dump, dispute_id), sale_invoice, "25.00", "DISPUTE")
    assert_one_reversal(credit_memos(dump, f"{dispute_id}-R"), sale_invoice, "25.00")
    assert sale_order(dump, payment)["OrderHeld"] is False


def test_an_inquiry_holds_the_order_without_moving_money_until_it_closes(harness):
    payment = paid_sale(harness, "inquiry@acme.example", amount=1200)
    opened = sandbox(harness, "/disputes", charge=payment["charge"]["id"], inquiry=True)
    assert [e["type"] for e in opened["events"]] == ["charge.dispute.created"]
    assert {r["state"] for r in deliver_all(harness, opened["events"])} == {"done"}
    dispute_id = opened["dispute"]["id"]
    dump = harness.epicor()
    assert credit_memos(dump, dispute_id)["invoices"] == []
    assert sale_order(dump, payment)["OrderHeld"] is True
    closed = sandbox(harness, f"/disputes/{dispute_id}/close", status="won")
    assert {r["state"] for r in deliver_all(harness, closed["events"])} == {"done"}
    dump = harness.epicor()
    assert credit_memos(dump, dispute_id)["invoices"] == [] and credit_memos(dump, f"{dispute_id}-R")["invoices"] == []
    assert sale_order(dump, payment)["OrderHeld"] is False
