"""The order-to-cash transform: one Stripe payment → customer, order, invoice and receipt.

The figures are checked on the Python builder (``build_order_to_cash``), which the mapping files are kept
equal to (``test_mapping_engine_equivalence``); the validation on the flow's own transform and validate."""

import json
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tasks.errors import MappingError, ValidationFailed
from tasks.flows import order_to_cash
from tasks.mapping.order_to_cash import build_order_to_cash
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR, payment_fixture


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def invoice_total(documents: dict) -> Decimal:
    return sum((Decimal(line["SellingShipQty"]) * Decimal(line["DocUnitPrice"])
                for line in documents["invoice"]["lines"]), Decimal(0))


def assert_books_balance(documents: dict, expected_amount: str) -> None:
    """Receipt = invoice total = amount paid, to the smallest unit, with the currency's decimals."""
    assert documents["amount"] == expected_amount
    assert documents["receipt"]["header"]["DocTranAmt"] == expected_amount
    assert invoice_total(documents) == Decimal(expected_amount)
    places = len(expected_amount.partition(".")[2])
    for line in documents["order"]["lines"] + documents["invoice"]["lines"]:
        assert len(line["DocUnitPrice"].partition(".")[2]) == places


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
    documents = build_order_to_cash(payment_fixture("payment_usd_customer"), mappings)
    assert json.loads(json.dumps(documents)) == documents
    assert_books_balance(documents, "25.00")
    assert_every_document_validates(payment_fixture("payment_usd_customer"), mappings)
    customer = documents["customer"]
    assert customer["match"] == {"cust_num": None, "cust_id": None, "external_id": "cus_QXg1o8vcGmoR32",
                                 "email": None, "catch_all": False}
    assert customer["create"]["Name"] == "Rosen Trading Co."
    assert customer["create"]["ExternalID"] == "cus_QXg1o8vcGmoR32"
    assert customer["create"]["EMailAddress"] == "accounts@rosen-trading.example"
    assert (customer["create"]["Address3"], customer["create"]["Country"]) == ("Floor 36", "USA")
    assert re.fullmatch(r"ROSE[A-Z0-9]{6}", customer["create"]["CustID"])
    assert len(customer["cust_id_alternates"]) == 3
    assert customer["create"]["CustID"] not in customer["cust_id_alternates"]
    assert documents["order"]["header"] == {
        "IntExternalKey": "pi_3QxUsdCustomer0001Ab", "OrderDate": "2026-03-04T00:00:00", "CurrencyCode": "USD",
        "PONum": "ch_3QxUsdCustomer0001Ab",
        "OrderComment": "Stripe payment pi_3QxUsdCustomer0001Ab Order 1042 from the web shop"}
    assert documents["order"]["lines"] == [{"OrderLine": 1, "PartNum": "STRIPE-SALE",
                                            "LineDesc": "Order 1042 from the web shop", "SellingQuantity": "1",
                                            "DocUnitPrice": "25.00", "SalesUM": "EA"}]
    assert documents["invoice_group"]["GroupID"] == "SI260304"
    assert documents["cash_group"] == {"GroupID": "SC260304", "TranDate": "2026-03-04T00:00:00", "BankAcctID": "MAIN"}
    assert documents["receipt"]["header"]["CheckRef"] == "ch_3QxUsdCustomer0001Ab"
    assert documents["receipt"]["header"]["Reference"] == "pi_3QxUsdCustomer0001Ab"
    assert documents["parts"] == ["STRIPE-SALE"]


def test_same_payment_gives_the_same_documents(mappings):
    first = build_order_to_cash(payment_fixture("payment_usd_customer"), mappings)
    assert build_order_to_cash(payment_fixture("payment_usd_customer"), mappings) == first


