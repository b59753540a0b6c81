"""The Epicor receiver with real HMAC signatures: what is accepted, refused, stored and queued."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

import pytest

from tasks.broker import queue_depth

CURRENT, PREVIOUS = "epicor_test_current", "epicor_test_previous"
EVENT = {"id": "3f1c9a52-6b1e-4e0b-9d51-0c6f8a1d2e01", "type": "Customer.Created", "company": "EPIC06",
         "key": {"CustNum": 214}, "occurred_at": "2026-03-04T10:00:00Z"}


@pytest.fixture(autouse=True)
def epicor_settings(monkeypatch):
    """Two secrets (a rotation in progress) and the company, read fresh by the app."""
    from tasks.settings import get_settings

    monkeypatch.setenv("EPICOR_WEBHOOK_SECRET", f"{CURRENT},{PREVIOUS}")
    monkeypatch.setenv("EPICOR_COMPANY", "EPIC06")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def signature(body: bytes, secret: str = CURRENT, timestamp: int | None = None) -> str:
    """What the README's Epicor Function sends: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def body_of(**changes) -> bytes:
    return json.dumps({**EVENT, **changes}).encode()


def post(client, body: bytes, header: str | None, content_type: str = "application/json"):
    headers = {"X-Epicor-Signature": header} if header is not None else {}
    return client.post("/webhooks/epicor", data=body, headers=headers, content_type=content_type)


def queued(redis_db) -> int:
    return queue_depth(redis_db, "pipeline")


def stored_events(redis_db) -> list[str]:
    return redis_db.keys("sec:event:*")


def test_signed_customer_event_is_recorded_and_queued(client, redis_db):
    body = body_of()
    response = post(client, body, signature(body))
    assert response.status_code == 200 and response.get_json()["status"] == "queued"
    assert queued(redis_db) == 1
    record = client.get(f"/api/events/{EVENT['id']}").get_json()
    assert (record["source"], record["type"], record["flow"], record["object_id"]) == \
        ("epicor", "Customer.Created", "epicor_customer", "214")
    assert record["state"] == "received"


def test_sales_order_event_routes_to_the_order_flow(client, redis_db):
    body = body_of(id="evt-order-1", type="SalesOrder.Created", key={"OrderNum": 5001})
    assert post(client, body, signature(body)).status_code == 200
    record = client.get("/api/events/evt-order-1").get_json()
    assert (record["flow"], record["object_id"]) == ("epicor_sales_order", "5001")


def test_recognised_type_without_flow_is_acknowledged_as_ignored(client, redis_db):
    body = body_of(id="evt-order-upd", type="SalesOrder.Updated", key={"OrderNum": 5001})
    response = post(client, body, signature(body))
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert queued(redis_db) == 0
    assert client.get("/api/events/evt-order-upd").get_json()["state"] == "ignored"


def test_duplicate_delivery_is_queued_once(client, redis_db):
    body = body_of()
    first, second = post(client, body, signature(body)), post(client, body, signature(body))
    assert first.get_json()["status"] == "queued"
    assert second.status_code == 200 and second.get_json()["status"] == "duplicate"
    assert queued(redis_db) == 1
    assert int(client.get(f"/api/events/{EVENT['id']}").get_json()["deliveries"]) == 2


def test_previous_secret_during_rotation_is_accepted(client, redis_db):
    body = body_of()
    assert post(client, body, signature(body, PREVIOUS)).status_code == 200


def test_upper_case_hex_from_dotnet_is_accepted(client, redis_db):
    body = body_of()
    stamp, digest = signature(body).split(",")
    assert post(client, body, f"{stamp},{digest.upper().replace('V1=', 'v1=')}").status_code == 200


@pytest.mark.parametrize("header_for", [
    lambda body: signature(body, "someone_elses_secret"),
    lambda body: signature(body + b" "),
    lambda body: signature(body).replace("v1=", "v0="),
    lambda body: "v1=abc",
    lambda body: "",
], ids=["unknown-secret", "other-body", "no-v1", "no-timestamp", "empty"])
def test_bad_signature_is_refused_and_nothing_stored(client, redis_db, header_for):
    body = body_of()
    response = post(client, body, header_for(body))
    assert response.status_code == 400 and response.get_json()["error"]
    assert stored_events(redis_db) == [] and queued(redis_db) == 0


