"""Order-to-cash end to end: signed Stripe events → real worker → sandbox Epicor over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CUSTOMER = {"name": "Acme Trading Ltd", "email": "ap@acme.example", "phone": "+1 555 0100",
            "address": {"line1": "1 Market Street", "line2": "Suite 400", "city": "San Francisco",
                        "state": "CA", "postal_code": "94105", "country": "US"}}


def documents_for(dump: dict[str, Any], payment: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every Epicor row that carries one payment's Stripe ids."""
    intent, charge = payment["payment_intent"]["id"], payment["charge"]["id"]
    orders = [o for o in dump["SalesOrders"] if o["IntExternalKey"] == intent]
    order_nums = {o["OrderNum"] for o in orders}
    invoices = [i for i in dump["ARInvoices"] if i["ExternalID"] == charge]
    invoice_nums = {i["InvoiceNum"] for i in invoices}
    receipts = [r for r in dump["CashRecs"] if r["ExternalID"] == charge]
    heads = {(r["GroupID"], r["HeadNum"]) for r in receipts}
    return {
        "orders": orders, "order_lines": [d for d in dump["OrderDtls"] if d["OrderNum"] in order_nums],
        "invoices": invoices, "invoice_lines": [d for d in dump["InvcDtls"] if d["InvoiceNum"] in invoice_nums],
        "receipts": receipts, "applied": [d for d in dump["CashDtls"] if (d["GroupID"], d["HeadNum"]) in heads],
    }


def post_all_events(harness, payment: dict[str, Any], times: int = 1) -> list[dict[str, Any]]:
    for _ in range(times):
        for event in payment["events"]:
            assert harness.deliver(event).status_code == 200
    return harness.wait(*(event["id"] for event in payment["events"]))


def assert_one_set(docs: dict[str, list[dict[str, Any]]], amount: str, currency: str) -> None:
    assert len(docs["orders"]) == 1
    assert len(docs["invoices"]) == 1 and docs["invoices"][0]["InvoiceType"] == "Adv"
    assert len(docs["receipts"]) == 1 and docs["receipts"][0]["TranType"] == "PayInv"
    assert len(docs["applied"]) == 1
    order, invoice, receipt = docs["orders"][0], docs["invoices"][0], docs["receipts"][0]
    assert order["CurrencyCode"] == currency and receipt["CurrencyCode"] == currency
    assert Decimal(str(order["DocOrderAmt"])) == Decimal(amount)
    assert Decimal(str(invoice["DocInvoiceAmt"])) == Decimal(amount)
    assert Decimal(str(receipt["DocTranAmt"])) == Decimal(amount)
    assert Decimal(str(docs["applied"][0]["DocTranAmt"])) == Decimal(amount)
    assert Decimal(str(invoice["DocUnpostedBal"])) == 0
    assert invoice["OrderNum"] == order["OrderNum"]
    assert docs["applied"][0]["InvoiceNum"] == invoice["InvoiceNum"]


def test_usd_checkout_payment_gives_one_customer_order_invoice_and_applied_receipt(harness):
    payment = harness.create_payment(
        amount=3700, currency="usd", customer=CUSTOMER, checkout=True,
        line_items=[{"product_name": "Widget", "product_metadata": {"epicor_part_num": "WIDGET-100"},
                     "unit_amount": 1250, "quantity": 2},
                    {"product_name": "Gadget", "product_metadata": {"epicor_part_num": "GADGET-200"},
                     "unit_amount": 1200, "quantity": 1}])
    records = post_all_events(harness, payment)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    docs = documents_for(dump, payment)
    assert_one_set(docs, "37.00", "USD")
    lines = sorted((d["PartNum"], Decimal(str(d["SellingQuantity"])), Decimal(str(d["DocUnitPrice"])))
                   for d in docs["order_lines"])
    assert lines == [("GADGET-200", 1, Decimal("12.00")), ("WIDGET-100", 2, Decimal("12.50"))]
    customers = [c for c in dump["Customers"] if c["ExternalID"] == payment["customer"]["id"]]
    assert len(customers) == 1
    customer = customers[0]
    assert customer["Name"] == "Acme Trading Ltd" and customer["EMailAddress"] == "ap@acme.example"
    assert (customer["Address1"], customer["City"], customer["State"], customer["Zip"]) == \
        ("1 Market Street", "San Francisco", "CA", "94105")
    assert len(customer["CustID"]) <= 10
    assert docs["orders"][0]["CustNum"] == customer["CustNum"]
    keys = records[0]["epicor_keys"]
    assert keys["OrderNum"] == docs["orders"][0]["OrderNum"]


def test_order_and_invoice_numbers_are_written_back_to_stripe(harness):
    payment = harness.create_payment(amount=1250, currency="usd", customer=CUSTOMER)
    records = post_all_events(harness, payment)
    keys = records[0]["epicor_keys"]
    stripe = harness.stripe_dump()
    for collection, object_id in (("payment_intent", payment["payment_intent"]["id"]),
                                  ("charge", payment["charge"]["id"])):
        obj = next(o for o in stripe[collection] if o["id"] == object_id)
        assert obj["metadata"]["epicor_order_num"] == str(keys["OrderNum"])
        assert obj["metadata"]["epicor_invoice_num"] == str(keys["InvoiceNum"])


@pytest.mark.parametrize(("currency", "minor", "expected"), [
    ("usd", 2599, "25.99"), ("jpy", 5000, "5000"), ("kwd", 12340, "12.340")])
