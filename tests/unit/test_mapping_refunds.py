"""The refund transform: one succeeded Stripe refund → a credit memo against the sale and a refund receipt."""

import dataclasses
import json
from decimal import Decimal

import pytest

from tasks.mapping.refunds import build_refund, build_refunds
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR

CHARGE = "ch_3QxRefundSale0000000001"
MARCH_4_NOON_UTC = 1772625600  # 2026-03-04T12:00:00Z


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def refund(refund_id: str = "re_3QxRefund000000000000001", amount: int = 1250, currency: str = "usd",
           reason: str | None = "requested_by_customer", status: str = "succeeded",
           created: int = MARCH_4_NOON_UTC) -> dict:
    """A refund as the fetch stage hands it on."""
    return {"id": refund_id, "amount": amount, "currency": currency, "reason": reason, "status": status,
            "created": created, "charge": CHARGE, "metadata": {}}


def memo_total(documents: dict) -> Decimal:
    return sum((Decimal(line["SellingShipQty"]) * Decimal(line["DocUnitPrice"])
                for line in documents["invoice"]["lines"]), Decimal(0))


def test_partial_usd_refund_is_a_credit_memo_and_a_negative_receipt(mappings):
    documents = build_refund(refund(), mappings)
    assert json.loads(json.dumps(documents)) == documents
    header, lines = documents["invoice"]["header"], documents["invoice"]["lines"]
    assert header == {"CreditMemo": True, "InvoiceDate": "2026-03-04T00:00:00",
                      "ExternalID": "re_3QxRefund000000000000001",
                      "Description": "Stripe refund", "CurrencyCode": "USD", "CMReason": "CUSTREQ"}
    assert lines == [{"InvoiceLine": 1, "PartNum": "STRIPE-SALE", "SellingShipQty": "-1", "DocUnitPrice": "12.50",
                      "SalesUM": "EA",
                      "LineDesc": f"Refund re_3QxRefund000000000000001 of Stripe payment {CHARGE} "
                                  "(requested by customer)"}]
    assert memo_total(documents) == Decimal("-12.50")
    receipt = documents["receipt"]["header"]
    assert receipt["TranType"] == "PayInv" and receipt["DocTranAmt"] == "-12.50"
    assert receipt["ExternalID"] == "re_3QxRefund000000000000001" and receipt["CheckRef"] == CHARGE
    assert receipt["BankAcctID"] == "MAIN" and receipt["TranDate"] == "2026-03-04T00:00:00"
    assert documents["invoice_group"]["GroupID"] == "SI260304" and documents["cash_group"]["GroupID"] == "SC260304"


@pytest.mark.parametrize(("reason", "code"), [
    ("duplicate", "DUPL"), ("fraudulent", "FRAUD"), ("requested_by_customer", "CUSTREQ"),
    ("expired_uncaptured_charge", "EXPIRED"), (None, "OTHER"), ("a_reason_stripe_adds_later", "OTHER")])
def test_reason_code_comes_from_the_reasons_table(mappings, reason, code):
    assert build_refund(refund(reason=reason), mappings)["invoice"]["header"]["CMReason"] == code


@pytest.mark.parametrize(("currency", "minor", "price", "receipt"), [
    ("usd", 2599, "25.99", "-25.99"), ("jpy", 5000, "5000", "-5000"), ("kwd", 12340, "12.340", "-12.340")])
def test_amounts_follow_the_currency_exponent(mappings, currency, minor, price, receipt):
    documents = build_refund(refund(amount=minor, currency=currency), mappings)
    assert documents["invoice"]["lines"][0]["DocUnitPrice"] == price
    assert documents["receipt"]["header"]["DocTranAmt"] == receipt
    assert documents["currency"] == currency.upper()


def test_partial_refunds_add_up_to_the_sale(mappings):
    outcome = build_refunds([refund("re_B", 2450, created=MARCH_4_NOON_UTC + 60), refund("re_A", 1250)], mappings)
    assert [documents["external_id"] for documents in outcome["refunds"]] == ["re_A", "re_B"]
    assert sum(memo_total(documents) for documents in outcome["refunds"]) == Decimal("-37.00")
    assert sum(Decimal(d["receipt"]["header"]["DocTranAmt"]) for d in outcome["refunds"]) == Decimal("-37.00")


def test_only_succeeded_refunds_are_posted(mappings):
    outcome = build_refunds([refund("re_ok"), refund("re_wait", status="pending"),
                             refund("re_action", status="requires_action"), refund("re_fail", status="failed"),
                             refund("re_cancel", status="canceled")], mappings)
    assert [documents["external_id"] for documents in outcome["refunds"]] == ["re_ok"]
    assert outcome["waiting"] == ["re_wait", "re_action"]
    assert outcome["not_paid"] == ["re_fail", "re_cancel"]


def test_dates_follow_the_company_time_zone(mappings):
    chicago = dataclasses.replace(mappings, timezone="America/Chicago")
    documents = build_refund(refund(created=1772674200), chicago)  # 2026-03-05T01:30Z = 4 March, 19:30 in Chicago
    assert documents["invoice"]["header"]["InvoiceDate"] == "2026-03-04T00:00:00"
    assert documents["cash_group"]["GroupID"] == "SC260304"


def test_the_same_refund_always_gives_the_same_documents(mappings):
    assert build_refund(refund(), mappings) == build_refund(refund(), mappings)
