"""Hostile headers and signed hostile JSON on both receivers: a 4xx with a reason, or queued; never a 5xx.

Issue 11 point 2: a signature header with non-ASCII characters made the HMAC comparison raise, and
a correctly signed body holding a lone UTF-16 surrogate made the Redis write raise. The policy
(``app.inputs``, ``app.signatures``): a header must be printable ASCII; ids and types must be tokens
(refused with the field named, nothing stored); free text kept is made safe; strict JSON. What is
queued can be read back from Redis. An unexpected exception in a receiver is a 400, an outage a 503.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from app.errors import UNPROCESSABLE
from sandbox.signing import sign_payload

STRIPE_SECRET = "whsec_test_current"
EPICOR_SECRET = "epicor_test_hostile"
RECEIVERS = {"stripe": ("/webhooks/stripe", "Stripe-Signature", STRIPE_SECRET),
             "epicor": ("/webhooks/epicor", "X-Epicor-Signature", EPICOR_SECRET)}


@pytest.fixture(autouse=True)
def epicor_settings(monkeypatch):
    from tasks.settings import get_settings

    monkeypatch.setenv("EPICOR_WEBHOOK_SECRET", EPICOR_SECRET)
    monkeypatch.setenv("EPICOR_COMPANY", "EPIC06")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def stripe_event(**changes) -> dict:
    event = {"id": "evt_1Hostile", "object": "event", "type": "charge.succeeded", "api_version": "2024-06-20",
             "created": int(time.time()), "livemode": False,
             "data": {"object": {"id": "ch_1Hostile", "object": "charge", "payment_intent": "pi_1Hostile"}}}
    return {**event, **changes}


def epicor_event(**changes) -> dict:
    return {"id": "epicor-hostile-1", "type": "Customer.Created", "company": "EPIC06", "key": {"CustNum": 214},
            "occurred_at": "2026-03-04T10:00:00Z", **changes}


def send(client, receiver: str, body: bytes, header: str | None = None):
    path, name, secret = RECEIVERS[receiver]
    value = sign_payload(body, [secret]) if header is None else header
    return client.post(path, data=body, headers={name: value}, content_type="application/json")


def as_body(event: dict) -> bytes:
    return json.dumps(event).encode()  # ensure_ascii: a lone surrogate travels as "\ud800"


# -- signature headers ---------------------------------------------------------------------------
HOSTILE_HEADERS = [
    "t=1772625600,v1=\u00e9" + "0" * 63,        # latin-1 letter
    "t=1772625600,v1=\u65e5\u672c",               # CJK
    "t=1772625600,v1=\ud800",                     # lone surrogate
    "\xff\xfe\x80\x81",                           # raw non-UTF-8 bytes as WSGI hands them over (latin-1)
    "t=\u0661\u0667\u0667\u0662,v1=00",           # Arabic-Indic digits, which int() accepts
    "t=1_772_625_600,v1=00",                      # underscores, which int() accepts
    "t=" + "9" * 5000 + ",v1=00",                 # more digits than int() converts
    "t=" + "9" * 40 + ",v1=00",                   # a timestamp no clock reaches
    "t=1772625600,v1=" + "a" * 10_000,            # very long
    "t=1772625600,\x00v1=00", "t=1772625600,v1=\x7f", "\t", "\x1b[31m",  # control characters
]


@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
@pytest.mark.parametrize("header", HOSTILE_HEADERS)
def test_a_hostile_signature_header_is_a_400_naming_it_and_nothing_is_stored(client, redis_db, receiver, header):
    body = as_body(stripe_event() if receiver == "stripe" else epicor_event())
    response = send(client, receiver, body, header)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("malformed signature header")
    assert redis_db.dbsize() == 0


@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
def test_a_valid_signature_with_a_non_ascii_item_beside_it_is_still_refused(client, redis_db, receiver):
    body = as_body(stripe_event() if receiver == "stripe" else epicor_event())
    header = sign_payload(body, [RECEIVERS[receiver][2]]) + ",x=\u00e9"
    assert send(client, receiver, body, header).status_code == 400
    assert redis_db.dbsize() == 0


# -- signed bodies: ids and types ----------------------------------------------------------------
STRIPE_UNSAFE = [
    ({"id": "evt_\ud800"}, "id"), ({"id": "evt_\x00"}, "id"), ({"id": "evt 1"}, "id"), ({"id": "evt\u2028"}, "id"),
    ({"type": "charge.\udfff"}, "type"), ({"type": "charge.succeeded\n"}, "type"),
    ({"api_version": "\ud800"}, "api_version"), ({"account": "acct_\x00"}, "account"),
    ({"api_version": {"nested": 1}}, "api_version"),
    ({"data": {"object": {"id": "ch_\ud800", "object": "charge"}}}, "data.object.id"),
    ({"data": {"object": {"id": "ch_1", "object": "charge\x07"}}}, "data.object.object"),
    ({"data": {"object": {"id": "ch_1", "object": "charge", "payment_intent": "pi_\ud800"}}}, "payment intent"),
    ({"data": {"object": {"id": "pi_1", "object": "checkout.session", "payment_intent": {"id": "pi_\x00"}}}},
     "payment intent"),
]


@pytest.mark.parametrize(("changes", "field"), STRIPE_UNSAFE)
def test_a_stripe_id_or_type_that_cannot_be_stored_is_a_400_naming_the_field(client, redis_db, changes, field):
    response = send(client, "stripe", as_body(stripe_event(**changes)))
    assert response.status_code == 400
    assert field in response.get_json()["error"]
    assert redis_db.dbsize() == 0


@pytest.mark.parametrize("changes", [{"id": "e\ud800"}, {"id": "e\x00"}, {"id": "two words"}, {"id": ""},
                                     {"type": "\ud800" * 10_000}, {"company": "\x00\ud800"}])
def test_an_epicor_id_type_or_company_that_cannot_be_stored_is_a_400(client, redis_db, changes):
    response = send(client, "epicor", as_body(epicor_event(**changes)))
    assert response.status_code == 400
    reason = response.get_json()["error"]
    assert reason.isascii() and reason.isprintable() and len(reason) <= 300  # quotes input, escaped and cut
    assert redis_db.dbsize() == 0


# -- signed bodies: JSON that is legal, or nearly ----------------------------------------------------
@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
@pytest.mark.parametrize(("body", "reason"), [
    (b'{"id": "x", "amount": NaN}', "NaN"), (b'{"id": "x", "amount": -Infinity}', "-Infinity"),
    (b'{"id": "evt_1", "id": "evt_2"}', "duplicate key"),
    (b'{"data": {"object": {"id": "ch_1", "id": "ch_2"}}}', "duplicate key"),
    (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'\xef\xbb\xbf{"id": "x"}', "not valid JSON"),  # a UTF-8 byte order mark
    ('{"id": "x"}'.encode("utf-16-le"), "not valid JSON"),  # valid UTF-8 (NULs), but UTF-16 text
])
def test_json_that_is_not_strict_json_is_a_400(client, redis_db, receiver, body, reason):
    response = send(client, receiver, body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert redis_db.dbsize() == 0


def stored(redis_db, event_id: str) -> dict[str, str]:
    record = redis_db.hgetall(f"sec:event:{event_id}")  # decode_responses: strict UTF-8 on the way back
    assert record, f"{event_id!r} was acknowledged but is not in Redis"
    return record


def test_a_stripe_event_whose_payload_text_is_hostile_is_queued_and_stores_only_safe_fields(client, redis_db):
    charge = {"id": "ch_1Odd", "object": "charge", "payment_intent": "pi_1Odd", "amount": 1e400,
              "description": "lone \ud800 NUL \x00 bell \x07 " + "long " * 150_000,
              "metadata": {"\udfff": "\ud800", "note": "\x00"}, "billing_details": {"name": "\u202eevil"}}
    body = as_body(stripe_event(id="evt_1Odd", data={"object": charge}))
    body = body.replace(b'"amount": Infinity', b'"amount": 1e400')
    assert b"1e400" in body and len(body) < 1_048_576
    response = send(client, "stripe", body)
    assert response.status_code == 200 and response.get_json()["status"] == "queued"
    record = stored(redis_db, "evt_1Odd")
    assert (record["object_id"], record["payment"], record["type"]) == ("ch_1Odd", "pi_1Odd", "charge.succeeded")
    assert "lone" not in json.dumps(record) and "evil" not in json.dumps(record)  # the payload is never kept


def test_an_epicor_event_with_hostile_occurred_at_is_queued_with_that_text_made_safe(client, redis_db):
    body = as_body(epicor_event(id="epicor-odd-1", occurred_at="2026-03-04\ud800T10:00\x00Z\x1b"))
    response = send(client, "epicor", body)
    assert response.status_code == 200
    assert stored(redis_db, "epicor-odd-1")["occurred_at"] == "2026-03-04\ufffdT10:00 Z"


def test_unicode_ids_that_are_printable_are_accepted(client, redis_db):
    response = send(client, "stripe", as_body(stripe_event(id="evt_Café东京")))
    assert response.status_code == 200
    assert stored(redis_db, "evt_Café东京")["source"] == "stripe"


def test_upper_case_epicor_hex_is_still_accepted_but_a_kelvin_sign_is_not_lowered_into_ascii(client, redis_db):
    body = as_body(epicor_event(id="epicor-case-1"))
    header = sign_payload(body, [EPICOR_SECRET])
    assert send(client, "epicor", body, header.upper().replace("T=", "t=").replace("V1=", "v1=")).status_code == 200
    assert send(client, "epicor", body, header.replace("t=", "\u212a=")).status_code == 400


# -- the safety net ------------------------------------------------------------------------------
def fail_with(monkeypatch, error: Exception) -> None:
    def receive(event):
        raise error

    monkeypatch.setattr("app.webhooks.receive", receive)


@pytest.mark.parametrize("error", [UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
                                   TypeError("unforeseen"), KeyError("id")])
def test_an_unexpected_exception_in_a_receiver_is_a_400_not_a_500(client, redis_db, monkeypatch, error, caplog):
    fail_with(monkeypatch, error)
    response = send(client, "stripe", as_body(stripe_event(id="evt_1Unforeseen")))
    assert response.status_code == 400 and response.get_json() == {"error": UNPROCESSABLE}
    assert type(error).__name__ in caplog.text and "\ud800" not in caplog.text  # type and place, no input


@pytest.mark.parametrize("error", [redis.exceptions.ConnectionError("down"), redis.exceptions.TimeoutError(),
                                   ConnectionRefusedError(), redis.exceptions.ResponseError("OOM command not allowed")])
def test_an_outage_that_reaches_the_safety_net_stays_a_503(client, redis_db, monkeypatch, error):
    fail_with(monkeypatch, error)
    response = send(client, "epicor", as_body(epicor_event()))
    assert response.status_code == 503


def test_other_routes_keep_flasks_handling_of_their_exceptions(client, monkeypatch):
    def broken() -> bool:
        raise TypeError("a bug outside the receivers")

    monkeypatch.setattr("app.health.ping", broken)
    with pytest.raises(TypeError):  # testing mode propagates: the safety net did not swallow it
        client.get("/readyz")
