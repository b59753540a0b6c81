"""The order-to-cash transform: one Stripe payment → customer, order, invoice and receipt.

The figures are checked on the flow's own transform (the mapping files, with the builders they call), the
validation on the flow's own validate; every field of the shipped cases is pinned by
``test_mapping_engine_equivalence``."""

import json
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tasks.errors import MappingError, ValidationFailed
from tasks.flows import order_to_cash
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR, payment_fixture


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def invoice_total(documents: dict) -> Decimal:
    return sum((Decimal(line["SellingShipQty"]) * Decimal(line["DocUnitPrice"])
                for line in documents["ar_invoice"]["lines"]), Decimal(0))


def assert_books_balance(documents: dict, expected_amount: str) -> None:
    """Receipt = invoice total = amount paid, to the smallest unit, with the currency's decimals."""
    receipt = documents["cash_receipt"]
    assert receipt["header"]["DocTranAmt"] == receipt["lines"][0]["DocTranAmt"] == expected_amount
    assert invoice_total(documents) == Decimal(expected_amount)
    places = len(expected_amount.partition(".")[2])
    for line in documents["sales_order"]["lines"] + documents["ar_invoice"]["lines"]:
        assert len(line["DocUnitPrice"].partition(".")[2]) == places


def documents_by_kind(payment: dict, mappings) -> dict:
    """The flow's own transform of ``payment``: its documents by kind (customer, sales_order, ar_invoice …)."""
    built = order_to_cash.transform(flow_context(mappings), payment)["documents"]
    return {document["kind"]: document for document in built}


def customer_of(documents: dict) -> dict:
    """The customer as post reads it: how to find it (``match``, ``cust_id_alternates``) and what to create."""
    customer = documents["customer"]
    return {"match": customer["reference"]["match"], "create": customer["header"],
            "cust_id_alternates": customer["reference"]["cust_id_alternates"]}


def parts_of(documents: dict) -> list[str]:
    return list(dict.fromkeys(line["PartNum"] for line in documents["sales_order"]["lines"]))


class PartsInEpicor:
    """Epicor's part look-up, answering for every part (the parts check is not what these tests test)."""

    def __init__(self):
        self.parts_asked: list[str] = []

    def get(self, service: str, entity: str, *key: object) -> dict:
        self.parts_asked.append(str(key[0]))
        return {"PartNum": key[0]}


def flow_context(mappings) -> SimpleNamespace:
    return SimpleNamespace(mappings=mappings, settings=SimpleNamespace(mappings_dir=MAPPINGS_DIR),
                           epicor=PartsInEpicor())


def assert_every_document_validates(payment: dict, mappings) -> None:
    """The flow's own transform output passes the flow's own validate stage (every document, receipt
    line included, against its Epicor schema; the parts asked for are the lines' parts)."""
    ctx = flow_context(mappings)
    transformed = order_to_cash.transform(ctx, payment)
    assert order_to_cash.validate(ctx, transformed) == transformed
    [order] = [doc for doc in transformed["documents"] if doc["kind"] == "sales_order"]
    parts = [line["PartNum"] for line in order["lines"]]
    assert ctx.epicor.parts_asked == list(dict.fromkeys(parts))


def test_validate_refuses_a_document_epicor_would_refuse(mappings, fake_redis):
    ctx = flow_context(mappings)
    transformed = order_to_cash.transform(ctx, payment_fixture("payment_usd_customer"))
    [receipt] = [doc for doc in transformed["documents"] if doc["kind"] == "cash_receipt"]
    receipt["lines"][0]["DocTranAmt"] = "25.001"
    with pytest.raises(ValidationFailed, match="DocTranAmt"):
        order_to_cash.validate(ctx, transformed)


