"""POST /api/mappings/preview of a refund or dispute event: the flow's own documents (each refund's, the
chargeback and its reversal), and a reasoned 4xx, never a 5xx, for any flow name or event."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import FIXTURES_DIR, MAPPINGS_DIR
from tests.web.test_console_auth import as_user

INVOICES = json.loads((FIXTURES_DIR / "expected_documents" / "stripe_invoice.json").read_text())["cases"]
REFUNDS = json.loads((FIXTURES_DIR / "expected_documents" / "refunds.json").read_text())["cases"]
DISPUTES = json.loads((FIXTURES_DIR / "expected_documents" / "disputes.json").read_text())["cases"]
CHARGES = {sample["charge"]["id"]: sample["charge"] for sample in
           json.loads((MAPPINGS_DIR.parent / "tasks/mapping/data/samples/refunds.json").read_text())["samples"]}


def stored_event(redis_db, event_id: str, flow: str, fetched: dict) -> str:
    redis_db.hset(f"sec:event:{event_id}", mapping={"flow": flow, "type": "charge.refunded", "state": "done"})
    redis_db.set(f"sec:stage:{event_id}:transform", json.dumps(fetched))
    return event_id


def test_a_refund_event_previews_as_its_recorded_documents(operator, redis_db):
    case = REFUNDS["jpy_requested"]
    fetched = {"charge": CHARGES[case["refund"]["charge"]], "refunds": [case["refund"]], "single_refund": True,
               "sale": case["sale"]}
    answer = operator.post("/api/mappings/preview", json={"event_id": stored_event(redis_db, "evt_re", "refunds",
                                                                                  fetched)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    shown = answer.get_json()
    assert shown["ok"] is True and shown["documents"] == case["documents"]


def test_a_lost_dispute_event_previews_its_chargeback(operator, redis_db):
    case = DISPUTES["lost"]
    fetched = {"charge": CHARGES[case["dispute"]["charge"]], "dispute": case["dispute"], "sale": case["sale"]}
    answer = operator.post("/api/mappings/preview", json={"event_id": stored_event(redis_db, "evt_dp", "disputes",
                                                                                  fetched)})
    assert answer.status_code == 200 and answer.get_json()["documents"] == case["chargeback"]


def test_a_paid_invoice_event_previews_as_its_recorded_documents_and_a_draft_reaches_them(operator, redis_db):
    case = INVOICES["subscription_2020_proration"]
    event_id = stored_event(redis_db, "evt_in", "stripe_invoice", {**case["bill"], "standing": None, "fetched_at": 1.0})
    answer = operator.post("/api/mappings/preview", json={"event_id": event_id})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["documents"] == case["documents"]
    assert answer.get_json()["ok"] is True  # its negative proration line is checked as a billed line
    draft = (MAPPINGS_DIR / "documents/stripe_invoice_receipt/cash_receipt.yaml").read_text().replace(
        "template: Stripe invoice $number", "template: Subscription $number")
    answer = as_user(operator.application, "admin").post("/api/mappings/preview", json={
        "flow": "stripe_invoice_receipt", "event_id": event_id, "draft": {"cash_receipt": draft}})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    receipt = next(doc for doc in answer.get_json()["documents"] if doc["kind"] == "cash_receipt")
    assert receipt["header"]["Reference"] == "Subscription 8F4A21C3-0002"


@pytest.mark.parametrize(("flow", "fetched", "status"), [
    ("payout_reconciliation", {"payout": {}}, 400),    # a flow without mapping files
    ("payment_failed", {"charge": {}}, 200),           # odd stored objects: shown as errors
    ("stripe_invoice", {"invoice": {}}, 200),          # odd stored objects: shown as errors
    ("", {}, 400),
    ("refunds", {"refunds": [], "charge": {}, "single_refund": False, "sale": None}, 409),  # posts nothing
    ("refunds", {"refunds": "x"}, 200),                 # odd stored objects: shown as errors
    ("disputes", [1, 2], 200),
])
def test_any_flow_or_event_is_answered_without_a_5xx(operator, redis_db, flow, fetched, status):
    answer = operator.post("/api/mappings/preview", json={"event_id": stored_event(redis_db, "evt_x", flow, fetched)})
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body.get("error") or body.get("ok") is False


@pytest.mark.parametrize("flow", ["dispute_reversals", "payment_failed", "disputes/../x", "stripe_invoice"])
def test_a_flow_name_with_a_sample_is_never_a_5xx(operator, flow):
    answer = operator.post("/api/mappings/preview", json={"flow": flow, "sample": True})
    assert answer.status_code in (200, 400, 422), answer.get_data(as_text=True)
