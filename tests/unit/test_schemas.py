"""Epicor document schemas: what they refuse, how they say it, and the exact wire form."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.epicor.schemas import to_wire, validate_document
from tasks.errors import ValidationFailed

DATE = "2026-03-04T00:00:00"
VALID = {
    "customer": {"CustID": "ROSE4U4KNK", "Name": "Rosen Trading Co.", "ExternalID": "cus_QXg1o8vcGmoR32",
                 "EMailAddress": "a@b.example", "PhoneNum": "", "Address1": "1 Market St", "Address2": "",
                 "Address3": "", "City": "San Francisco", "State": "CA", "Zip": "94105", "Country": "USA",
                 "CurrencyCode": "USD", "TermsCode": "N30"},
    "order_header": {"IntExternalKey": "pi_1", "OrderDate": DATE, "CurrencyCode": "USD", "PONum": "ch_1",
                     "OrderComment": "Stripe payment pi_1"},
    "order_line": {"OrderLine": 2, "PartNum": "WIDGET-100", "LineDesc": "Widget", "SellingQuantity": "2",
                   "DocUnitPrice": "12.50", "SalesUM": "EA"},
    "invoice_group": {"GroupID": "SI260304", "InvoiceDate": DATE},
    "invoice_header": {"InvoiceType": "Adv", "InvoiceDate": DATE, "ExternalID": "ch_1", "Description": "Order"},
    "invoice_line": {"InvoiceLine": 1, "OrderLine": 1, "PartNum": "WIDGET-100", "LineDesc": "Widget",
                     "SellingShipQty": "2", "DocUnitPrice": "12.50", "SalesUM": "EA"},
    "cash_group": {"GroupID": "SC260304", "TranDate": DATE, "BankAcctID": "MAIN"},
    "receipt_header": {"TranType": "PayInv", "TranDate": DATE, "DocTranAmt": "25.00", "CurrencyCode": "USD",
                       "ExternalID": "ch_1", "CheckRef": "ch_1", "BankAcctID": "MAIN", "Reference": "pi_1"},
    "receipt_line": {"TranType": "PayInv", "DocTranAmt": "25.00"},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_documents_load_unchanged(kind):
    assert validate_document(kind, VALID[kind], "usd") == VALID[kind]


@pytest.mark.parametrize("kind, keys", [
    ("customer", {"CustNum": 214, "Company": "EPIC06"}),
    ("order_header", {"CustNum": 214, "OrderNum": 5001}),
    ("order_line", {"OrderNum": 5001}),
    ("invoice_header", {"CustNum": 214, "OrderNum": 5001, "GroupID": "SI260304", "InvoiceNum": 70001}),
    ("invoice_line", {"InvoiceNum": 70001, "OrderNum": 5001}),
    ("receipt_header", {"GroupID": "SC260304", "HeadNum": 1, "CustNum": 214}),
    ("receipt_line", {"GroupID": "SC260304", "HeadNum": 1, "InvoiceNum": 70001, "InvoiceRef": 0, "CustNum": 214}),
])
def test_keys_the_post_stage_fills_in_are_accepted(kind, keys):
    assert validate_document(kind, {**VALID[kind], **keys}, "usd") == {**VALID[kind], **keys}


@pytest.mark.parametrize("kind, change, currency, message", [
    ("customer", {"CustID": "ROSENTRADING"}, "usd",
     "Customer: CustID must be at most 10 characters (got 'ROSENTRADING', 12)"),
    ("customer", {"Name": "  "}, "usd", "Customer: Name must not be blank"),
    ("customer", {"Zip": "12345-67890"}, "usd", "Customer: Zip must be at most 10 characters"),
    ("customer", {"CustNum": "214x"}, "usd", "Customer: CustNum must be a whole number"),
    ("order_header", {"OrderDate": "04/03/2026"}, "usd",
     "Sales order: OrderDate must be a date like 2026-03-04T00:00:00 (got '04/03/2026')"),
    ("order_header", {"CurrencyCode": None}, "usd", "Sales order: CurrencyCode must not be empty"),
    ("order_line", {"SellingQuantity": "0"}, "usd",
     "Sales order line 2: SellingQuantity must be greater than 0 (got 0)"),
    ("order_line", {"DocUnitPrice": "-1.00"}, "usd", "Sales order line 2: DocUnitPrice must be 0 or more (got -1.00)"),
    ("order_line", {"DocUnitPrice": "12.5"}, "jpy",
     "Sales order line 2: DocUnitPrice must have at most 0 decimals in JPY (got 12.5)"),
    ("order_line", {"PartNum": "P" * 51}, "usd", "Sales order line 2: PartNum must be at most 50 characters"),
    ("order_line", {"SellingQuantity": "two"}, "usd",
     "Sales order line 2: SellingQuantity must be a number (got 'two')"),
    ("invoice_group", {"GroupID": "SI20260304"}, "usd", "AR invoice group: GroupID must be at most 8 characters"),
    ("invoice_header", {"InvoiceType": "Advance"}, "usd",
     "AR invoice: InvoiceType must be one of Shp, Adv, Dep, Mis (got 'Advance')"),
    ("invoice_line", {"SellingShipQty": "0"}, "usd", "AR invoice line 1: SellingShipQty must not be 0 (got 0)"),
    ("invoice_line", {"DocUnitPrice": "1.2345"}, "kwd",
     "AR invoice line 1: DocUnitPrice must have at most 3 decimals in KWD (got 1.2345)"),
    ("cash_group", {"BankAcctID": ""}, "usd", "Cash receipt group: BankAcctID must not be blank"),
    ("receipt_header", {"TranType": "Payment"}, "usd",
     "Cash receipt: TranType must be one of PayInv, MisPay, PrePay (got 'Payment')"),
    ("receipt_header", {"DocTranAmt": "0.00"}, "usd", "Cash receipt: DocTranAmt must not be 0 (got 0.00)"),
    ("receipt_header", {"DocTranAmt": "25.005"}, "usd", "Cash receipt: DocTranAmt must have at most 2 decimals in USD"),
    ("receipt_line", {"DocTranAmt": True}, "usd", "Cash receipt line: DocTranAmt must be a number (got True)"),
])
def test_each_rule_is_refused_with_an_accountant_readable_message(kind, change, currency, message):
    with pytest.raises(ValidationFailed) as raised:
        validate_document(kind, {**VALID[kind], **change}, currency)
    assert raised.value.message.startswith(message)
    assert "{" not in raised.value.message
    assert raised.value.reason == f"validation.{kind}"


@pytest.mark.parametrize("kind", sorted(VALID))
def test_unknown_fields_are_refused(kind):
    with pytest.raises(ValidationFailed, match="Colour is not a field Epicor accepts"):
        validate_document(kind, {**VALID[kind], "Colour": "red"}, "usd")


@pytest.mark.parametrize("kind, field", [
    ("customer", "CustID"), ("customer", "Name"), ("order_header", "IntExternalKey"), ("order_line", "PartNum"),
    ("order_line", "DocUnitPrice"), ("invoice_group", "GroupID"), ("invoice_header", "InvoiceType"),
    ("invoice_line", "SellingShipQty"), ("cash_group", "BankAcctID"), ("receipt_header", "DocTranAmt"),
    ("receipt_line", "DocTranAmt"),
])
def test_required_fields_are_named_when_missing(kind, field):
    document = {key: value for key, value in VALID[kind].items() if key != field}
    with pytest.raises(ValidationFailed, match=f"{field} is required"):
        validate_document(kind, document, "usd")


def test_every_problem_of_a_line_is_reported_at_once():
    with pytest.raises(ValidationFailed) as raised:
        validate_document("order_line", {**VALID["order_line"], "SellingQuantity": "0", "DocUnitPrice": "-1"}, "usd")
    assert "SellingQuantity must be greater than 0" in raised.value.message
    assert "DocUnitPrice must be 0 or more" in raised.value.message


def test_amounts_come_back_with_exactly_the_currency_decimals():
    loaded = validate_document("receipt_header", {**VALID["receipt_header"], "DocTranAmt": "5.1"}, "KWD")
    assert loaded["DocTranAmt"] == "5.100"
    assert validate_document("order_line", {**VALID["order_line"], "DocUnitPrice": 500}, "jpy")["DocUnitPrice"] == "500"


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="credit_memo"):
        validate_document("credit_memo", {}, "usd")


@pytest.mark.parametrize("text", ["123456.789", "0.10", "25.00", "5000", "99999999.99", "-12.50", "0.001"])
def test_wire_numbers_print_back_as_the_same_decimal(text):
    wire = to_wire("receipt_header", {**VALID["receipt_header"], "DocTranAmt": text})["DocTranAmt"]
    assert isinstance(wire, float)
    assert Decimal(repr(wire)) == Decimal(text)


@given(units=st.integers(min_value=-10**12, max_value=10**12), places=st.sampled_from([0, 2, 3]))
def test_every_amount_epicor_can_hold_survives_the_wire(units, places):
    text = f"{Decimal(units).scaleb(-places):f}"
    wire = to_wire("order_line", {**VALID["order_line"], "DocUnitPrice": text})["DocUnitPrice"]
    assert Decimal(repr(wire)) == Decimal(text)


def test_wire_form_turns_keys_into_integers_and_leaves_text_alone():
    wire = to_wire("invoice_line", {**VALID["invoice_line"], "InvoiceNum": "70001", "OrderNum": 5001})
    assert wire == {"InvoiceLine": 1, "OrderLine": 1, "PartNum": "WIDGET-100", "LineDesc": "Widget",
                    "SellingShipQty": 2.0, "DocUnitPrice": 12.5, "SalesUM": "EA", "InvoiceNum": 70001,
                    "OrderNum": 5001}


def test_wire_refuses_digits_a_float_cannot_carry():
    with pytest.raises(ValidationFailed, match="too many digits"):
        to_wire("receipt_header", {**VALID["receipt_header"], "DocTranAmt": "12345678901234567.89"})


def test_wire_refuses_unknown_fields():
    with pytest.raises(ValidationFailed, match="Colour"):
        to_wire("cash_group", {**VALID["cash_group"], "Colour": "red"})