def test_amounts_follow_the_currency_exponent(harness, currency, minor, expected):
    payment = harness.create_payment(amount=minor, currency=currency,
                                     customer={**CUSTOMER, "email": f"{currency}@acme.example"})
    records = post_all_events(harness, payment)
    assert {r["state"] for r in records} == {"done"}, records
    assert_one_set(documents_for(harness.epicor(), payment), expected, currency.upper())


def test_three_deliveries_of_every_event_post_once(harness):
    payment = harness.create_payment(amount=4900, currency="usd", customer={**CUSTOMER, "email": "dup@acme.example"})
    first = post_all_events(harness, payment, times=3)
    assert {r["state"] for r in first} == {"done"}
    assert all(int(r["deliveries"]) == 3 for r in first)
    assert_one_set(documents_for(harness.epicor(), payment), "49.00", "USD")


def test_second_payment_of_the_same_customer_reuses_the_customer(harness):
    first = harness.create_payment(amount=1000, currency="usd", customer={**CUSTOMER, "email": "repeat@acme.example"})
    post_all_events(harness, first)
    second = harness.create_payment(amount=2000, currency="usd", customer=first["customer"]["id"])
    post_all_events(harness, second)
    dump = harness.epicor()
    customers = [c for c in dump["Customers"] if c["ExternalID"] == first["customer"]["id"]]
    assert len(customers) == 1
    orders = [o for o in dump["SalesOrders"] if o["CustNum"] == customers[0]["CustNum"]]
    assert len(orders) == 2
    assert_one_set(documents_for(dump, second), "20.00", "USD")


def test_guest_payment_is_posted_to_a_customer_found_by_email(harness):
    first = harness.create_payment(amount=1500, currency="usd", customer=None,
                                   billing_details={"name": "Guest Buyer", "email": "guest@shop.example",
                                                    "address": {"line1": "9 Elm", "city": "Austin",
                                                                "state": "TX", "postal_code": "73301",
                                                                "country": "US"}})
    second = harness.create_payment(amount=2500, currency="usd", customer=None,
                                    billing_details={"name": "Guest Buyer", "email": "guest@shop.example"})
    post_all_events(harness, first)
    post_all_events(harness, second)
    dump = harness.epicor()
    guests = [c for c in dump["Customers"] if c["EMailAddress"] == "guest@shop.example"]
    assert len(guests) == 1
    assert_one_set(documents_for(dump, second), "25.00", "USD")


def test_a_later_event_of_a_posted_payment_finishes_without_calling_stripe_or_epicor(harness):
    payment = harness.create_payment(amount=1800, currency="usd", customer={**CUSTOMER, "email": "later@acme.example"})
    charge_event, intent_event = (next(e for e in payment["events"] if e["type"] == kind)
                                  for kind in ("charge.succeeded", "payment_intent.succeeded"))
    assert harness.deliver(charge_event).status_code == 200
    (first,) = harness.wait(charge_event["id"])
    assert first["state"] == "done"
    sandbox = harness.stack.sandbox_url
    stripe_calls = len(harness.http.get(f"{sandbox}/_sandbox/stripe/requests", timeout=5).json()["requests"])
    epicor_calls = harness.http.get(f"{sandbox}/_sandbox/epicor/stats", timeout=5).json()["total"]
    assert harness.deliver(intent_event).status_code == 200
    (second,) = harness.wait(intent_event["id"])
    assert second["state"] == "done" and second["epicor_keys"] == first["epicor_keys"]
    assert second["reason"] == "already posted by another event of the same payment"
    assert len(harness.http.get(f"{sandbox}/_sandbox/stripe/requests", timeout=5).json()["requests"]) == stripe_calls
    assert harness.http.get(f"{sandbox}/_sandbox/epicor/stats", timeout=5).json()["total"] == epicor_calls
    assert_one_set(documents_for(harness.epicor(), payment), "18.00", "USD")


def test_a_payment_after_the_accountant_posted_the_day_s_groups_goes_into_the_groups_opened_again(harness):
    before = harness.create_payment(amount=1900, currency="usd", customer={**CUSTOMER, "email": "posted@acme.example"})
    assert {r["state"] for r in post_all_events(harness, before)} == {"done"}
    docs = documents_for(harness.epicor(), before)
    invoice_group, cash_group = docs["invoices"][0]["GroupID"], docs["receipts"][0]["GroupID"]
    for set_name, group_id in (("InvcGrps", invoice_group), ("CashGrps", cash_group)):
        answer = harness.http.post(f"{harness.stack.sandbox_url}/_sandbox/epicor/groups/{set_name}/{group_id}/post",
                                   timeout=10)
        assert answer.status_code == 200, answer.text

    # The worker still believes both groups exist (it caches that for hours): Epicor refuses the
    # documents, the worker sees the groups are gone, opens them again and posts there.
    after = harness.create_payment(amount=2300, currency="usd", customer={**CUSTOMER, "email": "posted@acme.example"})
    records = post_all_events(harness, after)
    assert {r["state"] for r in records} == {"done"}, records
    dump = harness.epicor()
    docs_after = documents_for(dump, after)
    assert_one_set(docs_after, "23.00", "USD")
    assert docs_after["invoices"][0]["GroupID"] == invoice_group and not docs_after["invoices"][0]["Posted"]
    assert docs_after["receipts"][0]["GroupID"] == cash_group and not docs_after["receipts"][0]["Posted"]
    assert any(g["GroupID"] == invoice_group for g in dump["InvcGrps"])
    assert any(g["GroupID"] == cash_group for g in dump["CashGrps"])
    posted_before = documents_for(dump, before)
    assert posted_before["invoices"][0]["Posted"] and posted_before["receipts"][0]["Posted"]
