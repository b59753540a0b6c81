"""A preview of a refund or dispute event shows exactly what the flow would post: the flow's own transform
runs on the event's stored fetch output (refunds and disputes call the engine once per refund or dispute
step, on inputs shaped by the transform), with a draft in place of the published file; an event that
would post nothing, or of a flow without mapping files, is refused with the reason."""

import json

import pytest

from tasks.flows import disputes, refunds
from tasks.mapping.preview import PreviewRefused, preview
from tests.fixtures import MAPPINGS_DIR, expected_cases, flow_context, sample_charges

REFUNDS = expected_cases("refunds")
DISPUTES = expected_cases("disputes")
CHARGES = sample_charges()
CREDIT_MEMO = (MAPPINGS_DIR / "documents" / "refunds" / "credit_memo.yaml").read_text(encoding="utf-8")
REVERSAL = (MAPPINGS_DIR / "documents" / "dispute_reversals" / "ar_invoice.yaml").read_text(encoding="utf-8")


def stored_event(client, flow: str, fetched: dict, event_id: str, event_type: str) -> str:
    client.hset(f"sec:event:{event_id}", mapping={"flow": flow, "type": event_type, "state": "done"})
    client.set(f"sec:stage:{event_id}:transform", json.dumps(fetched))
    return event_id


def two_refunds() -> dict:
    """A ``charge.refunded`` fetch output: two partial refunds of one sale (the newer listed first)."""
    first, second = REFUNDS["usd_partial_no_reason"]["refund"], REFUNDS["usd_duplicate_against_order"]["refund"]
    return {"charge": CHARGES[first["charge"]], "refunds": [first, second], "single_refund": False,
            "sale": REFUNDS["usd_partial_no_reason"]["sale"]}


def won_dispute() -> dict:
    case = DISPUTES["won_reinstated"]
    return {"charge": CHARGES[case["dispute"]["charge"]], "dispute": case["dispute"], "sale": case["sale"]}


def test_a_refund_events_preview_equals_the_documents_the_flow_posts(published):
    event_id = stored_event(published, "refunds", two_refunds(), "evt_refunded", "charge.refunded")
    before = {key: published.type(key) for key in published.keys("*")}
    shown = preview(None, event_id=event_id, mappings_dir=MAPPINGS_DIR)
    assert shown.source == "stage_input" and shown.errors == []
    posted = refunds.transform(flow_context(), two_refunds())["refunds"]
    assert shown.documents == [document for refund in posted for document in refund["documents"]]
    # Each refund's own recorded documents, oldest refund first: not the engine run once on the whole event.
    assert shown.documents == (REFUNDS["usd_duplicate_against_order"]["documents"]
                               + REFUNDS["usd_partial_no_reason"]["documents"])
    assert {key: published.type(key) for key in published.keys("*")} == before


def test_a_dispute_events_preview_shows_the_chargeback_then_its_reversal(published):
    event_id = stored_event(published, "disputes", won_dispute(), "evt_won", "charge.dispute.closed")
    shown = preview(None, event_id=event_id, mappings_dir=MAPPINGS_DIR)
    assert shown.errors == []
    built = disputes.transform(flow_context(), won_dispute())["dispute"]
    assert shown.documents == built["chargeback"]["documents"] + built["reversal"]["documents"]
    assert shown.documents == DISPUTES["won_reinstated"]["chargeback"] + DISPUTES["won_reinstated"]["reversal"]
    assert shown.versions["credit_memo"] == 1 and shown.versions["dispute_reversals/ar_invoice"] == 1


def test_a_draft_reaches_the_flows_own_build_of_each_refund(published):
    event_id = stored_event(published, "refunds", two_refunds(), "evt_refunded", "charge.refunded")
    draft = CREDIT_MEMO.replace("const: Stripe refund,", "const: Refund from Stripe,")
    assert draft != CREDIT_MEMO
    shown = preview("refunds", event_id=event_id, drafts={"credit_memo": draft}, mappings_dir=MAPPINGS_DIR)
    assert shown.errors == [] and shown.versions["credit_memo"] == "draft"
    memos = [doc for doc in shown.documents if doc["kind"] == "credit_memo"]
    assert [memo["header"]["Description"] for memo in memos] == ["Refund from Stripe"] * 2
    # Nothing was published: the flow still builds with the shipped file.
    posted = refunds.transform(flow_context(), two_refunds())["refunds"]
    assert posted[0]["documents"][1]["header"]["Description"] == "Stripe refund"


def test_a_draft_of_the_reversal_previews_on_a_dispute_event(published):
    event_id = stored_event(published, "disputes", won_dispute(), "evt_won", "charge.dispute.closed")
    draft = REVERSAL.replace("const: Stripe chargeback reversed,", "const: Chargeback reversed,")
    assert draft != REVERSAL
    shown = preview("dispute_reversals", event_id=event_id, drafts={"ar_invoice": draft}, mappings_dir=MAPPINGS_DIR)
    assert shown.errors == [] and shown.versions["ar_invoice"] == "draft"
    [debit] = [doc for doc in shown.documents if doc["kind"] == "ar_invoice"]
    assert debit["header"]["Description"] == "Chargeback reversed"
    assert [doc["kind"] for doc in shown.documents].count("credit_memo") == 1  # the chargeback is shown too


def test_an_event_that_posts_nothing_or_has_no_mappings_is_refused_with_the_reason(published):
    pending = {**two_refunds(), "refunds": [{**REFUNDS["jpy_requested"]["refund"], "status": "pending"}],
               "single_refund": True, "sale": None}
    event_id = stored_event(published, "refunds", pending, "evt_pending", "refund.created")
    with pytest.raises(PreviewRefused, match="posts nothing: refund is pending") as refused:
        preview(None, event_id=event_id, mappings_dir=MAPPINGS_DIR)
    assert refused.value.reason == "preview.skipped"
    stored_event(published, "payout_reconciliation", {"payout": {}}, "evt_payout", "payout.paid")
    with pytest.raises(PreviewRefused, match="has no field mappings"):
        preview(None, event_id="evt_payout", mappings_dir=MAPPINGS_DIR)
    with pytest.raises(PreviewRefused, match="is of flow refunds, not order_to_cash"):
        preview("order_to_cash", event_id=event_id, mappings_dir=MAPPINGS_DIR)


def test_odd_stored_objects_are_shown_as_errors_not_raised(published):
    event_id = stored_event(published, "disputes", {"dispute": 5, "charge": [], "sale": None}, "evt_odd",
                            "charge.dispute.created")
    shown = preview(None, event_id=event_id, mappings_dir=MAPPINGS_DIR)
    assert shown.documents == [] and shown.errors
