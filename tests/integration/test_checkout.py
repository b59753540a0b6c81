"""Checkout end to end: a paid session posts its line items once; a session completed unpaid (a bank
debit still clearing) posts nothing until `checkout.session.async_payment_succeeded`, then posts once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.test_order_to_cash import CUSTOMER, assert_one_set, documents_for
from tests.integration.test_refunds import deliver_all, sandbox

pytestmark = pytest.mark.integration

LINES = [{"product_name": "Widget", "product_metadata": {"epicor_part_num": "WIDGET-100"}, "unit_amount": 1250,
          "quantity": 2},
         {"product_name": "Gadget", "product_metadata": {"epicor_part_num": "GADGET-200"}, "unit_amount": 4900,
          "quantity": 1}]


def order_lines(dump, payment) -> list[tuple[str, Decimal, Decimal]]:
    return sorted((d["PartNum"], Decimal(str(d["SellingQuantity"])), Decimal(str(d["DocUnitPrice"])))
                  for d in documents_for(dump, payment)["order_lines"])


def test_a_paid_session_alone_posts_its_line_items_once(harness):
    payment = harness.create_payment(currency="usd", customer={**CUSTOMER, "email": "session-only@acme.example"},
                                     line_items=LINES)
    session_event = next(e for e in payment["events"] if e["type"] == "checkout.session.completed")
    records = deliver_all(harness, [session_event], times=2)
    assert {r["state"] for r in records} == {"done"}, records
    records = deliver_all(harness, payment["events"])
    assert {r["state"] for r in records} == {"done"}
    dump = harness.epicor()
    assert_one_set(documents_for(dump, payment), "74.00", "USD")
    assert order_lines(dump, payment) == [("GADGET-200", 1, Decimal("49.00")), ("WIDGET-100", 2, Decimal("12.50"))]


def test_an_unpaid_session_is_ignored_and_the_async_payment_succeeded_posts_once(harness):
    started = sandbox(harness, "/checkout/async", currency="usd", line_items=LINES,
                      customer={**CUSTOMER, "email": "bank-debit@acme.example"})
    assert started["checkout_session"]["payment_status"] == "unpaid"
    records = {r["id"]: r for r in deliver_all(harness, started["events"])}
    completed = next(e for e in started["events"] if e["type"] == "checkout.session.completed")
    assert records[completed["id"]]["state"] == "ignored" and "not paid" in records[completed["id"]]["reason"]
    assert {r["state"] for r in records.values()} == {"ignored"}
    assert documents_for(harness.epicor(), started)["orders"] == []

    settled = sandbox(harness, f"/checkout/{started['checkout_session']['id']}/settle", outcome="succeeded")
    assert [e["type"] for e in settled["events"]] == ["charge.succeeded", "payment_intent.succeeded",
                                                      "checkout.session.async_payment_succeeded"]
    records = deliver_all(harness, settled["events"] + [completed], times=2)
    assert {r["state"] for r in records[:3]} == {"done"}, records
    dump = harness.epicor()
    assert_one_set(documents_for(dump, settled), "74.00", "USD")
    assert order_lines(dump, settled) == [("GADGET-200", 1, Decimal("49.00")), ("WIDGET-100", 2, Decimal("12.50"))]


def test_a_returned_bank_debit_after_checkout_posts_nothing(harness):
    started = sandbox(harness, "/checkout/async", amount=3000, currency="usd",
                      customer={**CUSTOMER, "email": "returned-checkout@acme.example"})
    returned = sandbox(harness, f"/checkout/{started['checkout_session']['id']}/settle", outcome="failed")
    records = deliver_all(harness, started["events"] + returned["events"])
    assert {r["state"] for r in records} == {"ignored"}, records
    assert documents_for(harness.epicor(), started)["orders"] == []
