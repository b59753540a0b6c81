"""The Stripe receiver with real HMAC signatures: what is accepted, refused, stored and queued."""

import json
import time

import pytest

from tasks.broker import queue_depth

PAYLOAD = {
    "id": "evt_1TestChargeSucceeded", "object": "event", "api_version": "2020-08-27", "created": 1767225600,
    "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
    "type": "charge.succeeded",
    "data": {"object": {"id": "ch_1TestCharge", "object": "charge", "amount": 2500, "currency": "usd",
                        "billing_details": {"name": "Jenny Rosen", "email": "jenny@example.com"}}},
}


def body_of(payload=None, **changes) -> bytes:
    return json.dumps({**(payload or PAYLOAD), **changes}).encode()


def post(client, body: bytes, header: str | None, content_type="application/json"):
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post("/webhooks/stripe", data=body, headers=headers, content_type=content_type)


def queued_messages(redis_db) -> int:
    return queue_depth(redis_db, "pipeline")


def test_valid_signature_is_recorded_and_queued(client, signed, redis_db):
    body = body_of()
    response = post(client, body, signed(body))
    assert response.status_code == 200
    assert response.get_json()["status"] == "queued"
    assert queued_messages(redis_db) == 1
    # A new event's first stage waits behind the stages of events already under way (priority 9).
    (message,) = redis_db.lrange("pipeline\x06\x169", 0, -1)
    assert json.loads(message)["headers"]["task"] == "pipeline.fetch"
    event = client.get("/api/events/evt_1TestChargeSucceeded").get_json()
    assert event["state"] == "received" and event["flow"] == "order_to_cash"
    assert event["object_id"] == "ch_1TestCharge"


def test_stored_event_keeps_no_personal_data(client, signed, redis_db):
    body = body_of()
    post(client, body, signed(body))
    dumped = json.dumps({k: redis_db.hgetall(k) for k in redis_db.keys("sec:event:*")})
    assert "Jenny" not in dumped and "jenny@example.com" not in dumped


def test_duplicate_delivery_is_acknowledged_once_queued_once(client, signed, redis_db):
    body = body_of()
    first = post(client, body, signed(body))
    second = post(client, body, signed(body))
    assert first.get_json()["status"] == "queued"
    assert second.status_code == 200 and second.get_json()["status"] == "duplicate"
    assert queued_messages(redis_db) == 1


def test_tampered_body_is_refused_and_nothing_stored(client, signed, redis_db):
    header = signed(body_of())
    tampered = body_of(data={"object": {"id": "ch_1TestCharge", "object": "charge", "amount": 1}})
    response = post(client, tampered, header)
    assert response.status_code == 400
    assert "does not match" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_reserialised_body_breaks_the_signature(client, signed, redis_db):
    body = body_of()
    response = post(client, json.dumps(json.loads(body), indent=2).encode(), signed(body))
    assert response.status_code == 400


def test_stale_timestamp_is_refused(client, signed, redis_db):
    body = body_of()
    response = post(client, body, signed(body, timestamp=int(time.time()) - 301))
    assert response.status_code == 400
    assert "tolerance" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_timestamp_within_tolerance_is_accepted(client, signed):
    body = body_of()
    assert post(client, body, signed(body, timestamp=int(time.time()) - 290)).status_code == 200


def test_a_timestamp_ahead_of_the_clock_by_more_than_the_tolerance_is_refused(client, signed, redis_db):
    body = body_of()
    response = post(client, body, signed(body, timestamp=int(time.time()) + 301))
    assert response.status_code == 400
    assert "ahead of this server's clock" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_a_sender_clock_a_little_ahead_is_accepted(client, signed):
    body = body_of()
    assert post(client, body, signed(body, timestamp=int(time.time()) + 60)).status_code == 200


def test_rotated_secret_previous_only_is_accepted(client, signed):
    body = body_of()
    assert post(client, body, signed(body, secrets=("whsec_test_previous",))).status_code == 200


def test_both_secrets_during_rotation_are_accepted(client, signed):
    body = body_of()
    header = signed(body, secrets=("whsec_test_current", "whsec_test_previous"))
    assert header.count("v1=") == 2
    assert post(client, body, header).status_code == 200


def test_unknown_secret_is_refused(client, signed, redis_db):
    body = body_of()
    assert post(client, body, signed(body, secrets=("whsec_someone_else",))).status_code == 400
    assert redis_db.dbsize() == 0


def test_v0_only_is_refused(client, redis_db):
    import hashlib
    import hmac

    body = body_of()
    t = int(time.time())
    v0 = hmac.new(b"whsec_test_current", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    response = post(client, body, f"t={t},v0={v0}")
    assert response.status_code == 400
    assert "v1" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_missing_header_is_refused(client, redis_db):
    response = post(client, body_of(), None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "missing signature header"
    assert redis_db.dbsize() == 0


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", "t=123"])
def test_malformed_header_is_refused(client, header, redis_db):
    assert post(client, body_of(), header).status_code == 400
    assert redis_db.dbsize() == 0


def test_non_json_body_with_valid_signature_is_refused(client, signed, redis_db):
    body = b"this is not json"
    response = post(client, body, signed(body))
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def test_json_that_is_not_an_event_is_refused(client, signed, redis_db):
    body = json.dumps({"hello": "world"}).encode()
    response = post(client, body, signed(body))
    assert response.status_code == 400
    assert redis_db.dbsize() == 0


def test_wrong_content_type_is_415(client, signed):
    body = body_of()
    assert post(client, body, signed(body), content_type="text/plain").status_code == 415


def test_type_without_flow_is_ignored_but_recorded(client, signed, redis_db):
    body = body_of(id="evt_1TestBalance", type="balance.available",
                   data={"object": {"id": "bal_1", "object": "balance"}})
    response = post(client, body, signed(body))
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert queued_messages(redis_db) == 0
    assert client.get("/api/events/evt_1TestBalance").get_json()["state"] == "ignored"


def test_unknown_event_is_404(client):
    assert client.get("/api/events/evt_never").status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json()["redis"] == "reachable"


def test_redis_down_gives_503_and_no_ack(signed, monkeypatch, redis_db):
    from tasks import store
    from tasks.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    store.forget_clients()
    try:
        from app import create_app

        client = create_app().test_client()
        body = body_of()
        response = post(client, body, signed(body))
        assert response.status_code == 503
        assert client.get("/readyz").status_code == 503
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        store.forget_clients()
