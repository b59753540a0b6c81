"""Stripe connector: error taxonomy and call shapes (HTTP intercepted with `responses`)."""

from __future__ import annotations

import pytest
import responses

from tasks.connectors.stripe_api import StripeNotFound, StripeRejected, StripeUnavailable
from tests.unit.conftest import STRIPE_API as API
from tests.unit.conftest import stripe_connector


@pytest.fixture()
def connector(monkeypatch):
    return stripe_connector(monkeypatch)


def stripe_error(kind: str, message: str, code: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "code": code}}


@responses.activate
def test_charge_comes_back_as_a_plain_dict(connector):
    responses.get(f"{API}/v1/charges/ch_1", json={"id": "ch_1", "object": "charge", "amount": 2500,
                                                  "billing_details": {"address": {"city": "Paris"}}})
    charge = connector.charge("ch_1")
    assert type(charge) is dict and charge["billing_details"]["address"]["city"] == "Paris"
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk_test_unit"


@responses.activate
def test_rate_limit_is_retryable_and_honours_retry_after(connector):
    responses.get(f"{API}/v1/charges/ch_1", status=429, headers={"Retry-After": "7"},
                  json=stripe_error("invalid_request_error", "Too many requests", "rate_limit"))
    with pytest.raises(StripeUnavailable) as caught:
        connector.charge("ch_1")
    assert caught.value.reason == "stripe.rate_limited" and caught.value.retry_after == 7.0


@responses.activate
def test_server_error_is_retryable(connector):
    responses.get(f"{API}/v1/charges/ch_1", status=500, json=stripe_error("api_error", "boom"))
    with pytest.raises(StripeUnavailable):
        connector.charge("ch_1")


@responses.activate
def test_missing_object_is_permanent(connector):
    responses.get(f"{API}/v1/charges/ch_x", status=404,
                  json=stripe_error("invalid_request_error", "No such charge: 'ch_x'", "resource_missing"))
    with pytest.raises(StripeNotFound):
        connector.charge("ch_x")


@responses.activate
def test_bad_key_is_permanent(connector):
    responses.get(f"{API}/v1/charges/ch_1", status=401, json=stripe_error("invalid_request_error", "Invalid API Key"))
    with pytest.raises(StripeRejected) as caught:
        connector.charge("ch_1")
    assert caught.value.reason == "stripe.auth"
    assert "sk_test_unit" not in caught.value.message


@responses.activate
def test_metadata_write_back_is_form_encoded_with_an_idempotency_key(connector):
    responses.post(f"{API}/v1/payment_intents/pi_1", json={"id": "pi_1", "object": "payment_intent"})
    connector.update_metadata("pi_1", {"epicor_order_num": "5001"}, idempotency_key="wb-pi_1-5001")
    request = responses.calls[0].request
    assert "metadata[epicor_order_num]=5001" in request.body.replace("%5B", "[").replace("%5D", "]")
    assert request.headers["Idempotency-Key"] == "wb-pi_1-5001"


@responses.activate
def test_checkout_session_lookup_is_optional(connector):
    responses.get(f"{API}/v1/checkout/sessions", status=404,
                  json=stripe_error("invalid_request_error", "Unrecognized request URL"))
    assert connector.checkout_session_for("pi_1") is None
