"""The refund, dispute and failed-payment flows' decisions, with fakes at the connector boundary:
what is skipped, what waits for the sale, what is refused, and what an order hold writes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest

from tasks import store
from tasks.epicor.adjustments import set_order_hold
from tasks.errors import PrerequisiteMissing, ValidationFailed
from tasks.flows import SkipEvent, disputes, payment_failed, refunds
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR

NOON = 1772625600
SALE_ROW = {"InvoiceNum": 70001, "CustNum": 201, "CurrencyCode": "USD", "InvoiceType": "Adv", "OrderNum": 5001,
            "CreditMemo": False, "ExternalID": "ch_sale"}
REASONS = {"DUPL", "FRAUD", "CUSTREQ", "EXPIRED", "OTHER", "DISPUTE", "DISPLOST"}


class FakeStripe:
    """Stripe objects by id; ``invoice_paid_by`` answers from a table."""

    def __init__(self, *objects: dict[str, Any], paid_invoices: dict[str, str] | None = None):
        self.objects = {obj["id"]: obj for obj in objects}
        self.paid_invoices = paid_invoices or {}

    def charge(self, object_id): return self.objects[object_id]
    def refund(self, object_id): return self.objects[object_id]
    def dispute(self, object_id): return self.objects[object_id]
    def payment_intent(self, object_id): return self.objects[object_id]
    def checkout_session(self, object_id): return self.objects[object_id]

    def refunds_of_charge(self, charge_id):
        return [obj for obj in self.objects.values() if obj.get("object") == "refund" and obj["charge"] == charge_id]

    def invoice_paid_by(self, *, payment_intent=None, charge=None):
        return self.paid_invoices.get(payment_intent or charge)


class FakeEpicor:
    """AR invoices found by ExternalID, reason codes by key, and every PATCH recorded."""

    def __init__(self, invoices: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (), reasons: set[str] = REASONS):
        self.invoices, self.reasons = list(invoices), reasons
        self.updates: list[tuple[str, list[Any], dict[str, Any]]] = []

    def find_one(self, service, entity_set, **fields):
        return next((row for row in self.invoices if all(row.get(k) == v for k, v in fields.items())), None)

    def get(self, service, entity_set, *keys):
        return {"ReasonCode": keys[-1]} if entity_set == "Reasons" and keys[-1] in self.reasons else None

    def update(self, service, entity_set, keys, changes):
        self.updates.append((entity_set, list(keys), changes))


@pytest.fixture(autouse=True)
def fake_redis(monkeypatch):
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def context(mappings, stripe: FakeStripe, epicor: FakeEpicor | None = None) -> SimpleNamespace:
    return SimpleNamespace(stripe=stripe, epicor=epicor or FakeEpicor(), mappings=mappings, event={},
                           settings=SimpleNamespace(mappings_dir=MAPPINGS_DIR))


def charge(charge_id: str = "ch_sale", **fields: Any) -> dict[str, Any]:
    return {"id": charge_id, "object": "charge", "currency": "usd", "customer": "cus_1", "payment_intent": "pi_sale",
            "captured": True, "status": "succeeded", "billing_details": {"email": None}, **fields}


def refund(refund_id: str = "re_1", status: str = "succeeded", **fields: Any) -> dict[str, Any]:
    return {"id": refund_id, "object": "refund", "amount": 1250, "currency": "usd", "charge": "ch_sale",
            "reason": "duplicate", "status": status, "created": NOON, "metadata": {}, **fields}


def envelope(event_type: str, object_id: str) -> dict[str, Any]:
    return {"event_id": "evt_1", "type": event_type, "object_id": object_id}


def through_validate(ctx, flow, event: dict[str, Any]) -> dict[str, Any]:
    return flow.validate(ctx, flow.transform(ctx, flow.fetch(ctx, event)))


def memo_header(refund_documents: dict[str, Any]) -> dict[str, Any]:
    return next(doc["header"] for doc in refund_documents["documents"] if doc["kind"] == "credit_memo")


# refunds -------------------------------------------------------------------------------------------

def test_a_refund_of_an_authorisation_never_captured_is_skipped(mappings):
    ctx = context(mappings, FakeStripe(charge(captured=False), refund()))
    with pytest.raises(SkipEvent, match="never captured"):
        refunds.fetch(ctx, envelope("refund.created", "re_1"))


def test_a_pending_refund_waits_for_refund_updated(mappings):
    ctx = context(mappings, FakeStripe(charge(), refund(status="pending")))
    with pytest.raises(SkipEvent, match="pending"):
        refunds.transform(ctx, refunds.fetch(ctx, envelope("charge.refunded", "ch_sale")))


def test_charge_refunded_posts_every_succeeded_refund_of_the_charge(mappings):
    stripe = FakeStripe(charge(), refund("re_1"), refund("re_2", created=NOON + 5), refund("re_3", status="failed"))
    ctx = context(mappings, stripe, FakeEpicor([SALE_ROW]))
    checked = through_validate(ctx, refunds, envelope("charge.refunded", "ch_sale"))
    assert [documents["external_id"] for documents in checked["refunds"]] == ["re_1", "re_2"]
    assert checked["not_paid"] == []  # a failed refund listed by charge.refunded is not this event's business
    assert memo_header(checked["refunds"][0])["InvoiceRef"] == 70001
    assert [doc["kind"] for doc in checked["refunds"][1]["documents"]] == [
        "invoice_group", "credit_memo", "cash_group", "cash_receipt"]


def test_a_refund_before_its_sale_waits_at_fetch(mappings):
    ctx = context(mappings, FakeStripe(charge(), refund()))
    with pytest.raises(PrerequisiteMissing, match="ch_sale"):
        refunds.fetch(ctx, envelope("refund.created", "re_1"))


def test_a_pending_or_failed_refund_never_waits_for_the_sale(mappings):
    ctx = context(mappings, FakeStripe(charge(), refund(status="pending"), refund("re_2", status="failed")))
    assert refunds.fetch(ctx, envelope("charge.refunded", "ch_sale"))["sale"] is None


def test_a_refund_in_another_currency_than_its_sale_is_refused_at_validate(mappings):
    ctx = context(mappings, FakeStripe(charge(), refund(currency="eur")), FakeEpicor([SALE_ROW]))
    with pytest.raises(ValidationFailed, match="re_1 is in EUR but the sale's invoice 70001 is in USD"):
        through_validate(ctx, refunds, envelope("refund.created", "re_1"))


def test_a_refund_of_a_subscription_payment_is_credited_against_its_stripe_invoice(mappings):
    subscription_sale = {**SALE_ROW, "ExternalID": "in_1", "InvoiceType": "Mis", "OrderNum": 0}
    ctx = context(mappings, FakeStripe(charge(), refund(), paid_invoices={"pi_sale": "in_1"}),
                  FakeEpicor([subscription_sale]))
    header = memo_header(through_validate(ctx, refunds, envelope("refund.updated", "re_1"))["refunds"][0])
    assert (header["InvoiceRef"], header["InvoiceType"]) == (70001, "Mis") and "OrderNum" not in header


def test_a_reason_code_missing_in_epicor_stops_the_refund_at_validation(mappings):
    ctx = context(mappings, FakeStripe(charge(), refund()), FakeEpicor([SALE_ROW], reasons=REASONS - {"DUPL"}))
    with pytest.raises(ValidationFailed, match="'DUPL' .*Reason Maintenance .*reasons.yaml key refunds.duplicate"):
        through_validate(ctx, refunds, envelope("refund.created", "re_1"))


# disputes ------------------------------------------------------------------------------------------

def test_a_dispute_before_its_sale_waits(mappings):
    dispute = {"id": "dp_1", "object": "dispute", "amount": 3700, "currency": "usd", "charge": "ch_sale",
               "reason": "fraudulent", "status": "needs_response", "created": NOON, "metadata": {},
               "balance_transactions": [{"id": "txn_1", "amount": -3700, "created": NOON}]}
    ctx = context(mappings, FakeStripe(charge(), dispute))
    with pytest.raises(PrerequisiteMissing):
        disputes.fetch(ctx, envelope("charge.dispute.created", "dp_1"))
    ctx = context(mappings, FakeStripe(charge(), dispute), FakeEpicor([SALE_ROW]))
    checked = through_validate(ctx, disputes, envelope("charge.dispute.created", "dp_1"))
    assert memo_header(checked["dispute"]["chargeback"])["InvoiceRef"] == 70001
    assert checked["dispute"]["reversal"] is None and checked["dispute"]["order"]["hold"] is True


# failed payments -----------------------------------------------------------------------------------

def test_a_failure_of_a_payment_that_has_since_succeeded_is_history(mappings):
    ctx = context(mappings, FakeStripe({"id": "pi_sale", "status": "succeeded", "latest_charge": "ch_sale"}, charge()))
    with pytest.raises(SkipEvent, match="since succeeded"):
        payment_failed.fetch(ctx, envelope("payment_intent.payment_failed", "pi_sale"))


def test_the_decline_code_and_message_go_into_the_hold_note(mappings):
    intent = {"id": "pi_x", "status": "requires_payment_method", "latest_charge": "ch_x", "customer": None,
              "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                     "message": "Your card has insufficient funds.", "charge": "ch_x"}}
    ctx = context(mappings, FakeStripe(intent, charge("ch_x", status="failed", payment_intent="pi_x")))
    [hold] = payment_failed.transform(ctx, payment_failed.fetch(ctx, envelope("charge.failed", "ch_x")))["documents"]
    assert hold["kind"] == "order_hold"
    assert hold["header"] == {"OrderHeld": True, "OrderComment": "Stripe payment pi_x failed: card_declined / "
                              "insufficient_funds: Your card has insufficient funds."}


def test_a_charge_without_a_payment_intent_uses_the_charge_failure(mappings):
    failed = charge("ch_old", payment_intent=None, status="failed", failure_code="card_declined",
                    failure_message="Your card was declined.", outcome={"reason": "generic_decline"})
    ctx = context(mappings, FakeStripe(failed))
    fetched = payment_failed.fetch(ctx, envelope("charge.failed", "ch_old"))
    assert fetched["payment_key"] == "ch_old"
    [hold] = payment_failed.transform(ctx, fetched)["documents"]
    assert hold["header"]["OrderComment"] == \
        "Stripe payment ch_old failed: card_declined / generic_decline: Your card was declined."


def test_an_order_hold_writes_once_and_keeps_the_existing_comment():
    epicor = FakeEpicor()
    order = {"OrderNum": 5001, "OrderHeld": False, "OrderComment": "Stripe payment pi_1"}
    ctx = SimpleNamespace(epicor=epicor)
    assert set_order_hold(ctx, order, held=True, notes=["payment failed"]) is True
    assert epicor.updates == [("SalesOrders", [5001], {"OrderHeld": True,
                                                       "OrderComment": "Stripe payment pi_1\npayment failed"})]
    held = {**order, "OrderHeld": True, "OrderComment": "Stripe payment pi_1\npayment failed"}
    assert set_order_hold(ctx, held, held=True, notes=["payment failed"]) is False
    assert len(epicor.updates) == 1
