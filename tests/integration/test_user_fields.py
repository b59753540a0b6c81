"""A site's own field mapping, made only in its mapping files, reaches Epicor on the next payment.

The site (its own ``MAPPINGS_DIR``, on a stack of this module's own) declares two of the contract's
user-defined columns of ``OrderHed`` in ``documents/user_fields.yaml`` and maps them in its copy of
``documents/order_to_cash/sales_order.yaml``: the payment key into ``StripePaymentID_c`` and a Stripe
metadata key into ``StripeReceiptURL_c``. The files are edited while the worker runs: the next payment
carries the new fields, with no restart, and the payment before it was posted without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from sandbox.stack import ROOT
from tests.integration.conftest import Harness, own_stack
from tests.integration.test_order_to_cash import assert_one_set, documents_for, post_all_events

pytestmark = pytest.mark.integration
USER_FIELDS = """OrderHed:
  StripePaymentID_c: {type: string, length: 50}
  StripeReceiptURL_c: {type: string, length: 200}
"""
NEW_FIELDS = ("    StripePaymentID_c: {from: payment_key}\n"
              "    StripeReceiptURL_c: {from: charge.metadata.receipt_ref}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("user_fields")
    mappings = base / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with own_stack(base, {"MAPPINGS_DIR": str(mappings)}) as stack:
        yield SimpleNamespace(harness=Harness(stack), mappings=mappings)


def pay(harness: Harness, amount: int) -> dict:
    payment = harness.create_payment(amount=amount, currency="usd",
                                     customer={"name": "UD Buyer", "email": "ud@shop.example"},
                                     metadata={"receipt_ref": f"https://receipts.example/r/{amount}"})
    records = post_all_events(harness, payment)
    assert {record["state"] for record in records} == {"done"}, [record.get("last_error") for record in records]
    return payment


def test_fields_mapped_only_in_the_site_files_reach_epicor_on_the_next_payment(site):
    harness = site.harness
    before = pay(harness, 2100)
    order = documents_for(harness.epicor(), before)["orders"][0]
    assert order["StripePaymentID_c"] == "" and order["StripeReceiptURL_c"] == ""

    (site.mappings / "documents" / "user_fields.yaml").write_text(USER_FIELDS)
    sales_order = site.mappings / "documents" / "order_to_cash" / "sales_order.yaml"
    text = sales_order.read_text()
    assert "    OrderComment: {from: order_comment}\n" in text
    sales_order.write_text(text.replace("    OrderComment: {from: order_comment}\n",
                                        "    OrderComment: {from: order_comment}\n" + NEW_FIELDS))

    after = pay(harness, 2200)
    docs = documents_for(harness.epicor(), after)
    assert_one_set(docs, "22.00", "USD")
    order = docs["orders"][0]
    assert order["StripePaymentID_c"] == after["payment_intent"]["id"]
    assert order["StripeReceiptURL_c"] == "https://receipts.example/r/2200"
