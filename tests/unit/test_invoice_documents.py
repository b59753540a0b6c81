"""The documents the ``stripe_invoice`` flow posts today, recorded so its switch to mapping files (the one
document shape) can be proved field for field, as order-to-cash, refunds and disputes were.

``tests/fixtures/expected_documents/stripe_invoice.json`` was recorded from today's transform
(``build_invoice_documents``), read the way its post step sends the documents: the customer it finds or
creates (``match``, ``cust_id_alternates``), the AR invoice with CustNum and GroupID as placeholders and
InvoiceNum (and OrderNum on an order's lines) on its lines, and the cash receipt with the receipt line post
builds to apply it; besides the documents, the facts validate and post read (``total`` for the overpayment
check, ``order_num``, ``parts``). Until the switch, this test keeps today's transform equal to the record;
after it, the flow's own transform must give the same documents.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tasks.documents import document
from tasks.mapping.invoices import build_invoice_documents
from tasks.mapping.tables import load_mappings
from tests.fixtures import FIXTURES_DIR, MAPPINGS_DIR
from tests.unit.test_mapping_invoices import bill_for, invoice_of

RECORD = FIXTURES_DIR / "expected_documents" / "stripe_invoice.json"


def bills() -> dict[str, dict[str, Any]]:
    """The invoices recorded: both Stripe API shapes, tax, an Epicor order, no Stripe payment, nothing paid."""
    basil, old = invoice_of("invoice_paid_basil"), invoice_of("invoice_paid_2020_08_27")
    ordered = copy.deepcopy(basil)
    ordered["metadata"] = {"epicor_order_num": "5012", "epicor_cust_num": "233"}
    ordered["lines"]["data"][1]["metadata"].update({"epicor_order_num": "5012", "epicor_order_line": "2"})
    collapsed = copy.deepcopy(basil)
    collapsed["lines"]["data"][0].update({"amount": 1000, "quantity": 3})
    collapsed["total"] = 2000
    unpaid = copy.deepcopy(old)
    unpaid["lines"]["data"][1]["amount"] = 1000
    unpaid.update({"total": 0, "amount_paid": 0, "amount_due": 0})
    return {"subscription_2020_proration": bill_for(old, "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe"),
            "basil_tax_and_line_part": bill_for(basil, "ch_3RJm8sBq2cUe7XwP"),
            "epicor_order_advance_billing": bill_for(ordered, "ch_y"),
            "paid_outside_stripe": bill_for(basil, None),
            "price_needing_more_decimals": bill_for(collapsed, "ch_x"),
            "nothing_paid": bill_for(unpaid, None)}


def as_posted(built: dict[str, Any]) -> dict[str, Any]:
    """Today's transform output read the way ``stripe_invoice.post`` sends it, in the one document shape."""
    currency, invoice, order_num = built["currency"], built["invoice"], built["order_num"]
    customer = built["customer"]
    documents = [
        document("customer", customer["create"], reference={"match": customer["match"],
                                                             "cust_id_alternates": customer["cust_id_alternates"]},
                 currency=currency),
        document("invoice_group", built["invoice_group"]),
        document("ar_invoice", {**invoice["header"], "GroupID": "{{GroupID}}", "CustNum": "{{CustNum}}"},
                 [{**line, "InvoiceNum": "{{InvoiceNum}}",
                   **({"OrderNum": order_num} if order_num and line.get("OrderLine") else {})}
                  for line in invoice["lines"]],
                 reference={"ExternalID": invoice["header"]["ExternalID"]}, currency=currency)]
    if built["receipt"]:
        receipt = built["receipt"]["header"]
        documents += [
            document("cash_group", built["cash_group"]),
            document("cash_receipt", {**receipt, "GroupID": "{{GroupID}}", "CustNum": "{{CustNum}}"},
                     [{"GroupID": "{{GroupID}}", "HeadNum": "{{HeadNum}}", "InvoiceNum": "{{InvoiceNum}}",
                       "InvoiceRef": 0, "TranType": receipt["TranType"], "CustNum": "{{CustNum}}",
                       "DocTranAmt": receipt["DocTranAmt"]}],
                     reference={"ExternalID": receipt["ExternalID"]}, currency=currency)]
    facts = {key: built[key] for key in ("payment_key", "currency", "total", "order_num", "parts")}
    return json.loads(json.dumps({"documents": [dict(doc) for doc in documents], "facts": facts}))


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return json.loads(RECORD.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("name", sorted(bills()))
def test_todays_invoice_transform_gives_the_recorded_documents(recorded, name):
    bill = bills()[name]
    assert recorded[name]["bill"] == json.loads(json.dumps(bill))
    got = as_posted(build_invoice_documents(bill, load_mappings(MAPPINGS_DIR)))
    want = recorded[name]
    assert [doc["kind"] for doc in got["documents"]] == [doc["kind"] for doc in want["documents"]]
    for got_doc, want_doc in zip(got["documents"], want["documents"], strict=True):
        assert got_doc == want_doc, got_doc["kind"]
    assert got["facts"] == want["facts"]


if __name__ == "__main__":  # records the fixture: python -m tests.unit.test_invoice_documents
    tables = load_mappings(MAPPINGS_DIR)
    cases = {name: {"bill": json.loads(json.dumps(bill)), **as_posted(build_invoice_documents(bill, tables))}
             for name, bill in bills().items()}
    about = ("Stripe invoice documents as the stripe_invoice flow posted them before its transform built "
             "documents in the one shape (build_invoice_documents, read the way post sends them, with the "
             "receipt line post builds); CustNum, GroupID, InvoiceNum and HeadNum as placeholders. Input: the "
             "fetch stage's invoice facts, priced lines, customer and payment (without standing).")
    RECORD.write_text(json.dumps({"_about": about, "cases": cases}, indent=1, sort_keys=False) + "\n",
                      encoding="utf-8")
