"""Subscription and other Stripe invoices end to end: signed events → worker → Epicor over HTTP.

Scenarios come from the Stripe sandbox's admin routes, which create consistent subscriptions,
invoices, payments and events in the basil (2025-03-31) or the 2020-08-27 shape.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PLAN = {"product_name": "Monthly support", "product_metadata": {"epicor_part_num": "SUB-MONTHLY"},
        "unit_amount": 2000, "quantity": 2}
EPICOR_AUTH = {"Authorization": "Basic " + base64.b64encode(b"manager:manager").decode(),
               "x-api-key": "sandbox-api-key", "Content-Type": "application/json"}


def customer(label: str) -> dict[str, Any]:
    return {"name": f"Subscriber {label}", "email": f"{label}@subscriber.example", "phone": "+1 555 0142",
            "address": {"line1": "9 Harbour Road", "city": "Boston", "state": "MA", "postal_code": "02110",
                        "country": "US"}}


def admin(harness, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = harness.http.post(f"{harness.stack.sandbox_url}/_sandbox/stripe/{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def deliver_all(harness, events: list[dict[str, Any]], times: int = 1) -> dict[str, dict[str, Any]]:
    for _ in range(times):
        for event in events:
            assert harness.deliver(event).status_code == 200
    records = harness.wait(*(event["id"] for event in events))
    return {event["type"] + ":" + event["id"]: record for event, record in zip(events, records)}


def states(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {key.split(":")[0]: record["state"] for key, record in records.items()}


def invoice_documents(dump: dict[str, Any], invoice_id: str) -> dict[str, list[dict[str, Any]]]:
    invoices = [row for row in dump["ARInvoices"] if row["ExternalID"] == invoice_id]
    numbers = {row["InvoiceNum"] for row in invoices}
    return {"invoices": invoices,
            "lines": sorted((d for d in dump["InvcDtls"] if d["InvoiceNum"] in numbers),
                            key=lambda d: d["InvoiceLine"]),
            "applied": [d for d in dump["CashDtls"] if d["InvoiceNum"] in numbers]}


def receipts_with(dump: dict[str, Any], external_id: str) -> list[dict[str, Any]]:
    return [row for row in dump["CashRecs"] if row["ExternalID"] == external_id]


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def epicor_customer(dump: dict[str, Any], stripe_id: str) -> list[dict[str, Any]]:
    return [row for row in dump["Customers"] if row["ExternalID"] == stripe_id]


@pytest.mark.parametrize("api_version", ["2025-03-31.basil", "2020-08-27"])
def test_first_subscription_invoice_gives_a_misc_invoice_and_an_applied_receipt(harness, api_version):
    started = admin(harness, "subscriptions", {"api_version": api_version, "customer": customer(api_version[:4]),
                                               "items": [PLAN]})
    records = deliver_all(harness, started["events"])
    assert states(records)["invoice.paid"] == "done"
    assert states(records)["charge.succeeded"] == "ignored"  # the invoice flow owns this payment
    assert states(records)["payment_intent.succeeded"] == "ignored"
    dump = harness.epicor()
    docs = invoice_documents(dump, started["invoice"]["id"])
    assert len(docs["invoices"]) == 1
    invoice = docs["invoices"][0]
    assert invoice["InvoiceType"] == "Mis" and not invoice["OrderNum"]
    assert money(invoice["DocInvoiceAmt"]) == Decimal("40.00") and money(invoice["DocUnpostedBal"]) == 0
    assert [(d["PartNum"], money(d["SellingShipQty"]), money(d["DocUnitPrice"])) for d in docs["lines"]] == \
        [("SUB-MONTHLY", 2, Decimal("20.00"))]
    charge_id = next(e for e in started["events"] if e["type"] == "charge.succeeded")["data"]["object"]["id"]
    receipts = receipts_with(dump, charge_id)
    assert len(receipts) == 1 and money(receipts[0]["DocTranAmt"]) == Decimal("40.00")
    assert len(docs["applied"]) == 1 and money(docs["applied"][0]["DocTranAmt"]) == Decimal("40.00")
    intent_id = next(e for e in started["events"] if e["type"] == "payment_intent.succeeded")["data"]["object"]["id"]
    assert not [o for o in dump["SalesOrders"] if o["IntExternalKey"] == intent_id]
    customers = epicor_customer(dump, started["customer"]["id"])
    assert len(customers) == 1 and invoice["CustNum"] == customers[0]["CustNum"]
    assert "active" in customers[0]["Comment"] and not customers[0]["CreditHold"]


@pytest.mark.parametrize("api_version", ["2025-03-31.basil", "2020-08-27"])
def test_proration_invoice_nets_the_credit_line_against_the_new_terms(harness, api_version):
    started = admin(harness, "subscriptions", {"api_version": api_version, "customer": customer(f"pr{api_version[:4]}"),
                                               "items": [PLAN]})
    deliver_all(harness, started["events"])
    changed = admin(harness, f"subscriptions/{started['subscription']['id']}/update",
                    {"api_version": api_version, "quantity": 3, "remaining": 0.5})
    records = deliver_all(harness, changed["events"])
    assert states(records)["invoice.paid"] == "done"
    docs = invoice_documents(harness.epicor(), changed["invoice"]["id"])
    lines = [(money(d["SellingShipQty"]), money(d["DocUnitPrice"]), money(d["DocExtPrice"])) for d in docs["lines"]]
    assert lines == [(2, Decimal("-10.00"), Decimal("-20.00")), (3, Decimal("10.00"), Decimal("30.00"))]
    assert money(docs["invoices"][0]["DocInvoiceAmt"]) == Decimal("10.00")
    assert money(docs["invoices"][0]["DocUnpostedBal"]) == 0
    assert "Unused time" in docs["lines"][0]["LineDesc"]


def test_invoice_events_delivered_three_times_post_one_invoice_and_one_receipt(harness):
    started = admin(harness, "subscriptions", {"customer": customer("dup"), "items": [PLAN]})
    paid = [e for e in started["events"] if e["type"] in ("invoice.paid", "invoice.payment_succeeded")]
    records = deliver_all(harness, paid, times=3)
    assert {record["state"] for record in records.values()} == {"done"}
    assert all(int(record["deliveries"]) == 3 for record in records.values())
    dump = harness.epicor()
    docs = invoice_documents(dump, started["invoice"]["id"])
    assert len(docs["invoices"]) == 1 and len(docs["lines"]) == 1 and len(docs["applied"]) == 1
    charge_id = next(e for e in started["events"] if e["type"] == "charge.succeeded")["data"]["object"]["id"]
    assert len(receipts_with(dump, charge_id)) == 1


def test_subscription_updated_before_created_and_a_failed_renewal_hold_then_release_the_customer(harness):
    started = admin(harness, "subscriptions", {"customer": customer("order"), "items": [PLAN]})
    created = next(e for e in started["events"] if e["type"] == "customer.subscription.created")
    renewal = admin(harness, f"subscriptions/{started['subscription']['id']}/renew", {"fail": True})
    past_due = next(e for e in renewal["events"] if e["type"] == "customer.subscription.updated")
    failed = next(e for e in renewal["events"] if e["type"] == "invoice.payment_failed")
    records = deliver_all(harness, [past_due, created, failed])  # .updated arrives before .created
    assert {record["state"] for record in records.values()} == {"done"}
    customers = epicor_customer(harness.epicor(), started["customer"]["id"])
    assert len(customers) == 1
    assert customers[0]["CreditHold"] is True and "past_due" in customers[0]["Comment"]
    assert harness.deliver(created).json()["status"] == "duplicate"

    paid = admin(harness, f"invoices/{renewal['invoice']['id']}/pay", {})
    records = deliver_all(harness, paid["events"])
    assert states(records)["invoice.paid"] == "done"
    customers = epicor_customer(harness.epicor(), started["customer"]["id"])
    assert customers[0]["CreditHold"] is False and "active" in customers[0]["Comment"]


def test_hold_set_by_an_accountant_is_not_released_by_a_payment(harness):
    started = admin(harness, "subscriptions", {"customer": customer("manualhold"), "items": [PLAN]})
    deliver_all(harness, started["events"])
    cust_num = epicor_customer(harness.epicor(), started["customer"]["id"])[0]["CustNum"]
    url = (f"{harness.stack.sandbox_url}/KineticSandbox/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/"
           f"Customers('EPIC06',{cust_num})")
    assert harness.http.patch(url, json={"CreditHold": True}, headers=EPICOR_AUTH, timeout=10).status_code == 204
    renewed = admin(harness, f"subscriptions/{started['subscription']['id']}/renew", {})
    deliver_all(harness, renewed["events"])
    assert epicor_customer(harness.epicor(), started["customer"]["id"])[0]["CreditHold"] is True


def epicor_post(harness, service: str, entity_set: str, row: dict[str, Any]) -> dict[str, Any]:
    url = f"{harness.stack.sandbox_url}/KineticSandbox/api/v2/odata/EPIC06/{service}/{entity_set}"
    response = harness.http.post(url, json=row, headers=EPICOR_AUTH, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def stripe_post(harness, path: str, params: dict[str, str]) -> dict[str, Any]:
    response = harness.http.post(f"{harness.stack.sandbox_url}/v1/{path}", data=params, timeout=10,
                                 headers={"Authorization": "Bearer sk_test_sandbox"})
    assert response.status_code == 200, response.text
    return response.json()


def test_invoice_raised_for_an_epicor_order_lands_on_that_order(harness):
    epicor_customer_row = epicor_post(harness, "Erp.BO.CustomerSvc", "Customers",
                                      {"CustID": "ORDINV1", "Name": "Order Invoice Ltd", "CurrencyCode": "USD"})
    cust_num = epicor_customer_row["CustNum"]
    order = epicor_post(harness, "Erp.BO.SalesOrderSvc", "SalesOrders",
                        {"CustNum": cust_num, "OrderDate": "2026-11-02T00:00:00", "CurrencyCode": "USD",
                         "PONum": "PO-77"})
    order_num = order["OrderNum"]
    epicor_post(harness, "Erp.BO.SalesOrderSvc", "OrderDtls",
                {"OrderNum": order_num, "OrderLine": 1, "PartNum": "WIDGET-100", "LineDesc": "Widget",
                 "SellingQuantity": 4, "DocUnitPrice": 12.5, "SalesUM": "EA"})
    stripe_customer = stripe_post(harness, "customers", {"name": "Order Invoice Ltd",
                                                         "email": "ap@orderinvoice.example",
                                                         "metadata[epicor_cust_num]": str(cust_num)})
    invoice = stripe_post(harness, "invoices", {
        "customer": stripe_customer["id"], "collection_method": "send_invoice", "days_until_due": "30",
        "currency": "usd", "metadata[epicor_order_num]": str(order_num), "metadata[epicor_cust_num]": str(cust_num)})
    stripe_post(harness, "invoiceitems", {
        "customer": stripe_customer["id"], "invoice": invoice["id"], "quantity": "4", "unit_amount": "1250",
        "currency": "usd", "description": "Widget", "metadata[epicor_order_num]": str(order_num),
        "metadata[epicor_order_line]": "1", "metadata[epicor_part_num]": "WIDGET-100"})
    stripe_post(harness, f"invoices/{invoice['id']}/finalize", {})
    stripe_post(harness, f"invoices/{invoice['id']}/send", {})
    paid = admin(harness, f"invoices/{invoice['id']}/pay", {"api_version": "2025-03-31.basil"})
    records = deliver_all(harness, paid["events"])
    assert states(records)["invoice.paid"] == "done"
    dump = harness.epicor()
    docs = invoice_documents(dump, invoice["id"])
    assert len(docs["invoices"]) == 1
    assert docs["invoices"][0]["InvoiceType"] == "Adv" and docs["invoices"][0]["OrderNum"] == order_num
    assert docs["invoices"][0]["CustNum"] == cust_num
    assert [(d["OrderLine"], d["PartNum"], money(d["DocExtPrice"])) for d in docs["lines"]] == \
        [(1, "WIDGET-100", Decimal("50.00"))]
    assert money(docs["invoices"][0]["DocUnpostedBal"]) == 0
    assert len([o for o in dump["SalesOrders"] if o["CustNum"] == cust_num]) == 1
    assert receipts_with(dump, paid["charge"]["id"])[0]["CustNum"] == cust_num
    stripe_invoice = next(i for i in harness.stripe_dump()["invoice"] if i["id"] == invoice["id"])
    assert stripe_invoice["metadata"]["epicor_invoice_num"] == str(docs["invoices"][0]["InvoiceNum"])


def test_invoice_paid_outside_stripe_gets_a_receipt_referencing_the_invoice(harness):
    started = admin(harness, "subscriptions", {"customer": customer("oob"), "items": [PLAN]})
    deliver_all(harness, started["events"])
    stripe_customer = started["customer"]["id"]
    invoice = stripe_post(harness, "invoices", {"customer": stripe_customer, "currency": "usd",
                                                "collection_method": "send_invoice", "days_until_due": "14"})
    stripe_post(harness, "invoiceitems", {"customer": stripe_customer, "invoice": invoice["id"],
                                          "unit_amount": "1500", "currency": "usd", "description": "Set-up fee"})
    paid = admin(harness, f"invoices/{invoice['id']}/pay", {"paid_out_of_band": True})
    records = deliver_all(harness, [e for e in paid["events"] if e["type"] == "invoice.paid"])
    assert {record["state"] for record in records.values()} == {"done"}
    dump = harness.epicor()
    docs = invoice_documents(dump, invoice["id"])
    assert [d["PartNum"] for d in docs["lines"]] == ["STRIPE-SALE"]
    receipts = receipts_with(dump, invoice["id"])
    assert len(receipts) == 1 and money(receipts[0]["DocTranAmt"]) == Decimal("15.00")
