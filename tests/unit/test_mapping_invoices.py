"""Stripe invoice → Epicor AR invoice and receipt, for the 2020-era and the basil invoice shapes."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from tasks.documents import without_placeholders
from tasks.epicor.posting import parts_of
from tasks.epicor.schemas import validate_document
from tasks.errors import MappingError, ValidationFailed
from tasks.flows.stripe_invoice import transform_invoice
from tasks.mapping.invoices import (
    ADJUSTMENT_TEXT,
    invoice_facts,
    invoice_payment_refs,
    invoice_subscription,
    line_facts,
    line_is_proration,
    line_price_refs,
)
from tests.fixtures import flow_context, payment_fixture

BASIL_PAYMENTS = [{"id": "inpay_1RJm8tBq2cUe7XwP", "object": "invoice_payment", "amount_paid": 6600,
                   "currency": "gbp", "invoice": "in_1RJm8rBq2cUe7XwPn6Yd2aQk", "is_default": True,
                   "payment": {"type": "payment_intent", "payment_intent": "pi_3RJm8sBq2cUe7XwP"},
                   "status": "paid"}]
PRODUCTS = {"prod_IL5kTeamPlan01": {"id": "prod_IL5kTeamPlan01", "name": "Team plan",
                                    "metadata": {"epicor_part_num": "SUB-MONTHLY"}},
            "prod_SE2uAnalytics": {"id": "prod_SE2uAnalytics", "name": "Analytics seat", "metadata": {}}}


def invoice_of(name: str) -> dict[str, Any]:
    return payment_fixture(name)["data"]["object"]


def bill_for(invoice: dict[str, Any], charge: str | None, customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the fetch stage hands on: the prices are embedded (2020) or looked up (basil: none here)."""
    lines = []
    for line in invoice["lines"]["data"]:
        refs = line_price_refs(line)
        lines.append(line_facts(line, refs["price"], PRODUCTS.get(refs["product_id"])))
    customer = customer or {"id": invoice["customer"], "name": invoice["customer_name"],
                            "email": invoice["customer_email"], "phone": None, "address": invoice["customer_address"],
                            "metadata": {}}
    return {"invoice": invoice_facts(invoice), "lines": lines, "customer": customer,
            "payment": {"charge": charge, "payment_intent": None}}


def ext(line: dict[str, Any]) -> Decimal:
    return Decimal(line["SellingShipQty"]) * Decimal(line["DocUnitPrice"])


def test_2020_invoice_names_its_payment_and_subscription_at_the_top():
    invoice = invoice_of("invoice_paid_2020_08_27")
    assert invoice_subscription(invoice) == "sub_IL6pRk1bQ9vYt2"
    assert invoice_payment_refs(invoice, []) == {"charge": "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe",
                                                 "payment_intent": "pi_1HkQ2nKZ8mFq3tYbC1sN0oUv"}
    line = invoice["lines"]["data"][0]
    assert line_is_proration(line)
    assert line_price_refs(line)["price_id"] == "price_1HkP9aKZ8mFq3tYbR7k2Ws8u"
    assert line_price_refs(line)["product_id"] == "prod_IL5kTeamPlan01"


def test_basil_invoice_names_them_under_parent_and_in_invoice_payments():
    invoice = invoice_of("invoice_paid_basil")
    assert "subscription" not in invoice and "charge" not in invoice
    assert invoice_subscription(invoice) == "sub_1RJm8qBq2cUe7XwPa0T4eWc8"
    assert invoice_payment_refs(invoice, BASIL_PAYMENTS) == {"charge": None, "payment_intent": "pi_3RJm8sBq2cUe7XwP"}
    line = invoice["lines"]["data"][0]
    assert not line_is_proration(line)
    assert line_price_refs(line) == {"price_id": "price_1RJm5TBq2cUe7XwPz8d0Hk1S",
                                     "product_id": "prod_SE2uAnalytics", "price": None}