def test_bare_usd_charge_with_stripe_customer(mappings, fake_redis):
    documents = documents_by_kind(payment_fixture("payment_usd_customer"), mappings)
    assert json.loads(json.dumps(documents)) == documents
    assert_books_balance(documents, "25.00")
    assert_every_document_validates(payment_fixture("payment_usd_customer"), mappings)
    customer = customer_of(documents)
    assert customer["match"] == {"cust_num": None, "cust_id": None, "external_id": "cus_QXg1o8vcGmoR32",
                                 "email": None, "catch_all": False}
    assert customer["create"]["Name"] == "Rosen Trading Co."
    assert customer["create"]["ExternalID"] == "cus_QXg1o8vcGmoR32"
    assert customer["create"]["EMailAddress"] == "accounts@rosen-trading.example"
    assert (customer["create"]["Address3"], customer["create"]["Country"]) == ("Floor 36", "USA")
    assert re.fullmatch(r"ROSE[A-Z0-9]{6}", customer["create"]["CustID"])
    assert len(customer["cust_id_alternates"]) == 3
    assert customer["create"]["CustID"] not in customer["cust_id_alternates"]
    assert documents["sales_order"]["header"] == {
        "IntExternalKey": "pi_3QxUsdCustomer0001Ab", "OrderDate": "2026-03-04T00:00:00", "CurrencyCode": "USD",
        "PONum": "ch_3QxUsdCustomer0001Ab",
        "OrderComment": "Stripe payment pi_3QxUsdCustomer0001Ab Order 1042 from the web shop",
        "CustNum": "{{CustNum}}"}
    assert documents["sales_order"]["lines"] == [{"OrderLine": 1, "PartNum": "STRIPE-SALE",
                                                  "LineDesc": "Order 1042 from the web shop", "SellingQuantity": "1",
                                                  "DocUnitPrice": "25.00", "SalesUM": "EA", "OrderNum": "{{OrderNum}}"}]
    assert documents["invoice_group"]["header"]["GroupID"] == "SI260304"
    assert documents["cash_group"]["header"] == {"GroupID": "SC260304", "TranDate": "2026-03-04T00:00:00",
                                                 "BankAcctID": "MAIN"}
    assert documents["cash_receipt"]["header"]["CheckRef"] == "ch_3QxUsdCustomer0001Ab"
    assert documents["cash_receipt"]["header"]["Reference"] == "pi_3QxUsdCustomer0001Ab"
    assert parts_of(documents) == ["STRIPE-SALE"]


def test_same_payment_gives_the_same_documents(mappings):
    first = documents_by_kind(payment_fixture("payment_usd_customer"), mappings)
    assert documents_by_kind(payment_fixture("payment_usd_customer"), mappings) == first


def test_jpy_guest_with_only_a_billing_email(mappings, fake_redis):
    documents = documents_by_kind(payment_fixture("payment_jpy_guest"), mappings)
    assert_books_balance(documents, "5000")
    assert_every_document_validates(payment_fixture("payment_jpy_guest"), mappings)
    customer = customer_of(documents)
    assert customer["match"]["email"] == "hanako.yamada@example.jp"
    assert (customer["match"]["external_id"], customer["match"]["catch_all"]) == (None, False)
    assert "ExternalID" not in customer["create"]
    assert customer["create"]["Name"] == "Hanako.Yamada@Example.JP"
    assert customer["create"]["CustID"].startswith("HANA")
    assert documents["sales_order"]["lines"][0]["LineDesc"] == "Stripe payment ch_3QyJpyGuest000002Cd"
    assert documents["cash_receipt"]["currency"] == "JPY"


