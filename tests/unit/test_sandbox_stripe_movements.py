"""The Stripe sandbox after a sale: refunds, disputes, declines and delayed checkouts, read back through
the project's own Stripe connector (stripe-python over HTTP), as the pipeline reads them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from sandbox.stripe_api import StripeState, make_stripe_blueprint
from tasks.connectors.stripe_api import StripeConnector
from tests.unit.conftest import served, stripe_connector

CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def client() -> Iterator[Any]:
    state = StripeState(":memory:")
    app = Flask("stripe-movements-test")
    app.register_blueprint(make_stripe_blueprint(state))
    yield app.test_client()
    state.close()


@pytest.fixture
def connector(client, monkeypatch) -> Iterator[StripeConnector]:
    with served(client.application) as url:
        yield stripe_connector(monkeypatch, url, api_key="sk_test_sandbox")


def admin(client, path: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/_sandbox/stripe{path}", json=body)
    assert answer.status_code == expect, answer.get_data(as_text=True)
    return answer.get_json()


def sale(client, amount: int = 5000, **body: Any) -> dict[str, Any]:
    return admin(client, "/payments", amount=amount, currency="usd", customer=CUSTOMER, **body)


# refunds -------------------------------------------------------------------------------------------

def test_partial_refunds_add_up_on_the_charge_and_list_by_charge(client, connector) -> None:
    charge_id = sale(client)["charge"]["id"]
    first = admin(client, "/refunds", charge=charge_id, amount=1500, reason="requested_by_customer")
    assert [e["type"] for e in first["events"]] == ["charge.refunded", "refund.created"]
    assert first["events"][0]["request"]["id"] == first["events"][1]["request"]["id"]
    assert (first["charge"]["amount_refunded"], first["charge"]["refunded"]) == (1500, False)
    second = admin(client, "/refunds", charge=charge_id)
    assert second["refund"]["amount"] == 3500 and second["charge"]["refunded"] is True
    assert [r["id"] for r in connector.refunds_of_charge(charge_id)] == [second["refund"]["id"], first["refund"]["id"]]
    refund = connector.refund(first["refund"]["id"])
    assert (refund["status"], refund["reason"], refund["charge"]) == ("succeeded", "requested_by_customer", charge_id)
    assert refund["balance_transaction"].startswith("txn_")
    admin(client, "/refunds", expect=400, charge=charge_id, amount=1)


def test_refunds_list_pages_through_every_refund(client, connector) -> None:
    charge_id = sale(client, amount=105)["charge"]["id"]
    made = [admin(client, "/refunds", charge=charge_id, amount=1)["refund"]["id"] for _ in range(105)]
    assert [refund["id"] for refund in connector.refunds_of_charge(charge_id)] == made[::-1]


def test_a_pending_refund_succeeds_or_fails_later_with_its_events(client, connector) -> None:
    charge_id = sale(client)["charge"]["id"]
    pending = admin(client, "/refunds", charge=charge_id, amount=1000, status="pending")
    assert pending["refund"]["balance_transaction"] is None and pending["charge"]["amount_refunded"] == 1000
    failed = admin(client, f"/refunds/{pending['refund']['id']}/status", status="failed")
    assert [e["type"] for e in failed["events"]] == ["refund.updated", "charge.refund.updated", "refund.failed"]
    assert failed["charge"]["amount_refunded"] == 0 and failed["refund"]["failure_reason"]
    admin(client, f"/refunds/{pending['refund']['id']}/status", expect=400, status="succeeded")


def test_refund_events_for_api_2020_08_27_embed_the_refunds_in_the_charge(client) -> None:
    charge_id = sale(client, api_version="2020-08-27")["charge"]["id"]
    refund = admin(client, "/refunds", charge=charge_id, amount=700, api_version="2020-08-27")
    charge = refund["events"][0]["data"]["object"]
    assert [r["id"] for r in charge["refunds"]["data"]] == [refund["refund"]["id"]]
    current = admin(client, "/refunds", charge=charge_id, amount=300)["events"][0]["data"]["object"]
    assert "refunds" not in current


def test_refund_metadata_write_back_emits_refund_updated(client, connector) -> None:
    charge_id = sale(client)["charge"]["id"]
    refund_id = admin(client, "/refunds", charge=charge_id)["refund"]["id"]
    connector.update_metadata(refund_id, {"epicor_credit_memo_num": "70002"}, idempotency_key="k-1")
    assert connector.refund(refund_id)["metadata"] == {"epicor_credit_memo_num": "70002"}
    types = [e["type"] for e in client.get("/_sandbox/stripe/dump").get_json()["event"]]
    assert types[-1] == "refund.updated"


# disputes ------------------------------------------------------------------------------------------

def test_a_chargeback_withdraws_the_funds_and_a_won_dispute_returns_them(client, connector) -> None:
    charge_id = sale(client)["charge"]["id"]
    opened = admin(client, "/disputes", charge=charge_id, reason="fraudulent")
    assert [e["type"] for e in opened["events"]] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    dispute = connector.dispute(opened["dispute"]["id"])
    assert dispute["status"] == "needs_response" and dispute["charge"] == charge_id
    assert [t["amount"] for t in dispute["balance_transactions"]] == [-5000]
    assert dispute["balance_transactions"][0]["fee"] == 1500
    closed = admin(client, f"/disputes/{dispute['id']}/close", status="won")
    assert [e["type"] for e in closed["events"]] == ["charge.dispute.funds_reinstated", "charge.dispute.closed"]
    assert [t["amount"] for t in connector.dispute(dispute["id"])["balance_transactions"]] == [-5000, 5000]
    admin(client, f"/disputes/{dispute['id']}/close", expect=400, status="lost")


def test_an_inquiry_moves_no_money_and_closes_without_loss(client, connector) -> None:
    charge_id = sale(client)["charge"]["id"]
    opened = admin(client, "/disputes", charge=charge_id, inquiry=True)
    assert [e["type"] for e in opened["events"]] == ["charge.dispute.created"]
    assert opened["dispute"]["balance_transactions"] == []
    admin(client, f"/disputes/{opened['dispute']['id']}/close", expect=400, status="lost")
    closed = admin(client, f"/disputes/{opened['dispute']['id']}/close", status="won")
    assert closed["dispute"]["status"] == "warning_closed"


# failed and delayed payments -----------------------------------------------------------------------

def test_a_declined_payment_has_the_decline_on_the_intent_and_the_charge(client, connector) -> None:
    declined = admin(client, "/payments/declined", amount=900, decline_code="expired_card")
    intent = connector.payment_intent(declined["payment_intent"]["id"])
    error = intent["last_payment_error"]
    assert intent["status"] == "requires_payment_method"
    assert (error["code"], error["decline_code"], error["message"]) == ("expired_card", "expired_card",
                                                                        "Your card has expired.")
    charge = connector.charge(intent["latest_charge"])
    assert (charge["status"], charge["captured"], charge["balance_transaction"]) == ("failed", False, None)
    assert charge["outcome"]["type"] == "issuer_declined"
    admin(client, "/payments/declined", expect=400, amount=900, decline_code="made_up")


def test_a_late_failure_turns_a_paid_payment_back(client, connector) -> None:
    intent_id = sale(client)["payment_intent"]["id"]
    failed = admin(client, f"/payments/{intent_id}/fail")
    assert [e["type"] for e in failed["events"]] == ["charge.failed", "payment_intent.payment_failed"]
    assert connector.payment_intent(intent_id)["status"] == "requires_payment_method"
    admin(client, f"/payments/{intent_id}/fail", expect=400)


def test_a_bank_debit_checkout_completes_unpaid_then_settles(client, connector) -> None:
    started = admin(client, "/checkout/async", amount=2500, customer=CUSTOMER)
    session_id = started["checkout_session"]["id"]
    assert [e["type"] for e in started["events"]] == ["payment_intent.processing", "charge.pending",
                                                      "checkout.session.completed"]
    assert connector.checkout_session(session_id)["payment_status"] == "unpaid"
    settled = admin(client, f"/checkout/{session_id}/settle", outcome="succeeded")
    assert settled["events"][-1]["type"] == "checkout.session.async_payment_succeeded"
    assert connector.checkout_session(session_id)["payment_status"] == "paid"
    assert connector.charge(settled["charge"]["id"])["status"] == "succeeded"
    admin(client, f"/checkout/{session_id}/settle", expect=400, outcome="succeeded")
