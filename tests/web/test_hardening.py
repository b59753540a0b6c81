"""Hardening of the edges: the receiver's answers to bad input, secrets from files, TLS by default.

- Oversized bodies get 413 (declared or streamed), non-JSON content types 415, bodies that are not
  JSON or not an event 400 with the reason; none of them stores anything, and none is a 5xx.
- Every secret can come from ``NAME_FILE``; a file that cannot be read fails fast naming the variable,
  never the value; settings never print a secret.
- Stripe and Epicor calls verify TLS certificates by default; plain ``http://`` to Epicor is refused
  unless ``EPICOR_ALLOW_HTTP`` says it is the local sandbox.
"""

from __future__ import annotations

import io
import json

import pytest
import responses

from tasks.connectors.epicor import EpicorClient
from tasks.connectors.stripe_api import StripeConnector
from tasks.settings import ConfigError, load_settings

EVENT = {"id": "evt_1Hardening", "object": "event", "type": "charge.succeeded", "api_version": "2024-06-20",
         "created": 1772625600, "livemode": False, "data": {"object": {"id": "ch_1Hardening", "object": "charge"}}}
LIMIT = 1_048_576


def post(client, body: bytes, header: str | None, content_type: str = "application/json", **kwargs):
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post("/webhooks/stripe", data=body, headers=headers, content_type=content_type, **kwargs)


# -- 413 ---------------------------------------------------------------------------------------------
def test_body_over_the_limit_is_413_and_nothing_stored(client, signed, redis_db):
    body = json.dumps({**EVENT, "padding": "x" * LIMIT}).encode()
    response = post(client, body, signed(body))
    assert response.status_code == 413
    assert response.get_json() == {"error": "body too large"}
    assert redis_db.dbsize() == 0


def test_streamed_body_reaching_the_limit_is_413(client, signed, redis_db):
    body = json.dumps({**EVENT, "padding": "x" * LIMIT}).encode()
    response = client.post("/webhooks/stripe", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={"Stripe-Signature": signed(body), "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert redis_db.dbsize() == 0


def test_body_just_under_the_limit_is_judged_on_its_content(client, signed, redis_db):
    body = json.dumps(EVENT).encode()
    body = body[:-1] + b" " * (LIMIT - len(body) - 1) + b"}"
    response = post(client, body, signed(body))
    assert response.status_code == 200


# -- 415 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
def test_non_json_content_type_is_415_and_nothing_stored(client, signed, redis_db, content_type):
    body = json.dumps(EVENT).encode()
    response = post(client, body, signed(body), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_json_with_a_charset_is_accepted(client, signed):
    body = json.dumps(EVENT).encode()
    assert post(client, body, signed(body), content_type="application/json; charset=utf-8").status_code == 200


# -- 400 with the reason -----------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (json.dumps({**EVENT, "object": "charge"}).encode(), "not a Stripe event"),
    (json.dumps({k: v for k, v in EVENT.items() if k != "type"}).encode(), "not a Stripe event"),
    (json.dumps({**EVENT, "id": "e" * 300}).encode(), "not a Stripe event"),
    (json.dumps({**EVENT, "data": {"object": {"object": "charge"}}}).encode(), "no data.object with an id"),
    (json.dumps({**EVENT, "data": []}).encode(), "no data.object with an id"),
    (json.dumps({"id": "evt_1", "object": "v2.core.event", "type": "v1.charge.succeeded"}).encode(),
     "thin events are not supported"),
])
def test_signed_body_that_is_not_an_event_is_400_with_the_reason(client, signed, redis_db, body, reason):
    response = post(client, body, signed(body))
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_other_methods_get_a_json_405(client, redis_db):
    for method in (client.get, client.put, client.delete):
        response = method("/webhooks/stripe")
        assert response.status_code == 405 and response.is_json
    assert redis_db.dbsize() == 0


# -- secrets from the environment or from files ----------------------------------------------------------
SECRETS = ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "EPICOR_API_KEY", "EPICOR_PASSWORD", "EPICOR_WEBHOOK_SECRET")


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_can_come_from_a_file(monkeypatch, tmp_path, name):
    secret_file = tmp_path / name.lower()
    secret_file.write_text(f"from-file-{name.lower()}\n")
    monkeypatch.setenv(name, "from-the-environment")
    monkeypatch.setenv(f"{name}_FILE", str(secret_file))
    settings = load_settings()
    assert f"from-file-{name.lower()}" in settings.secrets
    assert "from-the-environment" not in settings.secrets


def test_unreadable_secret_file_fails_fast_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("EPICOR_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as failure:
        load_settings()
    assert "EPICOR_PASSWORD_FILE" in str(failure.value)


def test_settings_never_print_a_secret(monkeypatch):
    monkeypatch.setenv("EPICOR_PASSWORD", "pw-that-must-not-print")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_must_not_print")
    settings = load_settings()
    assert "must-not-print" not in repr(settings) and "must_not_print" not in str(settings)


# -- TLS ---------------------------------------------------------------------------------------------------
@pytest.fixture()
def epicor_env(monkeypatch):
    for name, value in {"EPICOR_BASE_URL": "https://erp.example.com/KineticLive", "EPICOR_USERNAME": "integration",
                        "EPICOR_PASSWORD": "pw", "EPICOR_API_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EPICOR_VERIFY_TLS", raising=False)
    monkeypatch.delenv("EPICOR_ALLOW_HTTP", raising=False)
    return monkeypatch


@responses.activate
def test_epicor_calls_verify_tls_by_default(epicor_env):
    responses.get("https://erp.example.com/KineticLive/api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts", json={"value": []})
    EpicorClient(load_settings()).query("Erp.BO.PartSvc", "Parts", "PartNum eq 'X'")
    verify = responses.calls[0].request.req_kwargs["verify"]
    assert verify is True or (isinstance(verify, str) and verify)  # True, or a CA bundle from the environment


def test_plain_http_to_epicor_is_refused_unless_allowed(epicor_env):
    epicor_env.setenv("EPICOR_BASE_URL", "http://erp.example.com/KineticLive")
    with pytest.raises(ConfigError) as failure:
        EpicorClient(load_settings())
    assert "EPICOR_ALLOW_HTTP" in str(failure.value)
    epicor_env.setenv("EPICOR_ALLOW_HTTP", "true")
    assert EpicorClient(load_settings()).base_url.startswith("http://")


def test_turning_epicor_tls_verification_off_takes_an_explicit_setting(epicor_env):
    epicor_env.delenv("REQUESTS_CA_BUNDLE", raising=False)
    epicor_env.delenv("CURL_CA_BUNDLE", raising=False)
    assert EpicorClient(load_settings()).session.verify is True
    epicor_env.setenv("REQUESTS_CA_BUNDLE", "/etc/company-ca.pem")  # a company CA: still verified, against it
    assert EpicorClient(load_settings()).session.verify == "/etc/company-ca.pem"
    epicor_env.setenv("EPICOR_VERIFY_TLS", "false")
    assert EpicorClient(load_settings()).session.verify is False


@responses.activate
def test_stripe_calls_verify_tls_with_the_sdk_bundle(monkeypatch):
    import stripe

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_tls")
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    responses.get("https://api.stripe.com/v1/charges/ch_tls", json={"id": "ch_tls", "object": "charge"})
    StripeConnector(load_settings()).charge("ch_tls")
    request = responses.calls[0].request
    assert request.url.startswith("https://")
    assert request.req_kwargs["verify"] == stripe.ca_bundle_path
