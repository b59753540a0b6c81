"""The refund mapping files give, field for field, the documents the refund flow has always posted.

The expected documents (``tests/fixtures/expected_documents/refunds.json``) were recorded from the Python
transform the files replaced (``build_refund`` completed by ``against_sale``), read the way its post step sent
them: GroupID, InvoiceNum and HeadNum as placeholders, the customer, invoice type, order and ``InvoiceRef`` of
the sale's invoice, and the receipt line post built to apply the refund receipt to its credit memo. The
flow's own transform must keep giving exactly these, so a change to a shipped file (or to the engine) that
changes what reaches Epicor fails here.
"""

import json

import pytest

from tasks.epicor.schemas import validate_documents
from tasks.flows import refunds
from tasks.mapping.engine import build_documents
from tests.fixtures import MAPPINGS_DIR, expected_cases, flow_context, sample_charges

CASES = expected_cases("refunds")
CHARGES = sample_charges()


@pytest.fixture(scope="module")
def ctx():
    return flow_context()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_flows_transform_gives_the_recorded_documents(ctx, name):
    case = CASES[name]
    fetched = {"charge": CHARGES[case["refund"]["charge"]], "refunds": [case["refund"]], "single_refund": True,
               "sale": case["sale"]}
    built = refunds.transform(ctx, fetched)["refunds"]
    assert [refund["external_id"] for refund in built] == [case["refund"]["id"]]
    documents = built[0]["documents"]
    assert json.loads(json.dumps(documents)) == documents  # plain JSON, as it travels between stages
    assert [doc["kind"] for doc in documents] == [doc["kind"] for doc in case["documents"]]
    for got, want in zip(documents, case["documents"]):
        assert got == want, got["kind"]
    validate_documents(documents)


def test_partial_refunds_are_separate_credit_memos_oldest_first(ctx):
    first, second = CASES["usd_partial_no_reason"]["refund"], CASES["usd_duplicate_against_order"]["refund"]
    fetched = {"charge": CHARGES[first["charge"]], "refunds": [first, second], "single_refund": False,
               "sale": CASES["usd_partial_no_reason"]["sale"]}
    built = refunds.transform(ctx, fetched)["refunds"]
    assert [refund["external_id"] for refund in built] == [second["id"], first["id"]]  # by creation time
    amounts = [doc["header"]["DocTranAmt"] for refund in built for doc in refund["documents"]
               if doc["kind"] == "cash_receipt"]
    assert amounts == ["-25.00", "-12.50"]


def test_the_engine_alone_gives_the_same_documents(ctx):
    case = CASES["kwd_unknown_reason"]
    scope = {"refund": case["refund"], "charge": CHARGES[case["refund"]["charge"]], "sale": case["sale"]}
    assert build_documents("refunds", scope, MAPPINGS_DIR, ctx.mappings) == case["documents"]
