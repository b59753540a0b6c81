"""What one payment costs in round trips, and the bound that keeps a slow Epicor from being overrun.

- fetch re-reads a charge with its PaymentIntent and customer expanded: one Stripe call instead of
  three, and still correct when Stripe answers with ids only (the fallback fetches them);
- the Stripe connector retries a refused expansion without it, but never a missing object;
- at most ``EPICOR_MAX_CONCURRENCY`` Epicor calls are in flight per process, whatever the threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import responses

from tasks.connectors.epicor import EpicorClient, EpicorUnavailable
from tasks.connectors.stripe_api import StripeConnector, StripeNotFound
from tasks.flows import order_to_cash
from tasks.settings import load_settings

CUSTOMER = {"id": "cus_1", "object": "customer", "name": "Acme Trading Ltd", "email": "ap@acme.example",
            "phone": None, "address": {"country": "US"}, "metadata": {}}
INTENT = {"id": "pi_1", "object": "payment_intent", "amount": 4900, "amount_received": 4900, "currency": "usd",
          "created": 1772625600, "description": None, "metadata": {}, "customer": "cus_1", "latest_charge": "ch_1"}
CHARGE = {"id": "ch_1", "object": "charge", "amount": 4900, "amount_captured": 4900, "currency": "usd",
          "created": 1772625600, "description": None, "metadata": {}, "status": "succeeded", "captured": True,
          "customer": "cus_1", "payment_intent": "pi_1",
          "billing_details": {"name": "Acme", "email": "ap@acme.example", "phone": None, "address": None}}


class CountingStripe:
    """Answers like Stripe, honouring ``expand`` unless told to ignore it, and counts every call."""

    def __init__(self, honour_expand: bool = True):
        self.honour_expand = honour_expand
        self.calls: list[str] = []
        self.objects = {"ch_1": CHARGE, "pi_1": INTENT, "cus_1": CUSTOMER}

    def _get(self, object_id: str, expand: tuple[str, ...]) -> dict[str, Any]:
        self.calls.append(object_id)
        found = dict(self.objects[object_id])
        for field in expand if self.honour_expand else ():
            found[field] = dict(self.objects[found[field]])
        return found

    def charge(self, charge_id, *, expand=()): return self._get(charge_id, expand)
    def payment_intent(self, intent_id, *, expand=()): return self._get(intent_id, expand)
    def customer(self, customer_id): return self._get(customer_id, ())

    def invoice_paid_by(self, **_):
        self.calls.append("invoice_payments")

    def checkout_session_for(self, intent_id):
        self.calls.append("checkout_sessions")


def fetched(stripe: CountingStripe, event_type: str, object_id: str) -> dict[str, Any]:
    ctx = SimpleNamespace(stripe=stripe, event={})
    return order_to_cash.fetch(ctx, {"event_id": "evt_1", "type": event_type, "object_id": object_id})


@pytest.mark.parametrize(("event_type", "object_id"), [("charge.succeeded", "ch_1"),
                                                        ("payment_intent.succeeded", "pi_1")])
def test_fetch_reads_charge_intent_and_customer_in_one_call(event_type, object_id):
    stripe = CountingStripe()
    payment = fetched(stripe, event_type, object_id)
    assert stripe.calls == [object_id, "invoice_payments", "checkout_sessions"]
    assert payment["payment_key"] == "pi_1"
    assert payment["charge"]["payment_intent"] == "pi_1" and payment["charge"]["customer"] == "cus_1"
    assert payment["customer"]["email"] == "ap@acme.example"


def test_objects_of_an_api_version_before_basil_need_no_invoice_payments_lookup():
    stripe = CountingStripe()
    stripe.objects = {"ch_1": {**CHARGE, "invoice": None}, "pi_1": {**INTENT, "invoice": None}, "cus_1": CUSTOMER}
    fetched(stripe, "charge.succeeded", "ch_1")
    assert stripe.calls == ["ch_1", "checkout_sessions"]


@pytest.mark.parametrize(("event_type", "object_id"), [("charge.succeeded", "ch_1"),
                                                        ("payment_intent.succeeded", "pi_1")])
def test_fetch_without_expansion_gives_the_same_payment(event_type, object_id):
    expanded = fetched(CountingStripe(), event_type, object_id)
    stripe = CountingStripe(honour_expand=False)
    assert fetched(stripe, event_type, object_id) == expanded
    assert len(stripe.calls) == 5


def test_an_expanded_deleted_customer_counts_as_none():
    stripe = CountingStripe()
    stripe.objects["cus_1"] = {"id": "cus_1", "object": "customer", "deleted": True}
    payment = fetched(stripe, "charge.succeeded", "ch_1")
    assert payment["customer"] == {"id": None, "name": None, "email": None, "phone": None, "address": None,
                                   "metadata": None}


# -- the write-back happens once per payment, not once per event ----------------------------------------
class RecordingStripe:
    def __init__(self):
        self.updates: list[tuple[str, dict[str, str], str]] = []

    def update_metadata(self, object_id, metadata, *, idempotency_key):
        self.updates.append((object_id, metadata, idempotency_key))


def status_input(payment_key: str | None = "pi_1") -> dict[str, Any]:
    """What post hands on for each of the payment's events when both fetched before any write-back."""
    stage_input = {"keys": {"CustNum": 201, "OrderNum": 5001, "InvoiceNum": 70001, "CashGroupID": "SC1",
                            "HeadNum": 1},
                   "writeback": [{"id": "ch_1", "metadata": {}}, {"id": "pi_1", "metadata": {}}]}
    return stage_input | ({"payment_key": payment_key} if payment_key else {})


