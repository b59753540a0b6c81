"""Receivers of integration pairs (``/webhooks/stripe/<pair>``, ``/webhooks/epicor/<pair>``) with real
signatures: each pair's secrets, Connect routing by ``account``, the pair on the record and the envelope."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.web.test_epicor_webhook import signature
from tests.web.test_stripe_webhook import PAYLOAD

EMEA_STRIPE_SECRET, EMEA_EPICOR_SECRET = "whsec_emea_pair", "epicor_emea_pair"
PAIRS = """
pairs:
  emea:
    stripe:
      account: acct_1EmeaPlatform
      api_key_env: EMEA_STRIPE_KEY
      webhook_secret_env: EMEA_STRIPE_WEBHOOK_SECRET
      connect_accounts: [acct_1EmeaShop]
    epicor:
      base_url: https://erp.example.com/KineticEMEA
      company: EMEA01
      username_env: EMEA_EPICOR_USER
      password_env: EMEA_EPICOR_PASSWORD
      webhook_secret_env: EMEA_EPICOR_WEBHOOK_SECRET
"""


@pytest.fixture(autouse=True)
def pairs_file(monkeypatch, tmp_path):
    from tasks.pairs import get_pairs
    from tasks.settings import get_settings

    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS))
    for name, value in {"PAIRS_FILE": str(path), "EMEA_STRIPE_KEY": "sk_test_emea",
                        "EMEA_STRIPE_WEBHOOK_SECRET": EMEA_STRIPE_SECRET, "EMEA_EPICOR_USER": "emea",
                        "EMEA_EPICOR_PASSWORD": "emea-pw", "EMEA_EPICOR_WEBHOOK_SECRET": EMEA_EPICOR_SECRET,
                        "EPICOR_COMPANY": "EPIC06"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_pairs.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    get_pairs.cache_clear()


def stripe_post(client, signed, path: str, secret: str, **changes):
    body = json.dumps({**PAYLOAD, **changes}).encode()
    return client.post(path, data=body, headers={"Stripe-Signature": signed(body, secrets=(secret,))},
                       content_type="application/json")


def queued_envelopes(redis_db) -> list[dict]:
    messages = [json.loads(raw) for name in redis_db.keys("pipeline*") if redis_db.type(name) == "list"
                for raw in redis_db.lrange(name, 0, -1)]
    return [json.loads(__import__("base64").b64decode(message["body"]))[0][0] for message in messages]


def test_a_pairs_event_is_checked_with_its_secret_and_recorded_as_its_own(client, signed, redis_db):
    answer = stripe_post(client, signed, "/webhooks/stripe/emea", EMEA_STRIPE_SECRET)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["event_id"] == "emea:evt_1TestChargeSucceeded"
    record = client.get("/api/events/emea:evt_1TestChargeSucceeded").get_json()
    assert record["pair"] == "emea" and record["sender_id"] == "evt_1TestChargeSucceeded"
    assert [envelope.get("pair") for envelope in queued_envelopes(redis_db)] == ["emea"]
    assert client.get("/api/events/evt_1TestChargeSucceeded").status_code == 404  # not the default's


def test_the_other_pairs_secret_and_an_unknown_pair_are_refused(client, signed, redis_db):
    wrong = stripe_post(client, signed, "/webhooks/stripe/emea", "whsec_test_current")  # the default's secret
    assert wrong.status_code == 400 and "signature" in wrong.get_json()["error"]
    also_wrong = stripe_post(client, signed, "/webhooks/stripe", EMEA_STRIPE_SECRET)
    assert also_wrong.status_code == 400
    unknown = stripe_post(client, signed, "/webhooks/stripe/apac", EMEA_STRIPE_SECRET)
    assert unknown.status_code == 404 and "apac" in unknown.get_json()["error"]
    assert redis_db.keys("sec:event:*") == []


def test_the_default_pair_keeps_its_path_and_record(client, signed, redis_db):
    answer = stripe_post(client, signed, "/webhooks/stripe", "whsec_test_current")
    assert answer.get_json()["event_id"] == "evt_1TestChargeSucceeded"
    assert client.get("/api/events/evt_1TestChargeSucceeded").get_json()["pair"] == "default"
    assert "pair" not in queued_envelopes(redis_db)[0]


def test_a_connect_event_goes_to_the_pair_listing_its_account(client, signed, redis_db):
    answer = stripe_post(client, signed, "/webhooks/stripe", "whsec_test_current", account="acct_1EmeaShop")
    assert answer.status_code == 200 and answer.get_json()["event_id"] == "emea:evt_1TestChargeSucceeded"
    record = client.get("/api/events/emea:evt_1TestChargeSucceeded").get_json()
    assert record["pair"] == "emea" and record["account"] == "acct_1EmeaShop"


def test_an_account_no_pair_lists_is_refused_by_a_pair_that_declares_its_own(client, signed, redis_db):
    refused = stripe_post(client, signed, "/webhooks/stripe/emea", EMEA_STRIPE_SECRET, account="acct_1Stranger")
    assert refused.status_code == 400
    assert "acct_1Stranger, which no pair lists in connect_accounts" in refused.get_json()["error"]
    own = stripe_post(client, signed, "/webhooks/stripe/emea", EMEA_STRIPE_SECRET, account="acct_1EmeaPlatform")
    assert own.status_code == 200


def epicor_post(client, path: str, secret: str, company: str):
    body = json.dumps({"id": "42", "type": "Customer.Created", "company": company, "key": {"CustNum": 214},
                       "occurred_at": "2026-03-04T10:00:00Z"}).encode()
    return client.post(path, data=body, headers={"X-Epicor-Signature": signature(body, secret)},
                       content_type="application/json")


def test_each_epicor_company_posts_to_its_pairs_path_with_its_secret(client, redis_db):
    assert epicor_post(client, "/webhooks/epicor/emea", EMEA_EPICOR_SECRET, "EMEA01").get_json()["event_id"] == \
        "emea:42"
    assert epicor_post(client, "/webhooks/epicor", "epicor_test_secret", "EPIC06").get_json()["event_id"] == "42"
    wrong_company = epicor_post(client, "/webhooks/epicor/emea", EMEA_EPICOR_SECRET, "EPIC06")
    assert wrong_company.status_code == 400 and "EMEA01" in wrong_company.get_json()["error"]
    assert epicor_post(client, "/webhooks/epicor/emea", "epicor_test_secret", "EMEA01").status_code == 400
    assert epicor_post(client, "/webhooks/epicor/nope", EMEA_EPICOR_SECRET, "EMEA01").status_code == 404


def test_events_are_listed_by_pair(app, signed, redis_db, tmp_path):
    from history import drainer
    from tests.web.test_console_api import as_user

    operator = as_user(app, "operator")
    assert stripe_post(operator, signed, "/webhooks/stripe", "whsec_test_current").status_code == 200
    assert stripe_post(operator, signed, "/webhooks/stripe/emea", EMEA_STRIPE_SECRET).status_code == 200
    drainer.drain()
    listed = {pair: [event["id"] for event in operator.get(f"/api/events?pair={pair}").get_json()["events"]]
              for pair in ("default", "emea")}
    assert listed == {"default": ["evt_1TestChargeSucceeded"], "emea": ["emea:evt_1TestChargeSucceeded"]}
    assert len(operator.get("/api/events").get_json()["events"]) == 2
    refused = operator.get("/api/events?pair=apac")
    assert refused.status_code == 400 and "pair must be one of default, emea" in refused.get_json()["error"]


def test_the_console_filters_search_and_failures_by_pair(app, signed, redis_db, monkeypatch):
    from history import drainer
    from tasks import dlq
    from tasks.pairs import get_pairs
    from tests.web.test_console_api import as_user

    operator = as_user(app, "operator")
    stripe_post(operator, signed, "/webhooks/stripe", "whsec_test_current")
    stripe_post(operator, signed, "/webhooks/stripe/emea", EMEA_STRIPE_SECRET)
    for event_id, pair in (("evt_1TestChargeSucceeded", "default"), ("emea:evt_1TestChargeSucceeded", "emea")):
        dlq.dead_letter(event={"id": event_id, "type": "charge.succeeded", "flow": "order_to_cash", "pair": pair,
                               "object_id": "ch_1TestCharge"}, stage="post", stage_input={}, attempts=1,
                        error={"error_class": "EpicorError", "reason": "epicor.business_rule", "message": "held"},
                        failure_id=f"f-{event_id}")
    drainer.drain()
    from tests.web.test_console_auth import log_in

    operator.environ_base.pop("HTTP_AUTHORIZATION")  # pages need the session: log in as a browser does
    log_in(operator, "operator-test")
    page = operator.get("/console/search?pair=emea").get_data(as_text=True)
    assert '<select name="pair">' in page and "emea:evt_1TestChargeSucceeded" in page
    assert "/console/events/evt_1TestChargeSucceeded" not in page
    failures = operator.get("/console/failures?pair=default").get_data(as_text=True)
    assert '<select name="pair">' in failures
    assert "evt_1TestChargeSucceeded" in failures and "emea:evt_1TestChargeSucceeded" not in failures
    monkeypatch.delenv("PAIRS_FILE")
    get_pairs.cache_clear()
    assert '<select name="pair">' not in operator.get("/console/failures").get_data(as_text=True)
