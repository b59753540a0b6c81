"""The shipped field mapping files give, field for field, the documents today's Python transform builds.

The oracle is the flow's own transform (``build_order_to_cash``), read the way post sends it today: the
keys post adds (CustNum, OrderNum, InvoiceNum, GroupID, HeadNum) as placeholders, and the receipt line
post builds from the receipt header. When transform switches to the engine these tests keep both equal.
"""

import json

import pytest

from tasks.documents import document, placeholder
from tasks.mapping.engine import build_documents
from tasks.mapping.order_to_cash import build_order_to_cash
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR, payment_fixture

PAYMENTS = ("payment_usd_customer", "payment_jpy_guest", "payment_kwd_checkout")


def as_posted_today(today: dict) -> list:
    """Today's transform output as the documents post sends, in posting order."""
    currency = today["currency"]
    customer, order, invoice, receipt = today["customer"], today["order"], today["invoice"], today["receipt"]
    cust_num, order_num = placeholder("CustNum"), placeholder("OrderNum")
    return [
        document("customer", customer["create"], currency=currency,
                 reference={"match": customer["match"], "cust_id_alternates": customer["cust_id_alternates"]}),
        document("sales_order", {**order["header"], "CustNum": cust_num},
                 [{**line, "OrderNum": order_num} for line in order["lines"]],
                 reference={"IntExternalKey": order["header"]["IntExternalKey"]}, currency=currency),
        document("invoice_group", today["invoice_group"]),
        document("ar_invoice", {**invoice["header"], "GroupID": placeholder("GroupID"), "CustNum": cust_num,
                                "OrderNum": order_num},
                 [{**line, "InvoiceNum": placeholder("InvoiceNum"), "OrderNum": order_num}
                  for line in invoice["lines"]],
                 reference={"ExternalID": invoice["header"]["ExternalID"]}, currency=currency),
        document("cash_group", today["cash_group"]),
        document("cash_receipt", {**receipt["header"], "GroupID": placeholder("GroupID"), "CustNum": cust_num},
                 [{"GroupID": placeholder("GroupID"), "HeadNum": placeholder("HeadNum"),
                   "InvoiceNum": placeholder("InvoiceNum"), "InvoiceRef": 0, "TranType": receipt["header"]["TranType"],
                   "CustNum": cust_num, "DocTranAmt": receipt["header"]["DocTranAmt"]}],
                 reference={"ExternalID": receipt["header"]["ExternalID"]}, currency=currency),
    ]


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def variants() -> list:
    """The fixtures, and the shapes a payment takes that they do not show (metadata lines, catch-all)."""
    cases = [(name, payment_fixture(name)) for name in PAYMENTS]
    lines = payment_fixture("payment_usd_customer")
    lines["charge"]["metadata"] = {"epicor_lines": "WIDGET-100*2@10.00,GADGET-200"}
    cases.append(("metadata_lines", lines))
    anonymous = payment_fixture("payment_jpy_guest")
    anonymous["charge"]["billing_details"] = {"name": None, "email": None, "phone": None, "address": None}
    anonymous["checkout_session"] = None
    cases.append(("catch_all", anonymous))
    blank = payment_fixture("payment_usd_customer")
    blank["charge"]["description"] = "   "
    blank["payment_intent"]["description"] = None
    cases.append(("blank_description", blank))
    return cases


@pytest.mark.parametrize(("name", "payment"), variants(), ids=[name for name, _ in variants()])
def test_order_to_cash_files_equal_todays_transform(mappings, name, payment):
    expected = as_posted_today(build_order_to_cash(payment, mappings))
    built = build_documents("order_to_cash", payment, MAPPINGS_DIR)
    assert json.loads(json.dumps(built)) == built  # plain JSON, as it travels between stages
    assert [doc["kind"] for doc in built] == [doc["kind"] for doc in expected]
    for got, want in zip(built, expected):
        assert got == want, got["kind"]