def test_guest_email_case_does_not_change_the_customer(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["billing_details"]["email"] = "hanako.yamada@example.jp"
    lower = customer_of(documents_by_kind(payment, mappings))
    upper = customer_of(documents_by_kind(payment_fixture("payment_jpy_guest"), mappings))
    assert lower["create"]["CustID"] == upper["create"]["CustID"]


def test_dates_follow_the_company_time_zone(mappings):
    from dataclasses import replace
    documents = documents_by_kind(payment_fixture("payment_jpy_guest"),
                                  replace(mappings, timezone="America/Los_Angeles"))
    assert documents["sales_order"]["header"]["OrderDate"] == "2026-03-04T00:00:00"
    assert documents["cash_group"]["header"]["GroupID"] == "SC260304"


def test_kwd_checkout_lines_with_a_difference_line(mappings, fake_redis):
    documents = documents_by_kind(payment_fixture("payment_kwd_checkout"), mappings)
    assert_books_balance(documents, "12.500")
    assert_every_document_validates(payment_fixture("payment_kwd_checkout"), mappings)
    lines = [(line["PartNum"], line["LineDesc"], line["SellingQuantity"], line["DocUnitPrice"])
             for line in documents["sales_order"]["lines"]]
    assert lines == [("WIDGET-100", "Widget", "2", "2.500"),
                     ("STRIPE-SALE", "3 x Gift wrap", "1", "4.000"),
                     ("STRIPE-SALE", "Other charges (tax, shipping)", "1", "3.500")]
    invoice = documents["ar_invoice"]["lines"]
    assert [(line["InvoiceLine"], line["OrderLine"]) for line in invoice] == [(1, 1), (2, 2), (3, 3)]
    assert [line["SellingShipQty"] for line in invoice] == ["2", "1", "1"]
    assert parts_of(documents) == ["WIDGET-100", "STRIPE-SALE"]
    assert documents["customer"]["header"]["City"] == "Kuwait City"
    assert documents["customer"]["header"]["Country"] == "Kuwait"


def test_lines_above_the_amount_paid_collapse_to_one_line(mappings):
    payment = payment_fixture("payment_kwd_checkout")
    payment["charge"]["amount_captured"] = 8000
    documents = documents_by_kind(payment, mappings)
    assert_books_balance(documents, "8.000")
    [line] = documents["sales_order"]["lines"]
    assert (line["PartNum"], line["SellingQuantity"]) == ("STRIPE-SALE", "1")
    assert line["LineDesc"] == "2 x Widget; 3 x Gift wrap"


def test_isk_payment_in_stripe_two_decimal_form(mappings, fake_redis):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"].update(currency="isk", amount=1_500_000, amount_captured=1_500_000)
    documents = documents_by_kind(payment, mappings)
    assert documents["cash_receipt"]["currency"] == "ISK"
    assert_books_balance(documents, "15000")
    assert_every_document_validates(payment, mappings)


def test_isk_amount_with_aurar_is_refused(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"].update(currency="isk", amount=1_500_050, amount_captured=1_500_050)
    with pytest.raises(MappingError, match="ISK"):
        documents_by_kind(payment, mappings)


def test_uncaptured_amount_is_used_when_nothing_captured(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["amount_captured"] = 0
    payment["charge"]["amount"] = 1999
    assert documents_by_kind(payment, mappings)["cash_receipt"]["header"]["DocTranAmt"] == "19.99"


def test_metadata_customer_number_wins(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["payment_intent"]["metadata"] = {"epicor_cust_num": "214"}
    payment["customer"]["metadata"] = {"epicor_cust_num": "999", "epicor_cust_id": "ROSEN"}
    match = documents_by_kind(payment, mappings)["customer"]["reference"]["match"]
    assert match == {"cust_num": 214, "cust_id": "ROSEN", "external_id": "cus_QXg1o8vcGmoR32",
                     "email": None, "catch_all": False}


def test_metadata_customer_id_becomes_the_cust_id_to_create(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["metadata"] = {"epicor_cust_id": "YAMADA"}
    assert documents_by_kind(payment, mappings)["customer"]["header"]["CustID"] == "YAMADA"


def test_malformed_metadata_stops_the_transform(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["metadata"] = {"epicor_cust_num": "abc"}
    with pytest.raises(MappingError, match="epicor_cust_num='abc'"):
        documents_by_kind(payment, mappings)


def test_no_customer_and_no_email_goes_to_the_catch_all(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["billing_details"]["email"] = None
    customer = customer_of(documents_by_kind(payment, mappings))
    assert customer["match"] == {"cust_num": None, "cust_id": "STRIPEGUES", "external_id": None, "email": None,
                                 "catch_all": True}
    assert (customer["create"]["CustID"], customer["create"]["Name"]) == ("STRIPEGUES", "Stripe guest payments")
    assert customer["cust_id_alternates"] == []


def test_name_falls_back_to_the_stripe_id(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["customer"].update(name=None, email=None)
    payment["charge"]["billing_details"].update(name=None, email=None)
    assert documents_by_kind(payment, mappings)["customer"]["header"]["Name"] == "Stripe customer cus_QXg1o8vcGmoR32"


def test_epicor_lines_metadata_with_an_unpriced_line_taking_the_rest(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["amount_captured"] = payment["charge"]["amount"] = 7500
    payment["payment_intent"]["metadata"] = {"epicor_lines": "WIDGET-100*2@12.50,GADGET-200"}
    documents = documents_by_kind(payment, mappings)
    assert [(line["PartNum"], line["SellingQuantity"], line["DocUnitPrice"])
            for line in documents["sales_order"]["lines"]] == [("WIDGET-100", "2", "12.50"),
                                                                ("GADGET-200", "1", "50.00")]
    assert_books_balance(documents, "75.00")


def test_epicor_lines_price_with_too_many_decimals_is_refused(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["metadata"] = {"epicor_lines": "WIDGET-100*2@12.50"}
    with pytest.raises(MappingError, match="JPY"):
        documents_by_kind(payment, mappings)


def test_epicor_part_num_with_quantity_takes_the_whole_amount(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["metadata"] = {"epicor_part_num": "SUB-MONTHLY", "epicor_quantity": "3"}
    documents = documents_by_kind(payment, mappings)
    [line] = documents["sales_order"]["lines"]
    assert (line["PartNum"], line["SellingQuantity"], line["DocUnitPrice"]) == ("SUB-MONTHLY", "1", "25.00")
    assert line["LineDesc"] == "3 x Order 1042 from the web shop"
    payment["charge"]["metadata"]["epicor_quantity"] = "2"
    [line] = documents_by_kind(payment, mappings)["sales_order"]["lines"]
    assert (line["SellingQuantity"], line["DocUnitPrice"]) == ("2", "12.50")


def test_checkout_line_in_another_currency_is_refused(mappings):
    payment = payment_fixture("payment_kwd_checkout")
    payment["line_items"][0]["currency"] = "usd"
    with pytest.raises(MappingError, match="USD"):
        documents_by_kind(payment, mappings)
