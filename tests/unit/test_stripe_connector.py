"""Stripe connector: error taxonomy and call shapes (HTTP intercepted with `responses`)."""

from __future__ import annotations

import logging
from urllib.parse import unquote

import pytest
import requests
import responses
import stripe
from responses import matchers
from stripe import _util as stripe_util

from tasks.connectors.stripe_api import StripeConnector, StripeNotFound, StripeRejected, StripeUnavailable
from tasks.settings import load_settings
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


# -- raw calls: the same wire format as the typed services, plain dicts back ------------------------
def wire(request) -> tuple:
    """What Stripe sees of a request, bar the per-process telemetry header."""
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    headers = {k: v for k, v in request.headers.items() if k not in ("X-Stripe-Client-Telemetry",)}
    return request.method, request.url, body, headers


@responses.activate
def test_expanded_read_sends_what_the_typed_service_sends(connector):
    responses.get(f"{API}/v1/charges/ch_1", json={"id": "ch_1", "object": "charge",
                                                  "payment_intent": {"id": "pi_1", "object": "payment_intent"}})
    charge = connector.charge("ch_1", expand=("payment_intent", "customer"))
    connector.client.v1.charges.retrieve("ch_1", params={"expand": ["payment_intent", "customer"]})
    raw, typed = (call.request for call in responses.calls)
    assert unquote(raw.url).endswith("/v1/charges/ch_1?expand[0]=payment_intent&expand[1]=customer")
    assert wire(raw) == wire(typed)
    assert type(charge["payment_intent"]) is dict and charge["payment_intent"]["id"] == "pi_1"


@responses.activate
def test_metadata_write_sends_what_the_typed_update_sends(connector):
    responses.post(f"{API}/v1/charges/py_1", json={"id": "py_1", "object": "charge"})
    connector.update_metadata("py_1", {"epicor_invoice": "70001", "epicor_order_num": "5001"},
                              idempotency_key="wb-py_1")
    connector.client.v1.charges.update("py_1", params={"metadata": {"epicor_invoice": "70001",
                                                                    "epicor_order_num": "5001"}},
                                       options={"idempotency_key": "wb-py_1"})
    raw, typed = (call.request for call in responses.calls)
    assert wire(raw) == wire(typed)
    assert raw.headers["Idempotency-Key"] == "wb-py_1" and raw.headers["Stripe-Version"]


def test_metadata_write_onto_an_unknown_object_is_refused(connector):
    with pytest.raises(StripeRejected):
        connector.update_metadata("txn_1", {"a": "1"}, idempotency_key="k")


@responses.activate
def test_checkout_reads_use_the_same_queries(connector):
    responses.get(f"{API}/v1/checkout/sessions",
                  match=[matchers.query_param_matcher({"payment_intent": "pi_1", "limit": "1"})],
                  json={"object": "list", "data": [{"id": "cs_1", "object": "checkout.session"}], "has_more": False})
    line = {"object": "item", "quantity": 1}
    responses.get(f"{API}/v1/checkout/sessions/cs_1/line_items",
                  match=[matchers.query_param_matcher({"limit": "100"})],
                  json={"object": "list", "data": [{**line, "id": "li_1"}], "has_more": True})
    responses.get(f"{API}/v1/checkout/sessions/cs_1/line_items",
                  match=[matchers.query_param_matcher({"limit": "100", "starting_after": "li_1"})],
                  json={"object": "list", "data": [{**line, "id": "li_2"}], "has_more": False})
    assert connector.checkout_session_for("pi_1")["id"] == "cs_1"
    assert [item["id"] for item in connector.line_items("cs_1")] == ["li_1", "li_2"]


@responses.activate
def test_a_deleted_customer_is_none(connector):
    responses.get(f"{API}/v1/customers/cus_1", json={"id": "cus_1", "object": "customer", "deleted": True})
    assert connector.customer("cus_1") is None


@responses.activate
def test_refused_metadata_write_and_lost_connection_still_map(connector):
    responses.post(f"{API}/v1/invoices/in_1", status=400,
                   json=stripe_error("invalid_request_error", "Invoice in_1 is deleted"))
    responses.post(f"{API}/v1/refunds/re_1", body=requests.ConnectionError("reset by peer"))
    with pytest.raises(StripeRejected) as refused:
        connector.update_metadata("in_1", {"a": "1"}, idempotency_key="k1")
    with pytest.raises(StripeUnavailable) as lost:
        connector.update_metadata("re_1", {"a": "1"}, idempotency_key="k2")
    assert refused.value.reason == "stripe.rejected" and lost.value.reason == "stripe.connection"


@responses.activate
def test_network_retries_and_timeout_still_apply(monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unit")
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "1")
    monkeypatch.setenv("STRIPE_TIMEOUT", "7")
    responses.get(f"{API}/v1/payment_intents/pi_1", status=500, json=stripe_error("api_error", "boom"))
    responses.get(f"{API}/v1/payment_intents/pi_1", json={"id": "pi_1", "object": "payment_intent"})
    assert StripeConnector(load_settings()).payment_intent("pi_1")["id"] == "pi_1"
    assert len(responses.calls) == 2
    assert responses.calls[0].request.req_kwargs["timeout"] == 7.0


@responses.activate
@pytest.mark.parametrize(("no_proxy", "proxied"), [("localhost", True), ("api.stripe.test", False)])
def test_the_environment_proxy_for_the_stripe_host_is_read_once(monkeypatch, no_proxy, proxied):
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    connector = stripe_connector(monkeypatch)
    monkeypatch.delenv("HTTPS_PROXY")
    responses.get(f"{API}/v1/charges/ch_1", json={"id": "ch_1", "object": "charge"})
    connector.charge("ch_1")
    proxies = responses.calls[0].request.req_kwargs["proxies"]
    assert (proxies.get("https") == "http://proxy.corp:3128") is proxied


# -- the SDK's own log lines: formatted only when someone listens ------------------------------------
@responses.activate
def test_sdk_log_lines_are_not_formatted_when_nobody_listens(connector, monkeypatch, caplog):
    from tasks import patches

    assert patches.quiet_stripe_sdk_logging()  # as the worker applies it at start (not on import)
    formatted: list[dict] = []
    real_logfmt = stripe_util.logfmt
    monkeypatch.setattr(stripe_util, "logfmt", lambda props: formatted.append(props) or real_logfmt(props))
    responses.get(f"{API}/v1/charges/ch_1", json={"id": "ch_1", "object": "charge"})
    caplog.set_level(logging.WARNING, logger="stripe")
    connector.charge("ch_1")
    assert formatted == []
    caplog.set_level(logging.DEBUG, logger="stripe")
    connector.charge("ch_1")
    assert "API response body" in [props["message"] for props in formatted]
    assert any("message='API response body'" in record.getMessage() for record in caplog.records)