def test_missing_header_is_refused(client, redis_db):
    response = post(client, body_of(), None)
    assert response.status_code == 400 and "missing signature" in response.get_json()["error"]


def test_stale_signature_is_refused_as_stale(client, redis_db):
    body = body_of()
    response = post(client, body, signature(body, timestamp=int(time.time()) - 301))
    assert response.status_code == 400 and "tolerance" in response.get_json()["error"]
    assert stored_events(redis_db) == []


def test_signature_dated_beyond_the_tolerance_ahead_is_refused(client, redis_db):
    body = body_of()
    response = post(client, body, signature(body, timestamp=int(time.time()) + 900))
    assert response.status_code == 400 and "ahead of this server's clock" in response.get_json()["error"]
    assert stored_events(redis_db) == []


def test_signature_within_tolerance_is_accepted(client, redis_db):
    body = body_of()
    assert post(client, body, signature(body, timestamp=int(time.time()) - 240)).status_code == 200


def test_stripe_signature_header_is_not_enough(client, redis_db):
    body = body_of()
    response = client.post("/webhooks/epicor", data=body, content_type="application/json",
                           headers={"Stripe-Signature": signature(body)})
    assert response.status_code == 400


@pytest.mark.parametrize(("changes", "reason"), [
    ({"type": "Part.Created"}, "type"),
    ({"type": "customer.created"}, "type"),
    ({"company": "OTHER"}, "company"),
    ({"key": {"OrderNum": 5001}}, "CustNum"),
    ({"key": {"CustNum": "214"}}, "CustNum"),
    ({"key": {"CustNum": 214.0}}, "CustNum"),
    ({"key": {"CustNum": True}}, "CustNum"),
    ({"key": {"CustNum": 214, "CustID": "ACME"}}, "CustNum"),
    ({"key": {"CustNum": 0}}, "positive"),
    ({"key": {"CustNum": -3}}, "positive"),
    ({"key": 214}, "key"),
    ({"type": "SalesOrder.Created", "key": {"CustNum": 214}}, "OrderNum"),
    ({"id": ""}, "id"),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else value)
def test_body_that_is_not_a_valid_event_is_400_with_the_reason(client, redis_db, changes, reason):
    body = body_of(**changes)
    response = post(client, body, signature(body))
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert stored_events(redis_db) == [] and queued(redis_db) == 0


@pytest.mark.parametrize("missing", ["id", "type", "company", "key"])
def test_missing_field_is_400_naming_it(client, redis_db, missing):
    event = {name: value for name, value in EVENT.items() if name != missing}
    body = json.dumps(event).encode()
    response = post(client, body, signature(body))
    assert response.status_code == 400 and missing in response.get_json()["error"]


def test_non_json_body_and_non_object_are_refused(client, redis_db):
    for body in (b"CustNum=214", b"[1, 2]"):
        response = post(client, body, signature(body))
        assert response.status_code == 400
    assert stored_events(redis_db) == []


def test_wrong_content_type_is_415(client, redis_db):
    body = body_of()
    assert post(client, body, signature(body), content_type="text/plain").status_code == 415


def test_stored_event_keeps_only_ids(client, redis_db):
    body = body_of(extra={"Name": "Acme Trading Ltd", "EMailAddress": "ap@acme.example"})
    assert post(client, body, signature(body)).status_code == 200
    dumped = json.dumps({name: redis_db.hgetall(name) for name in stored_events(redis_db)})
    assert "Acme" not in dumped and "acme.example" not in dumped


def test_queue_down_gives_503(monkeypatch, redis_db):
    from tasks import store
    from tasks.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    store.forget_clients()
    try:
        from app import create_app

        body = body_of()
        response = post(create_app().test_client(), body, signature(body))
        assert response.status_code == 503
    finally:
        monkeypatch.setenv("REDIS_URL", os.environ["TEST_REDIS_URL"])
        get_settings.cache_clear()
        store.forget_clients()
