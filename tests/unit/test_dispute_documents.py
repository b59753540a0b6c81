"""The dispute mapping files give, field for field, the documents the dispute flow has always posted.

The expected documents (``tests/fixtures/expected_documents/disputes.json``) were recorded from the Python
transform the files replaced (``build_dispute`` completed by ``against_sale``), read the way its post step
sent them: GroupID, InvoiceNum and HeadNum as placeholders and the receipt line post built. For each state
of a dispute (open, won with and without listed movements, lost, an inquiry, KWD) the flow's own transform
must give exactly the recorded chargeback and reversal, the lost outcome and the order notes.
"""

import json

import pytest

from tasks.epicor.schemas import validate_documents
from tasks.flows import disputes
from tests.fixtures import expected_cases, flow_context, sample_charges

CASES = expected_cases("disputes")
CHARGES = sample_charges()


@pytest.fixture(scope="module")
def ctx():
    return flow_context()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_flows_transform_gives_the_recorded_documents(ctx, name):
    case = CASES[name]
    fetched = {"charge": CHARGES[case["dispute"]["charge"]], "dispute": case["dispute"], "sale": case["sale"]}
    built = disputes.transform(ctx, fetched)["dispute"]
    assert json.loads(json.dumps(built)) == built  # plain JSON, as it travels between stages
    for step in ("chargeback", "reversal"):
        if case[step] is None:
            assert built[step] is None, step
            continue
        assert built[step]["external_id"] == case[step][1]["reference"]["ExternalID"]
        for got, want in zip(built[step]["documents"], case[step], strict=True):
            assert got == want, (step, got["kind"])
        validate_documents(built[step]["documents"])
    assert built["credit_memo_outcome"] == case["credit_memo_outcome"]
    assert built["order"] == case["order"]
