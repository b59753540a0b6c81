"""The Stripe sandbox's billing part, driven through stripe-python: invoices, subscriptions, payouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe
from flask import Flask

from sandbox.stripe_api import StripeState, make_stripe_blueprint
from tests.unit.conftest import served

PLAN = {"product_name": "Team plan", "product_metadata": {"epicor_part_num": "SUB-MONTHLY"},
        "unit_amount": 2000, "quantity": 2}


@pytest.fixture
def base_url() -> Iterator[str]:
    state = StripeState(":memory:")
    app = Flask("billing-sandbox-test")
    app.register_blueprint(make_stripe_blueprint(state))
    with served(app) as url:
        yield url
    state.close()


@pytest.fixture
def client(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_sandbox", base_addresses={"api": base_url})


def admin(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{base_url}/_sandbox/stripe/{path}", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_invoice_for_an_order_is_created_itemised_finalised_sent_and_paid(client, base_url):
    customer = client.v1.customers.create(params={"name": "Ada", "email": "ada@example.com"})
    invoice = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                                "days_until_due": 30, "currency": "usd",
                                                "metadata": {"epicor_order_num": "5001"}})
    assert invoice.status == "draft" and invoice.due_date
    client.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "quantity": 2,
                                           "unit_amount": 1250, "currency": "usd", "description": "Widget",
                                           "metadata": {"epicor_order_line": "1"}})
    client.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id,
                                           "price_data": {"currency": "usd", "product": "prod_x", "unit_amount": 500}})
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open" and finalized.amount_due == 3000 and finalized.number.endswith("-0001")
    client.v1.invoices.send_invoice(invoice.id)
    paid = admin(base_url, f"invoices/{invoice.id}/pay", {"api_version": "2025-03-31.basil"})
    assert [e["type"] for e in paid["events"]] == ["charge.succeeded", "payment_intent.succeeded",
                                                   "invoice.paid", "invoice.payment_succeeded"]
    assert paid["invoice"]["status"] == "paid" and "charge" not in paid["invoice"]
    assert "invoice" not in paid["charge"]  # basil: a charge no longer names its invoice
    found = client.v1.invoice_payments.list(params={"payment": {"type": "payment_intent",
                                                                "payment_intent": paid["payment_intent"]["id"]}})
    assert [p.invoice for p in found.data] == [invoice.id]
    lines = list(client.v1.invoices.line_items.list(invoice.id, params={"limit": 1}).auto_paging_iter())
    assert [line.metadata.to_dict() for line in lines] == [{"epicor_order_line": "1"}, {}]


def test_items_for_a_finalised_invoice_or_another_customer_are_refused(client):
    ada = client.v1.customers.create(params={"name": "Ada"})
    bob = client.v1.customers.create(params={"name": "Bob"})
    invoice = client.v1.invoices.create(params={"customer": ada.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(params={"customer": bob.id, "invoice": invoice.id, "unit_amount": 100})
    client.v1.invoice_items.create(params={"customer": ada.id, "invoice": invoice.id, "unit_amount": 100})
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(params={"customer": ada.id, "invoice": invoice.id, "unit_amount": 100})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create(params={"customer": ada.id, "collection_method": "send_invoice"})


def test_2020_shape_carries_payment_links_at_the_top_and_old_line_fields(base_url):
    started = admin(base_url, "subscriptions", {"api_version": "2020-08-27", "customer": {"name": "Old"},
                                                "items": [PLAN]})
    invoice = started["invoice"]
    charge = next(e for e in started["events"] if e["type"] == "charge.succeeded")["data"]["object"]
    assert invoice["paid"] is True and invoice["charge"] == charge["id"] and charge["invoice"] == invoice["id"]
    assert invoice["subscription"] == started["subscription"]["id"] and "parent" not in invoice
    line = invoice["lines"]["data"][0]
    assert line["type"] == "subscription" and line["price"]["unit_amount"] == 2000 and "pricing" not in line
    assert started["subscription"]["current_period_end"] > started["subscription"]["current_period_start"]


def test_subscription_lifecycle_emits_stripes_events(base_url, client):
    started = admin(base_url, "subscriptions", {"customer": {"name": "Life"}, "items": [PLAN]})
    assert [e["type"] for e in started["events"]] == [
        "customer.subscription.created", "invoice.created", "invoice.finalized", "charge.succeeded",
        "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"]
    sub_id = started["subscription"]["id"]
    changed = admin(base_url, f"subscriptions/{sub_id}/update", {"quantity": 3, "remaining": 0.5})
    lines = changed["invoice"]["lines"]["data"]
    assert [(line["amount"], line["parent"]["subscription_item_details"]["proration"]) for line in lines] == \
        [(-2000, True), (3000, True)]
    failed = admin(base_url, f"subscriptions/{sub_id}/renew", {"fail": True})
    assert [e["type"] for e in failed["events"]][-2:] == ["invoice.payment_failed", "customer.subscription.updated"]
    assert client.v1.customers.retrieve(started["customer"]["id"]).delinquent is True
    paid = admin(base_url, f"invoices/{failed['invoice']['id']}/pay", {})
    assert paid["events"][-1]["data"]["object"]["status"] == "active"
    assert client.v1.customers.retrieve(started["customer"]["id"]).delinquent is False
    admin(base_url, f"subscriptions/{sub_id}/cancel", {})
    every = client.v1.subscriptions.list(params={"customer": started["customer"]["id"], "status": "all"})
    assert [s.status for s in every.data] == ["canceled"]


def test_payout_lists_its_balance_transactions_across_pages(base_url, client):
    charges = [admin(base_url, "payments", {"amount": 1000 + n, "currency": "eur"})["charge"]["id"]
               for n in range(3)]
    payout = admin(base_url, "payouts", {"currency": "eur", "sources": charges})
    listed = list(client.v1.balance_transactions.list(
        params={"payout": payout["payout"]["id"], "expand": ["data.source"], "limit": 2}).auto_paging_iter())
    assert len(listed) == 4 and {t.type for t in listed} == {"charge", "payout"}
    charged = [t for t in listed if t.type == "charge"]
    assert {t.source.id for t in charged} == set(charges)
    assert payout["payout"]["amount"] == sum(t.net for t in charged)
    assert client.v1.payouts.retrieve(payout["payout"]["id"]).status == "paid"