def test_the_second_event_of_a_payment_writes_nothing_back(monkeypatch):
    import fakeredis

    from tasks import store

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)
    stripe = RecordingStripe()
    ctx = SimpleNamespace(stripe=stripe, event={})
    order_to_cash.status_update(ctx, status_input())
    order_to_cash.status_update(ctx, status_input())
    assert [object_id for object_id, _, _ in stripe.updates] == ["ch_1", "pi_1"]
    assert stripe.updates[0][1] == {"epicor_cust_num": "201", "epicor_order_num": "5001",
                                    "epicor_invoice_num": "70001"}
    client.flushall()  # journal lost: the write-back is repeated, with the same idempotency keys
    order_to_cash.status_update(ctx, status_input())
    assert [update[2] for update in stripe.updates[2:]] == [update[2] for update in stripe.updates[:2]]


# -- the Stripe connector's expansion fallback -----------------------------------------------------
@pytest.fixture()
def stripe_settings(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_budget")
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "0")
    return load_settings()


def stripe_error(code: str | None, message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": message}}


@responses.activate
def test_refused_expansion_is_retried_without_it(stripe_settings):
    url = "https://api.stripe.com/v1/charges/ch_1"
    responses.get(url, status=400, json=stripe_error(None, "This property cannot be expanded (customer)."),
                  match=[responses.matchers.query_param_matcher(
                      {"expand[0]": "payment_intent", "expand[1]": "customer"})])
    responses.get(url, json=CHARGE, match=[responses.matchers.query_param_matcher({})])
    charge = StripeConnector(stripe_settings).charge("ch_1", expand=("payment_intent", "customer"))
    assert charge["payment_intent"] == "pi_1"
    assert len(responses.calls) == 2


@responses.activate
def test_a_missing_object_is_not_asked_for_twice(stripe_settings):
    responses.get("https://api.stripe.com/v1/charges/ch_gone", status=404,
                  json=stripe_error("resource_missing", "No such charge: 'ch_gone'"))
    with pytest.raises(StripeNotFound):
        StripeConnector(stripe_settings).charge("ch_gone", expand=("payment_intent",))
    assert len(responses.calls) == 1


# -- the bound on concurrent Epicor calls ------------------------------------------------------------
class SlowSession:
    """A requests.Session stand-in that takes 50 ms per call and records how many run at once."""

    in_flight = 0
    most = 0
    lock = threading.Lock()

    def __init__(self):
        self.headers: dict[str, str] = {}
        self.verify = True

    def request(self, method, url, **kwargs):
        with SlowSession.lock:
            SlowSession.in_flight += 1
            SlowSession.most = max(SlowSession.most, SlowSession.in_flight)
        time.sleep(0.05)
        with SlowSession.lock:
            SlowSession.in_flight -= 1
        return SimpleNamespace(status_code=200, json=lambda: {"value": []}, headers={})


@pytest.fixture()
def epicor_settings(monkeypatch):
    for name, value in {"EPICOR_BASE_URL": "https://erp.example.com/KineticLive", "EPICOR_USERNAME": "integration",
                        "EPICOR_PASSWORD": "pw", "EPICOR_API_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_concurrent_epicor_calls_never_exceed_the_bound(epicor_settings):
    settings = replace(epicor_settings, epicor_max_concurrency=3)
    SlowSession.most = 0
    clients = [EpicorClient(settings, session=SlowSession()) for _ in range(12)]
    threads = [threading.Thread(target=client.query, args=("Erp.BO.PartSvc", "Parts", "x eq 1")) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SlowSession.most == 3


def test_a_call_that_gets_no_slot_in_time_is_retryable(epicor_settings):
    settings = replace(epicor_settings, epicor_max_concurrency=1, epicor_timeout=0.05)
    client = EpicorClient(settings, session=SlowSession())
    assert client.slots.acquire(timeout=1)
    try:
        with pytest.raises(EpicorUnavailable) as caught:
            client._send("GET", "https://erp.example.com/KineticLive/x")
        assert caught.value.reason == "epicor.busy"
    finally:
        client.slots.release()


def test_the_default_bound_comes_from_the_environment(monkeypatch, epicor_settings):
    assert epicor_settings.epicor_max_concurrency == 64
    monkeypatch.setenv("EPICOR_MAX_CONCURRENCY", "4")
    assert load_settings().epicor_max_concurrency == 4