def test_jpy_guest_with_only_a_billing_email(mappings, fake_redis):
    documents = build_order_to_cash(payment_fixture("payment_jpy_guest"), mappings)
    assert_books_balance(documents, "5000")
    assert_every_document_validates(payment_fixture("payment_jpy_guest"), mappings)
    customer = documents["customer"]
    assert customer["match"]["email"] == "hanako.yamada@example.jp"
    assert (customer["match"]["external_id"], customer["match"]["catch_all"]) == (None, False)
    assert "ExternalID" not in customer["create"]
    assert customer["create"]["Name"] == "Hanako.Yamada@Example.JP"
    assert customer["create"]["CustID"].startswith("HANA")
    assert documents["order"]["lines"][0]["LineDesc"] == "Stripe payment ch_3QyJpyGuest000002Cd"
    assert documents["currency"] == "JPY"


def test_guest_email_case_does_not_change_the_customer(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["billing_details"]["email"] = "hanako.yamada@example.jp"
    lower = build_order_to_cash(payment, mappings)["customer"]
    upper = build_order_to_cash(payment_fixture("payment_jpy_guest"), mappings)["customer"]
    assert lower["create"]["CustID"] == upper["create"]["CustID"]


def test_dates_follow_the_company_time_zone(mappings):
    from dataclasses import replace
    documents = build_order_to_cash(payment_fixture("payment_jpy_guest"),
                                    replace(mappings, timezone="America/Los_Angeles"))
    assert documents["order"]["header"]["OrderDate"] == "2026-03-04T00:00:00"
    assert documents["cash_group"]["GroupID"] == "SC260304"


def test_kwd_checkout_lines_with_a_difference_line(mappings, fake_redis):
    documents = build_order_to_cash(payment_fixture("payment_kwd_checkout"), mappings)
    assert_books_balance(documents, "12.500")
    assert_every_document_validates(payment_fixture("payment_kwd_checkout"), mappings)
    lines = [(line["PartNum"], line["LineDesc"], line["SellingQuantity"], line["DocUnitPrice"])
             for line in documents["order"]["lines"]]
    assert lines == [("WIDGET-100", "Widget", "2", "2.500"),
                     ("STRIPE-SALE", "3 x Gift wrap", "1", "4.000"),
                     ("STRIPE-SALE", "Other charges (tax, shipping)", "1", "3.500")]
    invoice = documents["invoice"]["lines"]
    assert [(line["InvoiceLine"], line["OrderLine"]) for line in invoice] == [(1, 1), (2, 2), (3, 3)]
    assert [line["SellingShipQty"] for line in invoice] == ["2", "1", "1"]
    assert documents["parts"] == ["WIDGET-100", "STRIPE-SALE"]
    assert documents["customer"]["create"]["City"] == "Kuwait City"
    assert documents["customer"]["create"]["Country"] == "Kuwait"


def test_lines_above_the_amount_paid_collapse_to_one_line(mappings):
    payment = payment_fixture("payment_kwd_checkout")
    payment["charge"]["amount_captured"] = 8000
    documents = build_order_to_cash(payment, mappings)
    assert_books_balance(documents, "8.000")
    [line] = documents["order"]["lines"]
    assert (line["PartNum"], line["SellingQuantity"]) == ("STRIPE-SALE", "1")
    assert line["LineDesc"] == "2 x Widget; 3 x Gift wrap"


def test_isk_payment_in_stripe_two_decimal_form(mappings, fake_redis):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"].update(currency="isk", amount=1_500_000, amount_captured=1_500_000)
    documents = build_order_to_cash(payment, mappings)
    assert documents["currency"] == "ISK"
    assert_books_balance(documents, "15000")
    assert_every_document_validates(payment, mappings)


def test_isk_amount_with_aurar_is_refused(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"].update(currency="isk", amount=1_500_050, amount_captured=1_500_050)
    with pytest.raises(MappingError, match="ISK"):
        build_order_to_cash(payment, mappings)


def test_uncaptured_amount_is_used_when_nothing_captured(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["amount_captured"] = 0
    payment["charge"]["amount"] = 1999
    assert build_order_to_cash(payment, mappings)["amount"] == "19.99"


def test_metadata_customer_number_wins(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["payment_intent"]["metadata"] = {"epicor_cust_num": "214"}
    payment["customer"]["metadata"] = {"epicor_cust_num": "999", "epicor_cust_id": "ROSEN"}
    match = build_order_to_cash(payment, mappings)["customer"]["match"]
    assert match == {"cust_num": 214, "cust_id": "ROSEN", "external_id": "cus_QXg1o8vcGmoR32",
                     "email": None, "catch_all": False}


def test_metadata_customer_id_becomes_the_cust_id_to_create(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["metadata"] = {"epicor_cust_id": "YAMADA"}
    assert build_order_to_cash(payment, mappings)["customer"]["create"]["CustID"] == "YAMADA"


def test_malformed_metadata_stops_the_transform(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["metadata"] = {"epicor_cust_num": "abc"}
    with pytest.raises(MappingError, match="epicor_cust_num='abc'"):
        build_order_to_cash(payment, mappings)


def test_no_customer_and_no_email_goes_to_the_catch_all(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["billing_details"]["email"] = None
    customer = build_order_to_cash(payment, mappings)["customer"]
    assert customer["match"] == {"cust_num": None, "cust_id": "STRIPEGUES", "external_id": None, "email": None,
                                 "catch_all": True}
    assert (customer["create"]["CustID"], customer["create"]["Name"]) == ("STRIPEGUES", "Stripe guest payments")
    assert customer["cust_id_alternates"] == []


def test_name_falls_back_to_the_stripe_id(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["customer"].update(name=None, email=None)
    payment["charge"]["billing_details"].update(name=None, email=None)
    assert build_order_to_cash(payment, mappings)["customer"]["create"]["Name"] == "Stripe customer cus_QXg1o8vcGmoR32"


def test_epicor_lines_metadata_with_an_unpriced_line_taking_the_rest(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["amount_captured"] = payment["charge"]["amount"] = 7500
    payment["payment_intent"]["metadata"] = {"epicor_lines": "WIDGET-100*2@12.50,GADGET-200"}
    documents = build_order_to_cash(payment, mappings)
    assert [(line["PartNum"], line["SellingQuantity"], line["DocUnitPrice"])
            for line in documents["order"]["lines"]] == [("WIDGET-100", "2", "12.50"), ("GADGET-200", "1", "50.00")]
    assert_books_balance(documents, "75.00")


def test_epicor_lines_price_with_too_many_decimals_is_refused(mappings):
    payment = payment_fixture("payment_jpy_guest")
    payment["charge"]["metadata"] = {"epicor_lines": "WIDGET-100*2@12.50"}
    with pytest.raises(MappingError, match="JPY"):
        build_order_to_cash(payment, mappings)


def test_epicor_part_num_with_quantity_takes_the_whole_amount(mappings):
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["metadata"] = {"epicor_part_num": "SUB-MONTHLY", "epicor_quantity": "3"}
    documents = build_order_to_cash(payment, mappings)
    [line] = documents["order"]["lines"]
    assert (line["PartNum"], line["SellingQuantity"], line["DocUnitPrice"]) == ("SUB-MONTHLY", "1", "25.00")
    assert line["LineDesc"] == "3 x Order 1042 from the web shop"
    payment["charge"]["metadata"]["epicor_quantity"] = "2"
    [line] = build_order_to_cash(payment, mappings)["order"]["lines"]
    assert (line["SellingQuantity"], line["DocUnitPrice"]) == ("2", "12.50")


def test_checkout_line_in_another_currency_is_refused(mappings):
    payment = payment_fixture("payment_kwd_checkout")
    payment["line_items"][0]["currency"] = "usd"
    with pytest.raises(MappingError, match="USD"):
        build_order_to_cash(payment, mappings)
