"""The invoice and standing flows' fetch and transform against a fake Stripe connector, for an API
(or emulator) answering in the 2020-era shape and one answering in the basil shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tasks.connectors.stripe_api import StripeRejected
from tasks.context import Context
from tasks.flows import SkipEvent
from tasks.flows.customer_standing import fetch_standing, transform_standing
from tasks.flows.stripe_invoice import fetch_invoice, transform_invoice
from tasks.settings import get_settings
from tests.fixtures import payment_fixture


class FakeStripe:
    """The connector calls the flows make, answered from dicts; unknown ids are Stripe's 404."""

    def __init__(self, invoice: dict[str, Any], **objects: Any):
        self.invoice = invoice
        self.objects = objects
        self.calls: list[str] = []

    def _get(self, kind: str, object_id: str) -> dict[str, Any]:
        self.calls.append(f"{kind}:{object_id}")
        found = self.objects.get(kind, {}).get(object_id)
        if found is None:
            raise StripeRejected(f"No such {kind}: {object_id}")
        return copy.deepcopy(found)

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        self.calls.append(f"invoice:{invoice_id}")
        return copy.deepcopy(self.invoice)

    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.invoice["lines"]["data"])

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        self.calls.append(f"invoice_payments:{invoice_id}")
        return copy.deepcopy(self.objects.get("invoice_payments", []))

    def payment_intent(self, intent_id: str) -> dict[str, Any]:
        return self._get("payment_intent", intent_id)

    def price(self, price_id: str) -> dict[str, Any]:
        return self._get("price", price_id)

    def product(self, product_id: str) -> dict[str, Any]:
        return self._get("product", product_id)

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self._get("customer", customer_id)

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._get("subscription", subscription_id)

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        if "subscriptions" not in self.objects:
            raise StripeRejected("Unrecognized request URL (GET: /v1/subscriptions)")
        return copy.deepcopy(self.objects["subscriptions"])


def context(stripe: FakeStripe) -> Context:
    ctx = Context(settings=get_settings(), event={"id": "evt_test"})
    ctx.__dict__["stripe"] = stripe
    return ctx


def customer(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "name": "Jenny Rosen", "email": "jenny.rosen@example.com",
            "phone": None, "address": None, "metadata": {}, "currency": "usd", "delinquent": False, **fields}


def test_2020_invoice_uses_its_own_charge_and_embedded_prices():
    invoice = payment_fixture("invoice_paid_2020_08_27")["data"]["object"]
    stripe = FakeStripe(invoice, customer={"cus_IL6pUq9sF0ZbXc": customer("cus_IL6pUq9sF0ZbXc")},
                        product={"prod_IL5kTeamPlan01": {"id": "prod_IL5kTeamPlan01", "name": "Team plan",
                                                         "metadata": {"epicor_part_num": "SUB-MONTHLY"}}},
                        subscriptions=[{"id": "sub_IL6pRk1bQ9vYt2", "status": "active", "created": 1}])
    ctx = context(stripe)
    bill = fetch_invoice(ctx, {"type": "invoice.paid", "object_id": invoice["id"]})
    assert bill["payment"] == {"charge": "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe", "payment_intent": "pi_1HkQ2nKZ8mFq3tYbC1sN0oUv"}
    assert not [call for call in stripe.calls if call.startswith(("invoice_payments", "price:"))]
    output = transform_invoice(ctx, bill)
    documents = {document["kind"]: document for document in output["documents"]}
    assert [line["PartNum"] for line in documents["ar_invoice"]["lines"]] == ["SUB-MONTHLY", "SUB-MONTHLY"]
    assert documents["cash_receipt"]["header"]["ExternalID"] == "ch_1HkQ2nKZ8mFq3tYb9xVtG2Qe"
    assert output["standing"] == {"hold": False, "comment_line": "Stripe subscriptions: sub_IL6pRk1bQ9vYt2 active"}


def test_basil_invoice_finds_its_charge_through_invoice_payments_and_prices_by_id():
    invoice = payment_fixture("invoice_paid_basil")["data"]["object"]
    stripe = FakeStripe(
        invoice, customer={"cus_SE2xk4B0Zq7uVa": customer("cus_SE2xk4B0Zq7uVa", currency="gbp")},
        invoice_payments=[{"id": "inpay_1", "invoice": invoice["id"], "status": "paid", "is_default": True,
                           "amount_paid": 6600, "payment": {"type": "payment_intent", "payment_intent": "pi_9"}}],
        payment_intent={"pi_9": {"id": "pi_9", "latest_charge": "ch_9"}},
        price={"price_1RJm5TBq2cUe7XwPz8d0Hk1S": {"id": "price_1RJm5TBq2cUe7XwPz8d0Hk1S",
                                                  "product": "prod_SE2uAnalytics",
                                                  "metadata": {"epicor_part_num": "SUB-MONTHLY"}}},
        product={"prod_SE2uAnalytics": {"id": "prod_SE2uAnalytics", "name": "Analytics seat", "metadata": {}}})
    ctx = context(stripe)
    bill = fetch_invoice(ctx, {"type": "invoice.paid", "object_id": invoice["id"]})
    assert bill["payment"]["charge"] == "ch_9"
    assert bill["standing"] is None  # this API lists no subscriptions: standing is left alone
    output = transform_invoice(ctx, bill)
    documents = {document["kind"]: document for document in output["documents"]}
    assert [line["PartNum"] for line in documents["ar_invoice"]["lines"]] == ["SUB-MONTHLY", "ONBOARD-1", "STRIPE-SALE"]
    assert documents["cash_receipt"]["header"]["ExternalID"] == "ch_9" and output["standing"] is None


def test_an_unpaid_invoice_is_skipped():
    invoice = copy.deepcopy(payment_fixture("invoice_paid_basil")["data"]["object"])
    invoice["status"] = "open"
    with pytest.raises(SkipEvent):
        fetch_invoice(context(FakeStripe(invoice)), {"type": "invoice.paid", "object_id": invoice["id"]})


def test_standing_reads_the_current_subscriptions_whatever_event_arrived():
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "past_due", "created": 5}
    stripe = FakeStripe({}, subscription={"sub_1": subscription}, customer={"cus_1": customer("cus_1")},
                        subscriptions=[subscription, {"id": "sub_0", "status": "canceled", "created": 1}])
    ctx = context(stripe)
    snapshot = fetch_standing(ctx, {"type": "customer.subscription.updated", "object_id": "sub_1"})
    planned = transform_standing(ctx, snapshot)
    assert planned["standing"] == {"hold": True,
                                   "comment_line": "Stripe subscriptions: sub_1 past_due, sub_0 canceled"}
    [customer_document] = planned["documents"]
    assert customer_document["kind"] == "customer" and customer_document["reference"]["match"]["external_id"] == "cus_1"
