"""The Stripe side of the sandbox, checked the way the connector uses it: through stripe-python.

A real `stripe.StripeClient` talks HTTP to the emulator on a random localhost port, so routing,
form encoding, error bodies and object shapes are checked by the same code that parses production
answers. Webhook signatures are checked with stripe-python's own verifier.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe
from flask import Flask, request

from sandbox import cli
from sandbox.signing import sign_payload
from sandbox.stripe_api import StripeState, make_stripe_blueprint
from sandbox.stripe_api.forms import parse_form
from tests.unit.conftest import served

API_KEY = "sk_test_sandbox"
SECRET = "whsec_sandbox_current"
OLD_SECRET = "whsec_sandbox_previous"
WIDGETS = [{"product_name": "Widget", "product_metadata": {"epicor_part_num": "WIDGET-100"},
            "unit_amount": 1250, "quantity": 2}]
CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+441234567",
            "address": {"line1": "12 St James's Sq", "line2": None, "city": "London", "state": None,
                        "postal_code": "SW1Y 4JH", "country": "GB"}}


@pytest.fixture
def state() -> Iterator[StripeState]:
    stripe_state = StripeState(":memory:")
    yield stripe_state
    stripe_state.close()


@pytest.fixture
def received() -> list[dict[str, Any]]:
    """Webhooks the test receiver accepted or refused."""
    return []


@pytest.fixture
def app(state: StripeState, received: list[dict[str, Any]]) -> Flask:
    flask_app = Flask("stripe-sandbox-test")
    flask_app.register_blueprint(make_stripe_blueprint(state))

    @flask_app.post("/webhooks/stripe")
    def receiver() -> tuple[dict[str, Any], int]:
        try:
            event = stripe.Webhook.construct_event(request.get_data(), request.headers.get("Stripe-Signature"),
                                                   SECRET)
        except stripe.SignatureVerificationError:
            received.append({"verified": False})
            return {"error": "bad signature"}, 400
        received.append({"verified": True, "id": event.id, "type": event.type})
        return {"received": True}, 200

    return flask_app


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with served(app) as url:
        yield url


@pytest.fixture
def stripe_client(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": base_url})


def make_payment(client, **body: Any) -> dict[str, Any]:
    answer = client.post("/_sandbox/stripe/payments", json={"amount": 2500, "currency": "usd", **body})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


# the admin payment ---------------------------------------------------------------------------------

def test_payment_objects_reference_each_other(client) -> None:
    payment = make_payment(client, customer=CUSTOMER, line_items=WIDGETS, amount=None)
    customer, intent, charge = payment["customer"], payment["payment_intent"], payment["charge"]
    session = payment["checkout_session"]

    assert charge["payment_intent"] == intent["id"]
    assert intent["latest_charge"] == charge["id"]
    assert charge["customer"] == intent["customer"] == session["customer"] == customer["id"]
    assert session["payment_intent"] == intent["id"]
    assert (intent["amount"], charge["amount"], charge["amount_captured"], session["amount_total"]) == (2500,) * 4
    assert (charge["status"], charge["captured"], intent["status"], session["payment_status"]) == \
        ("succeeded", True, "succeeded", "paid")
    assert charge["billing_details"]["address"]["city"] == "London"
    assert charge["balance_transaction"].startswith("txn_")
    assert set(charge["payment_method_details"]["card"]) >= {"brand", "last4", "exp_month", "exp_year"}
    assert "number" not in json.dumps(charge["payment_method_details"])
    events = {event["type"]: event for event in payment["events"]}
    assert list(events) == ["charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
    assert events["charge.succeeded"]["data"]["object"]["id"] == charge["id"]
    assert events["charge.succeeded"]["request"]["id"].startswith("req_")


def test_amount_must_match_line_items(client) -> None:
    answer = client.post("/_sandbox/stripe/payments", json={"amount": 999, "line_items": WIDGETS})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["param"] == "amount"


def test_guest_payment_has_no_customer_but_billing_details(client) -> None:
    billing = {"name": "Walk In", "email": "walk.in@example.com", "address": {"country": "US"}}
    payment = make_payment(client, customer=None, billing_details=billing)
    assert payment["customer"] is None and payment["charge"]["customer"] is None
    assert payment["charge"]["billing_details"]["email"] == "walk.in@example.com"
    assert [e["type"] for e in payment["events"]] == ["charge.succeeded", "payment_intent.succeeded"]


def test_events_for_api_2020_08_27_embed_charges(client) -> None:
    payment = make_payment(client, api_version="2020-08-27")
    events = {event["type"]: event for event in payment["events"]}
    intent = events["payment_intent.succeeded"]["data"]["object"]
    charge = events["charge.succeeded"]["data"]["object"]

    assert events["payment_intent.succeeded"]["api_version"] == "2020-08-27"
    assert "latest_charge" not in intent
    assert [c["id"] for c in intent["charges"]["data"]] == [charge["id"]]
    assert charge["refunds"]["object"] == "list" and charge["invoice"] is None


def test_events_for_current_api_use_latest_charge(client) -> None:
    payment = make_payment(client)
    intent = next(e for e in payment["events"] if e["type"] == "payment_intent.succeeded")["data"]["object"]
    assert payment["events"][0]["api_version"] == "2026-10-28.endive"
    assert intent["latest_charge"] == payment["charge"]["id"]
    assert "charges" not in intent and "invoice" not in intent


# through stripe-python -----------------------------------------------------------------------------

def test_stripe_client_retrieves_the_payment(client, stripe_client: stripe.StripeClient) -> None:
    payment = make_payment(client, customer=CUSTOMER, line_items=WIDGETS, amount=None)
    pi_id = payment["payment_intent"]["id"]

    charge = stripe_client.v1.charges.retrieve(payment["charge"]["id"])
    intent = stripe_client.v1.payment_intents.retrieve(pi_id, params={"expand": ["latest_charge"]})
    customer = stripe_client.v1.customers.retrieve(payment["customer"]["id"])
    sessions = stripe_client.v1.checkout.sessions.list(params={"payment_intent": pi_id})
    items = stripe_client.v1.checkout.sessions.line_items.list(
        sessions.data[0].id, params={"expand": ["data.price.product"]})

    assert isinstance(charge, stripe.Charge) and charge.payment_intent == pi_id
    assert intent.latest_charge.id == charge.id and intent.latest_charge.amount == 2500
    assert customer.email == "ada@example.com" and customer.address.country == "GB"
    assert [s.id for s in sessions.data] == [payment["checkout_session"]["id"]]
    assert items.data[0].quantity == 2
    assert items.data[0].price.product.metadata["epicor_part_num"] == "WIDGET-100"


def test_session_list_filters_by_payment_intent(client, stripe_client: stripe.StripeClient) -> None:
    first = make_payment(client, checkout=True)
    make_payment(client, checkout=True)
    sessions = stripe_client.v1.checkout.sessions.list(params={"payment_intent": first["payment_intent"]["id"]})
    assert [s.payment_intent for s in sessions.data] == [first["payment_intent"]["id"]]


def test_metadata_update_persists_and_empty_value_deletes(client, stripe_client: stripe.StripeClient) -> None:
    pi_id = make_payment(client, metadata={"order_ref": "A-1"})["payment_intent"]["id"]

    stripe_client.v1.payment_intents.update(pi_id, params={"metadata": {"epicor_order_num": "5001"}})
    assert stripe_client.v1.payment_intents.retrieve(pi_id).metadata.to_dict() == \
        {"order_ref": "A-1", "epicor_order_num": "5001"}

    stripe_client.v1.payment_intents.update(pi_id, params={"metadata": {"order_ref": ""}})
    assert stripe_client.v1.payment_intents.retrieve(pi_id).metadata.to_dict() == {"epicor_order_num": "5001"}


def test_write_back_is_in_the_request_log(client, stripe_client: stripe.StripeClient) -> None:
    charge_id = make_payment(client)["charge"]["id"]
    stripe_client.v1.charges.update(charge_id, params={"metadata": {"epicor_invoice_num": "77"}})

    posts = [r for r in client.get("/_sandbox/stripe/requests").get_json()["requests"] if r["method"] == "POST"]
    assert posts[-1]["path"] == f"/v1/charges/{charge_id}"
    assert posts[-1]["params"] == {"metadata": {"epicor_invoice_num": "77"}}
    client.post("/_sandbox/stripe/reset")
    assert client.get("/_sandbox/stripe/requests").get_json()["requests"] == []


def test_customer_update_emits_event_with_previous_attributes(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"name": "Old Name", "email": "c@example.com"})
    stripe_client.v1.customers.update(customer.id, params={"name": "New Name"})
    events = stripe_client.v1.events.list(params={"type": "customer.updated"})
    assert events.data[0].data.object.name == "New Name"
    assert events.data[0].data.previous_attributes.to_dict() == {"name": "Old Name"}


def test_unknown_id_raises_invalid_request_error(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.charges.retrieve("ch_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert "No such charge: 'ch_doesnotexist'" in str(raised.value)


def test_unknown_parameter_is_refused(client, stripe_client: stripe.StripeClient) -> None:
    pi_id = make_payment(client)["payment_intent"]["id"]
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: metdata"):
        stripe_client.v1.payment_intents.update(pi_id, params={"metdata": {"x": "1"}})  # type: ignore[typeddict-unknown-key]


def test_requests_need_a_test_key(client, base_url: str) -> None:
    answer = client.get("/v1/charges")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["type"] == "invalid_request_error"
    live = stripe.StripeClient("sk_live_notallowed", base_addresses={"api": base_url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()


def test_idempotency_key_replays_the_first_answer(stripe_client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "create-customer-42"}
    first = stripe_client.v1.customers.create(params={"email": "idem@example.com"}, options=options)
    second = stripe_client.v1.customers.create(params={"email": "idem@example.com"}, options=options)
    assert first.id == second.id
    assert len(stripe_client.v1.customers.list(params={"email": "idem@example.com"}).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(params={"email": "other@example.com"}, options=options)


def test_pagination_walks_every_event_once(client, stripe_client: stripe.StripeClient) -> None:
    for _ in range(4):
        make_payment(client)
    page = stripe_client.v1.events.list(params={"limit": 3})
    walked = [event.id for event in page.auto_paging_iter()]
    assert page.has_more and len(page.data) == 3
    assert len(walked) == len(set(walked)) == 8
    newer = stripe_client.v1.events.list(params={"limit": 2, "ending_before": walked[4]})
    assert [e.id for e in newer.data] == walked[2:4] and newer.has_more


def test_event_filters_by_types_and_delivery(client, stripe_client: stripe.StripeClient) -> None:
    events = make_payment(client, checkout=True)["events"]
    delivered = events[0]["id"]
    client.post(f"/_sandbox/stripe/events/{delivered}/deliveries", json={"url": "x", "status": 200})

    wanted = stripe_client.v1.events.list(params={"types": ["charge.succeeded", "checkout.session.completed"]})
    pending = stripe_client.v1.events.list(params={"delivery_success": False})
    assert sorted(e.type for e in wanted.data) == ["charge.succeeded", "checkout.session.completed"]
    assert delivered not in [e.id for e in pending.data] and len(pending.data) == len(events) - 1
    assert stripe_client.v1.events.retrieve(delivered).pending_webhooks == 0


def test_rate_limit_fault_raises_rate_limit_error(client, stripe_client: stripe.StripeClient) -> None:
    assert client.put("/_sandbox/stripe/faults", json={"rate_limit_rate": 1.0}).status_code == 200
    with pytest.raises(stripe.RateLimitError) as raised:
        stripe_client.v1.customers.list()
    assert raised.value.headers["Retry-After"] == "1"
    client.put("/_sandbox/stripe/faults", json={"rate_limit_rate": 0.0})
    assert stripe_client.v1.customers.list().data == []


# persistence and parsing ---------------------------------------------------------------------------

def test_state_survives_a_restart(tmp_path) -> None:
    db = str(tmp_path / "stripe.sqlite3")
    first_app = Flask("first")
    first = StripeState(db)
    first_app.register_blueprint(make_stripe_blueprint(first))
    payment = make_payment(first_app.test_client(), customer=CUSTOMER)
    first.close()

    second = StripeState(db)
    assert second.get(payment["charge"]["id"])["payment_intent"] == payment["payment_intent"]["id"]
    assert second.get(payment["customer"]["id"])["email"] == "ada@example.com"
    second.close()


def test_form_parsing_follows_stripe_bracket_notation() -> None:
    parsed = parse_form("metadata[epicor_order_num]=5001&metadata[1]=one&metadata[gone]=&expand[0]=customer"
                        "&expand[1]=latest_charge&payment[type]=payment_intent&types[]=a&types[]=b"
                        "&created[gte]=10&items[0][price]=p1&items[1][price]=p2")
    assert parsed == {
        "metadata": {"epicor_order_num": "5001", "1": "one", "gone": ""},
        "expand": ["customer", "latest_charge"],
        "payment": {"type": "payment_intent"},
        "types": ["a", "b"],
        "created": {"gte": "10"},
        "items": [{"price": "p1"}, {"price": "p2"}],
    }


# signatures and the CLI ----------------------------------------------------------------------------

@pytest.mark.parametrize("secrets", [[SECRET], [SECRET, OLD_SECRET]])
def test_signature_header_verifies_with_every_secret(secrets: list[str]) -> None:
    body = json.dumps({"id": "evt_1", "object": "event"}).encode()
    header = sign_payload(body, secrets)
    assert [item.split("=")[0] for item in header.split(",")] == ["t"] + ["v1"] * len(secrets) + ["v0"]
    for secret in secrets:
        assert stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode() + " ", header, SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode(), header, "whsec_other", tolerance=300)


def test_stale_timestamp_is_rejected_by_stripe() -> None:
    body = b'{"id": "evt_1"}'
    header = sign_payload(body, [SECRET], timestamp=int(time.time()) - 600)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)


def test_cli_trigger_delivers_signed_events(base_url: str, received: list[dict[str, Any]], capsys) -> None:
    status = cli.main(["trigger", "payment", "--sandbox-url", base_url, "--webhook-url",
                       f"{base_url}/webhooks/stripe", "--secret", f"{OLD_SECRET},{SECRET}",
                       "--line", "WIDGET-100:2:1250", "--metadata", "channel=web", "--deliveries", "2",
                       "--json"])
    report = json.loads(capsys.readouterr().out)

    assert status == 0 and report["ok"]
    assert [r["type"] for r in received] == ["charge.succeeded"] * 2 + ["payment_intent.succeeded"] * 2 + \
        ["checkout.session.completed"] * 2
    assert all(r["verified"] for r in received)
    assert [e["type"] for e in report["events"]] == ["charge.succeeded", "payment_intent.succeeded",
                                                     "checkout.session.completed"]
    charge = requests.get(f"{base_url}/v1/charges/{report['charge']['id']}",
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5).json()
    assert charge["metadata"] == {"channel": "web"}


def test_cli_trigger_fails_when_receiver_refuses(base_url: str, received: list[dict[str, Any]], capsys) -> None:
    status = cli.main(["trigger", "payment", "--sandbox-url", base_url, "--webhook-url",
                       f"{base_url}/webhooks/stripe", "--secret", "whsec_wrong"])
    assert status == 1
    assert received == [{"verified": False}, {"verified": False}]
    assert "400" in capsys.readouterr().out


def test_sandbox_app_serves_both_sides(tmp_path) -> None:
    epicor = pytest.importorskip("sandbox.epicor")
    if not hasattr(epicor, "make_epicor_blueprint"):
        pytest.skip("the Epicor emulator is not integrated yet")
    from sandbox.server import create_sandbox_app

    sandbox = create_sandbox_app(str(tmp_path), env={}).test_client()
    assert sandbox.get("/_sandbox/healthz").status_code == 200
    assert sandbox.post("/_sandbox/stripe/payments", json={"amount": 100}).status_code == 200


def test_api_answers_in_the_clients_pinned_version(client, base_url: str) -> None:
    payment = make_payment(client)
    legacy = stripe.StripeClient(API_KEY, base_addresses={"api": base_url}, stripe_version="2020-08-27")
    intent = legacy.v1.payment_intents.retrieve(payment["payment_intent"]["id"])
    assert [c.id for c in intent.charges.data] == [payment["charge"]["id"]]
    assert "latest_charge" not in intent


def test_cli_send_delivers_a_file_byte_for_byte(base_url: str, received: list[dict[str, Any]], tmp_path,
                                                capsys) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text('{"id": "evt_file_1", "object": "event", "type": "invoice.paid",\n'
                          ' "api_version": "2025-03-31.basil",'
                          ' "data": {"object": {"id": "in_1", "object": "invoice"}}}')
    status = cli.main(["trigger", "send", "--file", str(event_file), "--sandbox-url", base_url,
                       "--webhook-url", f"{base_url}/webhooks/stripe", "--secret", SECRET])
    assert status == 0
    assert received == [{"verified": True, "id": "evt_file_1", "type": "invoice.paid"}]
