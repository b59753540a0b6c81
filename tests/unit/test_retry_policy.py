"""Which errors retry, how often and how far apart: the taxonomy at both connectors, the per-flow
policy from the environment, and the Celery backoff bounds (README "Retry policy")."""

from __future__ import annotations

import pytest
import redis
import requests
import responses

import celeryconfig
from tasks.base import backoff
from tasks.connectors.epicor import EpicorClient, EpicorError, EpicorUnavailable
from tasks.connectors.stripe_api import StripeConnector, StripeRejected, StripeUnavailable
from tasks.errors import PermanentError, RetryableError, classify
from tasks.flows import RetryPolicy
from tasks.settings import ConfigError, load_settings

STRIPE = "https://api.stripe.test"
EPICOR = "https://erp.example.com/KineticLive"
ORDERS = f"{EPICOR}/api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders"


@pytest.fixture()
def stripe(monkeypatch):
    monkeypatch.setenv("STRIPE_API_BASE", STRIPE)
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "0")
    return StripeConnector(load_settings())


@pytest.fixture()
def epicor(monkeypatch):
    for name, value in (("EPICOR_BASE_URL", EPICOR), ("EPICOR_USERNAME", "integration"),
                        ("EPICOR_PASSWORD", "s3cret-pass"), ("EPICOR_API_KEY", "key-123"), ("EPICOR_TIMEOUT", "2")):
        monkeypatch.setenv(name, value)
    return EpicorClient(load_settings())


def stripe_error(kind: str, message: str, code: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "code": code}}


def epicor_error(status: int, message: str, error_type: str = "Ice.BLException") -> dict:
    return {"HttpStatus": status, "ReasonPhrase": "REST API Exception", "ErrorMessage": message,
            "ErrorType": error_type, "ErrorDetails": []}


# -- Stripe ------------------------------------------------------------------------------------------
@responses.activate
def test_stripe_409_conflict_is_retryable(stripe):
    responses.get(f"{STRIPE}/v1/charges/ch_1", status=409,
                  json=stripe_error("idempotency_error", "Another request with this key is in progress"))
    with pytest.raises(StripeUnavailable):
        stripe.charge("ch_1")


@responses.activate
def test_stripe_connection_failure_and_timeout_are_retryable(stripe):
    responses.get(f"{STRIPE}/v1/charges/ch_1", body=requests.ConnectionError("refused"))
    responses.get(f"{STRIPE}/v1/charges/ch_2", body=requests.Timeout("read timed out"))
    for charge_id in ("ch_1", "ch_2"):
        with pytest.raises(StripeUnavailable) as caught:
            stripe.charge(charge_id)
        assert caught.value.reason == "stripe.connection"


@responses.activate
def test_stripe_429_without_retry_after_still_waits_a_little(stripe):
    responses.get(f"{STRIPE}/v1/charges/ch_1", status=429, json=stripe_error("rate_limit_error", "slow down"))
    with pytest.raises(StripeUnavailable) as caught:
        stripe.charge("ch_1")
    assert caught.value.reason == "stripe.rate_limited" and caught.value.retry_after >= 1


@responses.activate
def test_stripe_invalid_request_and_permission_are_permanent(stripe):
    responses.get(f"{STRIPE}/v1/charges/ch_1", status=400,
                  json=stripe_error("invalid_request_error", "Invalid charge id", "parameter_invalid"))
    responses.get(f"{STRIPE}/v1/charges/ch_2", status=403,
                  json=stripe_error("invalid_request_error", "The restricted key lacks charges:read"))
    with pytest.raises(StripeRejected):
        stripe.charge("ch_1")
    with pytest.raises(StripeRejected) as caught:
        stripe.charge("ch_2")
    assert caught.value.reason == "stripe.auth"


# -- Epicor ------------------------------------------------------------------------------------------
@responses.activate
def test_epicor_timeout_and_connection_error_are_retryable(epicor):
    responses.post(ORDERS, body=requests.ReadTimeout("timed out"))
    responses.post(ORDERS, body=requests.ConnectionError("refused"))
    with pytest.raises(EpicorUnavailable) as timed_out:
        epicor.create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 1})
    with pytest.raises(EpicorUnavailable) as refused:
        epicor.create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 1})
    assert (timed_out.value.reason, refused.value.reason) == ("epicor.timeout", "epicor.connection")


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_epicor_5xx_is_retryable(epicor, status):
    responses.post(ORDERS, status=status, json=epicor_error(status, "Server busy", "Ice.Common.ServerError"))
    with pytest.raises(EpicorUnavailable):
        epicor.create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 1})


@responses.activate
def test_epicor_licence_exhaustion_by_message_alone_is_retryable(epicor):
    responses.post(ORDERS, status=400, json=epicor_error(400, "Maximum users exceeded for license type", ""))
    with pytest.raises(EpicorUnavailable) as caught:
        epicor.create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 1})
    assert caught.value.reason == "epicor.licence_exhausted"


