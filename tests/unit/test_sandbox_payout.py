"""The Stripe sandbox serves what the payout flow needs (contract §6b): an automatic payout of the balance,
its balance transactions with fee_details and reporting_category (sales, a refund, a dispute with its
fee, a currency conversion fee, JPY), and a payout failed after it was paid (payout.failed, and the
payout_failure transaction a later payout sweeps). Read over HTTP with the Stripe REST API's shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from flask import Flask, request

from sandbox import cli
from sandbox.stripe_api import StripeState, make_stripe_blueprint
from tests.unit.conftest import served

AUTH = {"Authorization": "Bearer sk_test_sandbox"}
SECRET = "whsec_payout_test"
CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def received() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def app(received) -> Iterator[Flask]:
    state = StripeState(":memory:")
    flask_app = Flask("stripe-payout-test")
    flask_app.register_blueprint(make_stripe_blueprint(state))

    @flask_app.post("/webhooks/stripe")
    def receiver() -> tuple[dict[str, Any], int]:
        event = stripe.Webhook.construct_event(request.get_data(), request.headers.get("Stripe-Signature"), SECRET)
        received.append({"type": event["type"], "object": event["data"]["object"].to_dict()})
        return {"received": True}, 200

    yield flask_app
    state.close()


@pytest.fixture
def client(app) -> Any:
    return app.test_client()


def admin(client, path: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/_sandbox/stripe{path}", json=body)
    assert answer.status_code == expect, answer.get_data(as_text=True)
    return answer.get_json()


def api(client, path: str, expect: int = 200, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/v1/{path}", headers=AUTH, query_string=params)
    assert answer.status_code == expect, answer.get_data(as_text=True)
    return answer.get_json()


def sale(client, amount: int, currency: str = "usd") -> str:
    return admin(client, "/payments", amount=amount, currency=currency, customer=CUSTOMER)["charge"]["id"]


def fee_categories(transactions: list[dict[str, Any]]) -> dict[str, int]:
    """Contract §6b's table, minor units: processing, dispute, currency conversion, other."""
    sums = {"processing": 0, "dispute": 0, "fx": 0, "other": 0}
    for txn in transactions:
        if txn["type"] == "payout":
            continue
        if txn["type"] == "stripe_fx_fee":
            sums["fx"] += -txn["amount"]
        elif txn["reporting_category"] in ("fee", "tax"):
            sums["other"] += -txn["amount"]
        elif txn["reporting_category"] in ("dispute", "dispute_reversal"):
            sums["dispute"] += sum(detail["amount"] for detail in txn["fee_details"])
        else:
            for detail in txn["fee_details"]:
                kind = "processing" if detail["type"] in ("stripe_fee", "payment_method_passthrough_fee") else "other"
                sums[kind] += detail["amount"]
            sums["processing"] += txn["fee"] - sum(detail["amount"] for detail in txn["fee_details"])
    return sums


def test_a_payout_lists_sales_refund_dispute_and_fx_fee_with_their_fees(client) -> None:
    first, second = sale(client, 10000), sale(client, 5000)
    refund = admin(client, "/refunds", charge=second, amount=2000)["refund"]["id"]
    dispute = admin(client, "/disputes", charge=first)["dispute"]["id"]
    fx = admin(client, "/fees", type="stripe_fx_fee", amount=125, currency="usd")["balance_transaction"]
    assert (fx["type"], fx["reporting_category"], fx["amount"], fx["net"]) == ("stripe_fx_fee", "fee", -125, -125)
    made = admin(client, "/payouts", currency="usd", sources=[first, second, refund, dispute, fx["id"]])
    payout = made["payout"]
    assert [event["type"] for event in made["events"]] == ["payout.created", "payout.paid"]
    got = api(client, f"payouts/{payout['id']}")
    assert (got["automatic"], got["status"], got["amount"], got["currency"]) == (True, "paid", payout["amount"], "usd")
    assert isinstance(got["arrival_date"], int)
    listed = api(client, "balance_transactions", payout=payout["id"], limit=100)["data"]
    by_type = sorted(txn["type"] for txn in listed)
    assert by_type == ["adjustment", "charge", "charge", "payout", "refund", "stripe_fx_fee"]
    assert {txn["reporting_category"] for txn in listed} == {"charge", "refund", "dispute", "fee", "payout"}
    disputed = next(txn for txn in listed if txn["reporting_category"] == "dispute")
    assert disputed["fee"] > 0 and disputed["fee_details"][0]["amount"] == disputed["fee"]
    own = next(txn for txn in listed if txn["type"] == "payout")
    assert own["amount"] == -payout["amount"]
    # the clearing bank nets to zero: the payout is the sum of the other transactions' net
    assert sum(txn["net"] for txn in listed if txn["type"] != "payout") == payout["amount"]
    sums = fee_categories(listed)
    assert sums["fx"] == 125 and sums["dispute"] == disputed["fee"]
    assert sums["processing"] == sum(txn["fee"] for txn in listed if txn["type"] == "charge")
    # the receipts' gross (fee-type transactions are fees only) less every category's fees is the payout
    gross = sum(txn["amount"] for txn in listed if txn["reporting_category"] not in ("payout", "fee", "tax"))
    assert gross - sum(sums.values()) == payout["amount"]


