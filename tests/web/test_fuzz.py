"""Fuzzing both receivers: whatever arrives, the answer is never a 5xx, and invalid input stores nothing.

Requests are drawn by hypothesis from what a hostile or broken sender can vary: the content type, the
signature header (missing, garbage, forged with another secret, stale, valid) and the body (random
bytes, arbitrary JSON, event-shaped JSON with missing or mistyped fields, deep nesting). For every
answer other than 200 the Redis database must still be empty: no event record, no queued message.
``FUZZ_EXAMPLES`` raises the number of requests per receiver (default 400).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.signing import sign_payload

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
                                   "future", "v0_only", "empty"])
garbage_headers = st.text(max_size=200).map(lambda text: text.encode("latin-1", "replace").decode("latin-1"))


def signature(kind: str, body: bytes, secret: str, garbage: str) -> str | None:
    now = int(time.time())
    return {
        "valid": lambda: sign_payload(body, [secret]),
        "missing": lambda: None,
        "garbage": lambda: garbage.replace("\r", "").replace("\n", ""),
        "forged": lambda: sign_payload(body, ["whsec_not_the_secret"]),
        "stale": lambda: sign_payload(body, [secret], timestamp=now - 301),
        "future": lambda: sign_payload(body, [secret], timestamp=now + 10_000),
        "v0_only": lambda: f"t={now},v0=" + "0" * 64,
        "empty": lambda: "",
    }[kind]()


def fuzz_one(client, redis_db, receiver: str, body: bytes, content_type: str, kind: str, garbage: str) -> None:
    path, header, secret = RECEIVERS[receiver]
    redis_db.flushdb()
    value = signature(kind, body, secret, garbage)
    headers = {header: value} if value is not None else {}
    response = client.post(path, data=body, headers=headers, content_type=content_type)
    assert response.status_code < 500, (response.status_code, response.data[:200], body[:200], kind)
    assert response.status_code in (200, 400, 413, 415), response.status_code
    assert response.is_json and "error" in response.get_json() or response.status_code == 200
    if response.status_code != 200:
        assert redis_db.dbsize() == 0, f"invalid input stored something: {redis_db.keys('*')[:5]}"
    else:
        assert kind == "valid", "only a validly signed request may be accepted"


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
