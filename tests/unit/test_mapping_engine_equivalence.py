"""The shipped field mapping files give, field for field, the documents order-to-cash has always posted.

The expected documents (``tests/fixtures/expected_documents/order_to_cash.json``) were recorded from the
Python transform the files replaced (``build_order_to_cash``), read the way its post step sent them: the
keys Epicor assigns (CustNum, OrderNum, InvoiceNum, GroupID, HeadNum) as placeholders and the receipt line
applying the whole payment to the invoice. The flow's transform must keep giving exactly these, so a change
to a shipped file or to the engine that changes what reaches Epicor fails here.
"""

import json
from types import SimpleNamespace

import pytest

from tasks.flows import order_to_cash
from tasks.mapping.engine import build_documents
from tasks.mapping.tables import load_mappings
from tests.fixtures import FIXTURES_DIR, MAPPINGS_DIR, payment_fixture

PAYMENTS = ("payment_usd_customer", "payment_jpy_guest", "payment_kwd_checkout")
EXPECTED = json.loads((FIXTURES_DIR / "expected_documents" / "order_to_cash.json").read_text())


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
def test_the_flows_transform_gives_the_recorded_documents(mappings, name, payment):
    ctx = SimpleNamespace(mappings=mappings, settings=SimpleNamespace(mappings_dir=MAPPINGS_DIR))
    built = order_to_cash.transform(ctx, payment)["documents"]
    assert json.loads(json.dumps(built)) == built  # plain JSON, as it travels between stages
    expected = EXPECTED[name]
    assert [doc["kind"] for doc in built] == [doc["kind"] for doc in expected]
    for got, want in zip(built, expected):
        assert got == want, got["kind"]


def test_the_engine_alone_gives_the_same_documents(mappings):
    name, payment = variants()[2]
    assert build_documents("order_to_cash", payment, MAPPINGS_DIR, mappings) == EXPECTED[name]
