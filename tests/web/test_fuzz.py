"""Fuzzing both receivers: whatever arrives, the answer is never a 5xx, and invalid input stores nothing.

Requests are drawn by hypothesis from what a hostile or broken sender can vary: the content type, the
signature header (missing, forged with another secret, stale, valid, or any value at all: every
unicode character including lone surrogates and controls, raw bytes as WSGI hands them over
decoded as latin-1, a valid signature with such text beside it) and the body (random bytes,
arbitrary JSON, event-shaped JSON with missing or mistyped fields, deep nesting). A second pair of
tests signs adversarial JSON correctly: event-shaped bodies whose fields hold lone surrogate
escapes, NUL and other controls, very long strings, ``1e400``, ``NaN``, 5,000-digit numbers,
duplicate keys. For every answer other than 200 the Redis database must still be empty: no event
record, no queued message. Every 200 must be readable back from Redis (strict UTF-8) and queued.
No answer may come from the receivers' safety net (``app.errors``): the checks themselves must
know every input. ``FUZZ_EXAMPLES`` raises the number of requests per receiver (default 400).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.errors import UNPROCESSABLE
from sandbox.signing import sign_payload
from tasks.broker import queue_depth

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
STRIPE_SECRET = "whsec_test_current"
EPICOR_SECRET = os.environ.get("EPICOR_WEBHOOK_SECRET", "epicor_test_secret").split(",")[0]
RECEIVERS = {
    "stripe": ("/webhooks/stripe", "Stripe-Signature", STRIPE_SECRET),
    "epicor": ("/webhooks/epicor", "X-Epicor-Signature", EPICOR_SECRET),
}
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=25)
ids = st.text(max_size=300) | st.sampled_from(["evt_1Fuzz", "ch_1Fuzz", "pi_1Fuzz", "", "evt_" + "x" * 256])


def maybe(value_strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return value_strategy | json_values


stripe_events = st.fixed_dictionaries({}, optional={
    "id": maybe(ids), "object": maybe(st.sampled_from(["event", "v2.core.event", "charge"])),
    "type": maybe(st.sampled_from(["charge.succeeded", "payment_intent.succeeded", "customer.created",
                                   "no.such.type", ""])),
    "api_version": maybe(st.sampled_from(["2020-08-27", "2026-10-28.endive"])),
    "created": maybe(st.integers()), "livemode": json_values, "account": json_values,
    "data": maybe(st.fixed_dictionaries({}, optional={"object": maybe(st.fixed_dictionaries(
        {}, optional={"id": maybe(ids), "object": json_values, "amount": json_values}))})),
})
epicor_events = st.fixed_dictionaries({}, optional={
    "id": maybe(ids), "type": maybe(st.sampled_from(["Customer.Created", "SalesOrder.Created", "Bogus"])),
    "company": maybe(st.sampled_from(["EPIC06", "OTHER", ""])),
    "key": maybe(st.dictionaries(st.sampled_from(["CustNum", "OrderNum", "x"]),
                                 st.integers(min_value=-2, max_value=2**40) | json_values, max_size=2)),
    "occurred_at": json_values,
})


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bodies(events: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2000),
        json_values.map(lambda value: json.dumps(value).encode()),
        events.map(lambda event: json.dumps(event).encode()),
        st.integers(min_value=900, max_value=200_000).map(deep),
        st.sampled_from([b"", b"null", b"{}", b"[]", b'"event"', b"{\"id\": ", b"\xff\xfe{}", b"NaN"]),
    )


content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", "", "application/jsonx",
                                 "multipart/form-data; boundary=x"])
signature_kinds = st.sampled_from(["valid", "valid", "valid", "missing", "garbage", "forged", "stale",
                                   "future", "v0_only", "empty", "valid_plus_garbage", "garbage_t"])
any_character = st.characters(exclude_categories=())  # surrogates and controls included
garbage_headers = st.one_of(
    st.text(any_character, max_size=200),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),  # raw header bytes through WSGI
    st.text(max_size=200).map(lambda text: text.encode("latin-1", "replace").decode("latin-1")),
    st.integers(min_value=4000, max_value=20_000).map(lambda size: "t=" + "9" * size),
)


def signature(kind: str, body: bytes, secret: str, garbage: str) -> str | None:
    now = int(time.time())
    return {
        "valid": lambda: sign_payload(body, [secret]),
        "missing": lambda: None,
        "garbage": lambda: no_newlines(garbage),
        "forged": lambda: sign_payload(body, ["whsec_not_the_secret"]),
        "stale": lambda: sign_payload(body, [secret], timestamp=now - 301),
        "future": lambda: sign_payload(body, [secret], timestamp=now + 10_000),
        "v0_only": lambda: f"t={now},v0=" + "0" * 64,
        "empty": lambda: "",
        "valid_plus_garbage": lambda: sign_payload(body, [secret]) + "," + no_newlines(garbage),
        "garbage_t": lambda: f"t={no_newlines(garbage)},v1=" + "0" * 64,
    }[kind]()


def no_newlines(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")  # not a header value: HTTP framing (gunicorn's part)


def fuzz_one(client, redis_db, receiver: str, body: bytes, content_type: str, kind: str, garbage: str) -> None:
    path, header, secret = RECEIVERS[receiver]
    redis_db.flushdb()
    value = signature(kind, body, secret, garbage)
    headers = {header: value} if value is not None else {}
    response = client.post(path, data=body, headers=headers, content_type=content_type)
    event(f"answer {response.status_code}")  # --hypothesis-show-statistics: how many were accepted
    assert response.status_code < 500, (response.status_code, response.data[:200], body[:200], kind)
    assert response.status_code in (200, 400, 413, 415), response.status_code
    assert response.is_json and "error" in response.get_json() or response.status_code == 200
    if response.status_code != 200:
        assert response.get_json()["error"] != UNPROCESSABLE, "an input reached the safety net"
        assert redis_db.dbsize() == 0, f"invalid input stored something: {redis_db.keys('*')[:5]}"
    else:
        assert kind in ("valid", "valid_plus_garbage"), "only a validly signed request may be accepted"
        assert_recorded(redis_db, response.get_json())


def assert_recorded(redis_db, answer: dict[str, Any]) -> None:
    """What was acknowledged is in Redis, readable (strict UTF-8 on the way back), and queued unless ignored."""
    record = redis_db.hgetall(f"sec:event:{answer['event_id']}")
    assert record, "acknowledged but not recorded"
    if answer["status"] == "ignored":
        assert record["state"] == "ignored", record
        return
    assert answer["status"] == "queued" and record["state"] == "received" and record["queued_at"], record
    assert queue_depth(redis_db, "pipeline") == 1 or record.get("waiting_for"), "acknowledged, not queued"


def has_epicor_receiver(client) -> bool:
    return any(rule.rule == "/webhooks/epicor" for rule in client.application.url_map.iter_rules())


@FUZZ_SETTINGS
@given(body=bodies(stripe_events), content_type=content_types, kind=signature_kinds, garbage=garbage_headers)
def test_stripe_receiver_never_fails_on_input(client, redis_db, body, content_type, kind, garbage):
    fuzz_one(client, redis_db, "stripe", body, content_type, kind, garbage)


@FUZZ_SETTINGS
@given(body=bodies(epicor_events), content_type=content_types, kind=signature_kinds, garbage=garbage_headers)
def test_epicor_receiver_never_fails_on_input(client, redis_db, body, content_type, kind, garbage):
    if not has_epicor_receiver(client):
        pytest.skip("no /webhooks/epicor receiver in this build")
    fuzz_one(client, redis_db, "epicor", body, content_type, kind, garbage)


# -- signed adversarial JSON ---------------------------------------------------------------------------
RAW = "@@raw:"  # a string that json.dumps writes as "@@raw:<text>", replaced by <text> itself afterwards
hostile_texts = st.one_of(
    st.text(any_character, max_size=40),
    st.sampled_from(["\ud800", "\udfff", "\udfff\ud800", "a\x00b", "\x00", "\x7f", "\x85", "\u2028", "\ufeff",
                     " ", "", "\U0010ffff", "evt_ok", "ch_ok", "pi_ok"]),
    st.integers(min_value=200, max_value=300_000).map(lambda size: "x" * size),
)
hostile_numbers = st.sampled_from(["1e400", "-1e400", "1E-400", "NaN", "Infinity", "-Infinity", "9" * 5000,
                                   "9" * 4000, "-0", "0.1e999999"]).map(lambda text: RAW + text)
hostile_values = hostile_texts | hostile_numbers | json_scalars | st.lists(hostile_texts, max_size=3) \
    | st.dictionaries(hostile_texts, hostile_texts, max_size=3)


def with_hostile_fields(valid: dict[str, Any], paths: list[str],
                        free_text: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid event with up to three of its fields (dotted paths) hostile and its free-text fields always
    so: many bodies are then accepted, with hostile text inside, and many refused for one field."""
    def build(changes: list[tuple[str, Any]], texts: dict[str, Any]) -> dict[str, Any]:
        event = json.loads(json.dumps(valid))
        for path, value in [*texts.items(), *changes]:
            *parents, name = path.split(".")
            target = event
            for parent in parents:
                target = target[parent]
            target[name] = value
        return event

    changes = st.lists(st.tuples(st.sampled_from(paths), hostile_values), max_size=3)
    return st.builds(build, changes, st.fixed_dictionaries(free_text))


