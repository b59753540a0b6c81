"""Stripe connector reads for invoices, payouts and catch-up (HTTP intercepted with `responses`)."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from tests.unit.conftest import STRIPE_API as API
from tests.unit.conftest import stripe_connector


@pytest.fixture()
def connector(monkeypatch):
    return stripe_connector(monkeypatch)


def txn(txn_id: str) -> dict:
    return {"id": txn_id, "object": "balance_transaction", "type": "charge", "amount": 1000, "fee": 59,
            "net": 941, "currency": "usd", "source": {"id": f"ch_{txn_id}", "object": "charge"}}


@responses.activate
def test_payout_transactions_follow_every_page_with_sources_expanded(connector):
    responses.get(f"{API}/v1/balance_transactions",
                  match=[matchers.query_param_matcher({"payout": "po_1", "expand[0]": "data.source", "limit": "100"})],
                  json={"object": "list", "data": [txn("a"), txn("b")], "has_more": True,
                        "url": "/v1/balance_transactions"})
    responses.get(f"{API}/v1/balance_transactions",
                  match=[matchers.query_param_matcher({"payout": "po_1", "expand[0]": "data.source", "limit": "100",
                                                       "starting_after": "b"})],
                  json={"object": "list", "data": [txn("c")], "has_more": False, "url": "/v1/balance_transactions"})
    listed = connector.payout_transactions("po_1")
    assert [t["id"] for t in listed] == ["a", "b", "c"]
    assert listed[0]["source"]["id"] == "ch_a" and type(listed[0]) is dict


@responses.activate
def test_invoice_of_a_payment_comes_from_invoice_payments(connector):
    responses.get(f"{API}/v1/invoice_payments",
                  match=[matchers.query_param_matcher({"payment[type]": "payment_intent",
                                                       "payment[payment_intent]": "pi_1", "limit": "1"})],
                  json={"object": "list", "data": [{"id": "inpay_1", "object": "invoice_payment", "invoice": "in_1"}],
                        "has_more": False, "url": "/v1/invoice_payments"})
    assert connector.invoice_paid_by(payment_intent="pi_1") == "in_1"


@responses.activate
def test_an_api_without_invoice_payments_means_no_invoice(connector):
    responses.get(f"{API}/v1/invoice_payments", status=404,
                  json={"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})
    assert connector.invoice_paid_by(charge="ch_1") is None
    assert connector.invoice_payments("in_1") == []