def built(bill: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stripe_invoice flow's own transform on the shipped mapping files: its output and its documents by kind."""
    output = transform_invoice(flow_context(), {**bill, "fetched_at": 0.0})
    return output, {document["kind"]: document for document in output["documents"]}


def test_proration_credit_is_a_negative_unit_price_and_the_invoice_nets_like_stripe():
    invoice = invoice_of("invoice_paid_2020_08_27")
    output, documents = built(bill_for(invoice, "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe"))
    lines = documents["ar_invoice"]["lines"]
    assert [(line["PartNum"], line["SellingShipQty"], line["DocUnitPrice"]) for line in lines] == \
        [("SUB-MONTHLY", "2", "-5.00"), ("SUB-MONTHLY", "4", "10.00")]
    assert sum(ext(line) for line in lines) == Decimal("30.00") == Decimal(output["total"])
    assert "Unused time" in lines[0]["LineDesc"]
    for line in lines:
        validate_document("billed_line", without_placeholders(line), "USD")
    with pytest.raises(ValidationFailed):  # an order line could not be negative
        validate_document("invoice_line", without_placeholders(lines[0]), "USD")


def test_subscription_invoice_is_miscellaneous_with_the_charge_as_the_receipt_reference():
    invoice = invoice_of("invoice_paid_2020_08_27")
    _, documents = built(bill_for(invoice, "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe"))
    header = documents["ar_invoice"]["header"]
    assert header["InvoiceType"] == "Mis" and "OrderNum" not in header
    assert header["ExternalID"] == "in_1HkQ2mKZ8mFq3tYbq4PzE1Rd" and header["CurrencyCode"] == "USD"
    assert header["InvoiceDate"] == "2020-11-10T00:00:00"
    receipt = documents["cash_receipt"]["header"]
    assert receipt["ExternalID"] == receipt["CheckRef"] == "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe"
    assert receipt["DocTranAmt"] == "30.00" and receipt["TranType"] == "PayInv"
    assert documents["customer"]["reference"]["match"]["external_id"] == "cus_IL6pUq9sF0ZbXc"
    validate_document("invoice_header", without_placeholders(header), "USD")
    validate_document("receipt_header", without_placeholders(receipt), "USD")


def test_tax_becomes_one_adjustment_line_and_line_metadata_picks_the_part():
    invoice = invoice_of("invoice_paid_basil")
    output, documents = built(bill_for(invoice, "ch_3RJm8sBq2cUe7XwP"))
    lines = documents["ar_invoice"]["lines"]
    assert [(line["PartNum"], line["SellingShipQty"], line["DocUnitPrice"]) for line in lines] == \
        [("STRIPE-SALE", "3", "15.00"), ("ONBOARD-1", "1", "10.00"), ("STRIPE-SALE", "1", "11.00")]
    assert lines[2]["LineDesc"] == ADJUSTMENT_TEXT
    assert sum(ext(line) for line in lines) == Decimal("66.00")
    assert documents["ar_invoice"]["currency"] == "GBP" and documents["cash_receipt"]["header"]["DocTranAmt"] == "66.00"
    assert parts_of(output["documents"]) == ["STRIPE-SALE", "ONBOARD-1"]


def test_a_price_needing_more_decimals_becomes_one_line_of_the_amount():
    invoice = copy.deepcopy(invoice_of("invoice_paid_basil"))
    invoice["lines"]["data"][0].update({"amount": 1000, "quantity": 3})
    invoice["total"] = 2000
    lines = built(bill_for(invoice, "ch_x"))[1]["ar_invoice"]["lines"]
    assert (lines[0]["SellingShipQty"], lines[0]["DocUnitPrice"]) == ("1", "10.00")
    assert lines[0]["LineDesc"].startswith("3 x ")


def test_invoice_for_an_epicor_order_is_advance_billing_against_it_with_order_lines():
    invoice = copy.deepcopy(invoice_of("invoice_paid_basil"))
    invoice["metadata"] = {"epicor_order_num": "5012", "epicor_cust_num": "233"}
    invoice["lines"]["data"][1]["metadata"].update({"epicor_order_num": "5012", "epicor_order_line": "2"})
    output, documents = built(bill_for(invoice, "ch_y"))
    header = documents["ar_invoice"]["header"]
    assert header["InvoiceType"] == "Adv" and header["OrderNum"] == 5012 and "CurrencyCode" not in header
    assert output["order_num"] == 5012
    assert [(line.get("OrderLine"), line.get("OrderNum")) for line in documents["ar_invoice"]["lines"]] == \
        [(None, None), (2, 5012), (None, None)]
    assert documents["customer"]["reference"]["match"]["cust_num"] == 233


def test_invoice_paid_outside_stripe_has_the_invoice_as_receipt_reference():
    invoice = invoice_of("invoice_paid_basil")
    receipt = built(bill_for(invoice, None))[1]["cash_receipt"]
    assert receipt["header"]["ExternalID"] == receipt["reference"]["ExternalID"] == "in_1RJm8rBq2cUe7XwPn6Yd2aQk"


def test_nothing_paid_means_no_receipt():
    invoice = copy.deepcopy(invoice_of("invoice_paid_2020_08_27"))
    invoice["lines"]["data"][1]["amount"] = 1000
    invoice.update({"total": 0, "amount_paid": 0, "amount_due": 0})
    output, documents = built(bill_for(invoice, None))
    assert [document["kind"] for document in output["documents"]] == ["customer", "invoice_group", "ar_invoice"]
    assert sum(ext(line) for line in documents["ar_invoice"]["lines"]) == 0


def test_a_line_in_another_currency_is_refused():
    invoice = copy.deepcopy(invoice_of("invoice_paid_basil"))
    invoice["lines"]["data"][0]["currency"] = "usd"
    with pytest.raises(MappingError, match="USD"):
        built(bill_for(invoice, "ch_z"))