def test_a_yen_payout_is_in_whole_yen(client) -> None:
    charge = sale(client, 19800, "jpy")
    payout = admin(client, "/payouts", currency="jpy", sources=[charge])["payout"]
    listed = api(client, "balance_transactions", payout=payout["id"])["data"]
    assert {txn["currency"] for txn in listed} == {"jpy"}
    assert all(isinstance(txn["amount"], int) and isinstance(txn["fee"], int) for txn in listed)
    assert payout["amount"] == 19800 - next(txn["fee"] for txn in listed if txn["type"] == "charge")


def test_a_paid_payout_fails_and_its_money_comes_back_in_the_next_payout(client) -> None:
    charge = sale(client, 10000)
    payout = admin(client, "/payouts", currency="usd", sources=[charge])["payout"]
    failed = admin(client, f"/payouts/{payout['id']}/fail", failure_code="account_closed")
    assert [event["type"] for event in failed["events"]] == ["payout.updated", "payout.failed"]
    event_payout = failed["events"][1]["data"]["object"]
    assert (event_payout["status"], event_payout["failure_code"]) == ("failed", "account_closed")
    back = failed["balance_transactions"][0]
    assert (back["type"], back["reporting_category"], back["amount"], back["source"]) \
        == ("payout_failure", "payout_reversal", payout["amount"], payout["id"])
    assert api(client, f"payouts/{payout['id']}")["failure_balance_transaction"] == back["id"]
    # the failed payout's own list is unchanged: the failure is not part of it
    assert back["id"] not in [txn["id"] for txn in api(client, "balance_transactions", payout=payout["id"])["data"]]
    admin(client, f"/payouts/{payout['id']}/fail", expect=400)
    later = admin(client, "/payouts", currency="usd", sources=[payout["id"]])["payout"]
    assert later["amount"] == payout["amount"]
    listed = api(client, "balance_transactions", payout=later["id"])["data"]
    assert sorted(txn["type"] for txn in listed) == ["payout", "payout_failure"]


def test_bad_payout_scenarios_are_refused(client) -> None:
    admin(client, "/payouts/po_missing/fail", expect=404)
    admin(client, "/fees", expect=400, type="nonsense", amount=5)
    admin(client, "/fees", expect=400, type="stripe_fx_fee", amount=-5)
    other = admin(client, "/fees", type="tax_fee", amount=40, currency="usd")["balance_transaction"]
    assert (other["reporting_category"], other["amount"]) == ("tax", -40)


def test_cli_pays_out_and_fails_a_payout_delivering_signed_events(app, received, capsys) -> None:
    client = app.test_client()
    charge = sale(client, 4000)
    with served(app) as url:
        options = ["--sandbox-url", url, "--webhook-url", f"{url}/webhooks/stripe", "--secret", SECRET, "--json"]
        assert cli.main(["trigger", "payout", "--currency", "usd", "--source", charge, "--fx-fee", "30", *options]) == 0
        paid = json.loads(capsys.readouterr().out)
        payout = paid["payout"]["id"]
        assert cli.main(["trigger", "payout-failure", payout, *options]) == 0
        failed = json.loads(capsys.readouterr().out)
    assert [item["type"] for item in received] == ["payout.created", "payout.paid", "payout.updated", "payout.failed"]
    assert received[-1]["object"]["failure_balance_transaction"] == failed["balance_transactions"][0]["id"]
    listed = api(client, "balance_transactions", payout=payout)["data"]
    assert sorted(txn["type"] for txn in listed) == ["charge", "payout", "stripe_fx_fee"]
    assert paid["payout"]["amount"] == sum(txn["net"] for txn in listed if txn["type"] != "payout")
