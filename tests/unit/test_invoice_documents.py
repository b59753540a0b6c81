"""The stripe_invoice mapping files give, field for field, the documents the invoice flow has always posted.

``tests/fixtures/expected_documents/stripe_invoice.json`` was recorded from the Python transform the files
replaced (``build_invoice_documents``), read the way its post step sent the documents: the customer it found
or created (``match``, ``cust_id_alternates``), the AR invoice with CustNum and GroupID as placeholders and
InvoiceNum (and OrderNum on an order's lines) on its lines, and the cash receipt with the receipt line post
built to apply it; besides them, the facts validate and post read (``total`` for the overpayment check,
``order_num``, the parts). For both Stripe invoice shapes, tax, an Epicor order, a payment outside Stripe, a
price needing more decimals and an invoice with nothing paid (no receipt at all), the flow's own transform
must give exactly the recorded documents, and its validate must pass them (a proration credit included).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.epicor.posting import parts_of
from tasks.errors import ValidationFailed
from tasks.flows import stripe_invoice
from tests.fixtures import expected_cases, flow_context

CASES = expected_cases("stripe_invoice")


@pytest.fixture(scope="module")
def ctx():
    return flow_context()


def transformed(ctx: Any, name: str) -> dict[str, Any]:
    output = stripe_invoice.transform_invoice(ctx, {**CASES[name]["bill"], "fetched_at": 1.0})
    assert json.loads(json.dumps(output)) == output  # plain JSON, as it travels between stages
    return output


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_flows_transform_gives_the_recorded_documents(ctx, name):
    want = CASES[name]
    got = transformed(ctx, name)
    assert [doc["kind"] for doc in got["documents"]] == [doc["kind"] for doc in want["documents"]]
    for got_doc, want_doc in zip(got["documents"], want["documents"], strict=True):
        assert got_doc == want_doc, got_doc["kind"]
    ar_invoice = next(doc for doc in got["documents"] if doc["kind"] == "ar_invoice")
    facts = {"payment_key": got["payment_key"], "currency": ar_invoice["currency"], "total": got["total"],
             "order_num": got["order_num"], "parts": parts_of(got["documents"])}
    assert facts == want["facts"]


class KnownParts:
    """Epicor as validate sees it: every part exists."""

    def get(self, service: str, entity: str, key: Any) -> dict[str, Any]:
        return {"PartNum": key}


@pytest.mark.parametrize("name", ["subscription_2020_proration", "epicor_order_advance_billing", "nothing_paid"])
def test_the_flows_validate_passes_them_with_a_proration_credit(ctx, name, fake_redis):
    output = transformed(ctx, name)
    ctx_with_epicor = type(ctx)(**vars(ctx), epicor=KnownParts())
    assert stripe_invoice.validate_invoice(ctx_with_epicor, output) is output


def test_a_negative_line_is_refused_on_any_other_invoice(ctx):
    """The negative proration line passes only because the invoice's lines are checked as billed lines."""
    from tasks.epicor.schemas import validate_documents

    output = transformed(ctx, "subscription_2020_proration")
    with pytest.raises(ValidationFailed, match="DocUnitPrice"):
        validate_documents([doc for doc in output["documents"] if doc["kind"] == "ar_invoice"])


def test_more_paid_than_billed_is_refused_for_the_accountant(ctx, fake_redis):
    output = transformed(ctx, "price_needing_more_decimals")  # recorded with 66.00 paid against 20.00 billed
    with pytest.raises(ValidationFailed, match="overpayment"):
        stripe_invoice.validate_invoice(type(ctx)(**vars(ctx), epicor=KnownParts()), output)