STRIPE_VALID = {"id": "evt_1Adversarial", "object": "event", "type": "charge.succeeded", "api_version": "2024-06-20",
                "created": 1772625600, "livemode": False, "account": None,
                "data": {"object": {"id": "ch_1Adversarial", "object": "charge", "payment_intent": "pi_1Adversarial",
                                    "amount": 1000, "description": "", "metadata": {}}}}
stripe_adversarial = with_hostile_fields(
    STRIPE_VALID, ["id", "type", "api_version", "created", "livemode", "account", "data.object.id",
                   "data.object.object", "data.object.payment_intent", "data.object.amount"],
    {"data.object.description": hostile_values,
     "data.object.metadata": st.dictionaries(hostile_texts, hostile_values, max_size=3)})
EPICOR_VALID = {"id": "epicor-adversarial-1", "type": "Customer.Created", "company": "EPIC06",
                "key": {"CustNum": 214}, "occurred_at": "2026-03-04T10:00:00Z"}
epicor_adversarial = with_hostile_fields(EPICOR_VALID, ["id", "type", "company", "key.CustNum", "key.extra"],
                                         {"occurred_at": hostile_texts.filter(lambda text: len(text) <= 64),
                                          "note": hostile_values})


def adversarial_json(events: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Serialised as a sender's JSON library would (lone surrogates as "\\ud800" escapes), then raw
    numbers put in and, sometimes, a duplicate key put first."""
    def encode(event: dict[str, Any], duplicate: Any) -> bytes:
        text = json.dumps(event)
        while f'"{RAW}' in text:
            start = text.index(f'"{RAW}')
            end = text.index('"', start + 1)
            text = text[:start] + text[start + 1 + len(RAW):end] + text[end + 1:]
        if duplicate is not None:
            text = "{" + json.dumps(duplicate[0]) + ": " + json.dumps(duplicate[1]) + ", " + text[1:]
        return text.encode()

    duplicate = st.tuples(st.sampled_from(["id", "type", "data", "key"]), hostile_texts)
    duplicates = st.one_of(st.none(), st.none(), st.none(), duplicate)
    return st.builds(encode, events, duplicates)


@FUZZ_SETTINGS
@given(body=adversarial_json(stripe_adversarial))
def test_signed_adversarial_json_to_the_stripe_receiver_is_a_4xx_or_queued(client, redis_db, body):
    fuzz_one(client, redis_db, "stripe", body, "application/json", "valid", "")


@FUZZ_SETTINGS
@given(body=adversarial_json(epicor_adversarial))
def test_signed_adversarial_json_to_the_epicor_receiver_is_a_4xx_or_queued(client, redis_db, epicor_company, body):
    fuzz_one(client, redis_db, "epicor", body, "application/json", "valid", "")


@pytest.fixture()
def epicor_company(monkeypatch):
    """The company the adversarial Epicor events name, so that some of them are accepted."""
    from tasks.settings import get_settings

    monkeypatch.setenv("EPICOR_COMPANY", "EPIC06")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
def test_deeply_nested_signed_body_is_a_400_not_a_crash(client, redis_db, receiver):
    if receiver == "epicor" and not has_epicor_receiver(client):
        pytest.skip("no /webhooks/epicor receiver in this build")
    path, header, secret = RECEIVERS[receiver]
    body = deep(500_000)
    response = client.post(path, data=body, headers={header: sign_payload(body, [secret])},
                           content_type="application/json")
    assert response.status_code == 400
    assert redis_db.dbsize() == 0