@responses.activate
def test_epicor_business_exception_is_permanent_with_its_error_message(epicor):
    responses.post(ORDERS, status=400, json=epicor_error(400, "Customer 999 is on credit hold."))
    with pytest.raises(EpicorError) as caught:
        epicor.create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 999})
    failure = classify(caught.value)
    assert isinstance(failure, PermanentError) and not isinstance(failure, RetryableError)
    assert failure.to_dict() == {"error_class": "EpicorError", "reason": "epicor.business_rule",
                                 "message": "Customer 999 is on credit hold."}


@responses.activate
def test_epicor_409_on_create_is_looked_up_and_used(epicor):
    responses.get(ORDERS, json={"value": []})
    responses.post(ORDERS, status=409, json=epicor_error(409, "Duplicate", "Ice.Common.DuplicateRecordException"))
    responses.get(ORDERS, json={"value": [{"OrderNum": 5001, "IntExternalKey": "pi_1"}]})
    row, created = epicor.ensure("Erp.BO.SalesOrderSvc", "SalesOrders", {"IntExternalKey": "pi_1"}, {"CustNum": 1})
    assert row["OrderNum"] == 5001 and created is False
    assert [call.request.method for call in responses.calls] == ["GET", "POST", "GET"]


# -- the one classifier ------------------------------------------------------------------------------
def test_unknown_exceptions_are_permanent_and_never_retried():
    failure = classify(KeyError("OrderNum"))
    assert isinstance(failure, PermanentError) and failure.reason == "internal.unexpected"


@pytest.mark.parametrize("exc", [redis.exceptions.ConnectionError("Connection refused"),
                                 redis.exceptions.TimeoutError("Timeout reading from socket"),
                                 redis.exceptions.BusyLoadingError("Redis is loading the dataset")])
def test_redis_going_away_mid_stage_is_retryable_not_dead_lettered(exc):
    failure = classify(exc)
    assert isinstance(failure, RetryableError) and failure.reason == "redis.unavailable"


# -- policy and backoff ------------------------------------------------------------------------------
def test_policy_is_overridden_per_flow_then_globally(monkeypatch):
    monkeypatch.setenv("RETRY_MAX", "3")
    monkeypatch.setenv("RETRY_MAX_ORDER_TO_CASH", "20")
    monkeypatch.setenv("RETRY_BACKOFF_BASE", "0.5")
    monkeypatch.setenv("RETRY_BACKOFF_MAX_ORDER_TO_CASH", "4")
    default = RetryPolicy(max_retries=10, backoff_base=5, backoff_max=900)
    assert default.configured("order_to_cash") == RetryPolicy(max_retries=20, backoff_base=0.5, backoff_max=4)
    assert default.configured("invoice_paid") == RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=900)


def test_policy_without_environment_keeps_the_flow_defaults(monkeypatch):
    for name in ("RETRY_MAX", "RETRY_BACKOFF_BASE", "RETRY_BACKOFF_MAX"):
        monkeypatch.delenv(name, raising=False)
    policy = RetryPolicy(max_retries=10, backoff_base=5, backoff_max=900)
    assert policy.configured("order_to_cash") == policy


@pytest.mark.parametrize(("name", "value"), [("RETRY_MAX", "-1"), ("RETRY_BACKOFF_BASE", "0"),
                                             ("RETRY_BACKOFF_MAX", "1"), ("RETRY_MAX", "many")])
def test_nonsense_policy_fails_fast(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        RetryPolicy(backoff_base=5).configured("order_to_cash")


def test_backoff_doubles_with_jitter_and_stops_growing_at_the_maximum():
    policy = RetryPolicy(max_retries=20, backoff_base=5, backoff_max=160)
    for attempt, (low, high) in enumerate([(2, 5), (5, 10), (10, 20), (20, 40), (40, 80), (80, 160)]):
        waits = {backoff(policy, attempt, None) for _ in range(200)}
        assert low <= min(waits) and max(waits) <= high
    assert max(backoff(policy, 12, None) for _ in range(200)) <= 160


def test_backoff_honours_retry_after_up_to_the_policy_maximum():
    policy = RetryPolicy(backoff_base=1, backoff_max=60)
    assert backoff(policy, 0, 30.0) == 30
    assert backoff(policy, 0, 3600.0) == 60


def test_no_wait_ever_reaches_the_broker_visibility_timeout():
    policy = RetryPolicy(backoff_base=600, backoff_max=100_000)
    visibility = celeryconfig.broker_transport_options["visibility_timeout"]
    assert visibility > celeryconfig.MAX_RETRY_COUNTDOWN
    assert all(backoff(policy, attempt, 99_999.0) <= celeryconfig.MAX_RETRY_COUNTDOWN for attempt in range(30))
