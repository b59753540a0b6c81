"""Events of one payment run one after the other: the first is queued as the payment's lead, the
others wait behind it and are settled when it finishes (``tasks.followers``)."""

from __future__ import annotations

import pytest

import tasks.chains
from tasks import api, followers, recovery, store
from tasks.flows import order_to_cash

CHARGE = {"object": "charge", "id": "ch_1", "payment_intent": "pi_1"}
INTENT = {"object": "payment_intent", "id": "pi_1"}


class Sent(list):
    refuse = False


@pytest.fixture()
def published(monkeypatch):
    """Chains sent to the broker, as (event id, first stage); ``refuse`` makes the broker refuse them."""
    sent = Sent()

    class Chain:
        def __init__(self, envelope, start="fetch"):
            self.envelope, self.start = envelope, start

        def apply_async(self):
            if sent.refuse:
                raise ConnectionError("broker unreachable")
            sent.append((self.envelope["event_id"], self.start))

    monkeypatch.setattr(tasks.chains, "build_chain", Chain)
    monkeypatch.setattr(api, "build_chain", Chain)
    return sent


def event(event_id: str, event_type: str, obj: dict) -> dict:
    return {"id": event_id, "source": "stripe", "type": event_type, "object_id": obj["id"],
            "payment": api.payment_hint(obj)}


def deliver(event_id: str, event_type: str = "charge.succeeded", obj: dict = CHARGE) -> api.Receipt:
    return api.receive(event(event_id, event_type, obj))


def post_payment(payment_key: str = "pi_1", *object_ids: str) -> None:
    """What the lead's ``post`` leaves behind: the payment's ids and its complete journal."""
    store.journal_set(payment_key, CustNum=7, OrderNum=5001, InvoiceNum=37, CashGroupID="STRIPE01", HeadNum=3)
    store.complete_payment(payment_key, payment_key, *object_ids)


def finish(event_id: str, state: str) -> None:
    store.update_event(event_id, state=state)
    followers.release(store.get_event(event_id) or {}, posted=state == "done")


@pytest.mark.parametrize(("obj", "expected"), [
    (CHARGE, "pi_1"),
    ({"object": "charge", "id": "ch_2", "payment_intent": None}, "ch_2"),
    ({"object": "charge", "id": "ch_3", "payment_intent": {"id": "pi_3", "object": "payment_intent"}}, "pi_3"),
    (INTENT, "pi_1"),
    ({"object": "checkout.session", "id": "cs_1", "payment_intent": "pi_1"}, "pi_1"),
    ({"object": "checkout.session", "id": "cs_2", "payment_intent": None}, None),
    ({"object": "refund", "id": "re_1", "payment_intent": "pi_1"}, None),
    ({"object": "charge", "id": "ch_4", "payment_intent": 12}, None),  # malformed: grouped with nothing
])
def test_the_payment_an_event_belongs_to_is_read_from_its_payload(obj, expected):
    assert api.payment_hint(obj) == expected


def test_the_first_event_of_a_payment_is_queued_and_the_next_waits_behind_it(fake_redis, published):
    assert deliver("evt_charge").status == "queued"
    assert deliver("evt_intent", "payment_intent.succeeded", INTENT).status == "queued"
    assert published == [("evt_charge", "fetch")]
    waiting = store.get_event("evt_intent")
    assert waiting["state"] == "received" and waiting["waiting_for"] == "evt_charge" and waiting["queued_at"]
    assert deliver("evt_intent", "payment_intent.succeeded", INTENT).status == "duplicate"
    assert published == [("evt_charge", "fetch")]


def test_events_of_other_payments_and_other_flows_do_not_wait(fake_redis, published):
    deliver("evt_a")
    deliver("evt_b", obj={"object": "charge", "id": "ch_9", "payment_intent": "pi_9"})
    api.receive(event("evt_refund", "charge.refunded", CHARGE))
    assert [event_id for event_id, _ in published] == ["evt_a", "evt_b", "evt_refund"]


def test_when_the_lead_is_done_a_follower_of_the_posted_payment_is_done_with_its_keys(fake_redis, published):
    deliver("evt_charge")
    deliver("evt_intent", "payment_intent.succeeded", INTENT)
    post_payment("pi_1", "ch_1")
    finish("evt_charge", "done")
    record = store.get_event("evt_intent")
    assert record["state"] == "done" and record["epicor_keys"]["OrderNum"] == 5001
    assert "evt_charge" in record["reason"] and record["finished_at"]
    assert published == [("evt_charge", "fetch")]
    assert "evt_intent" not in fake_redis.zrange(store.INFLIGHT_KEY, 0, -1)


def test_a_follower_whose_object_the_lead_did_not_post_runs_its_own_chain(fake_redis, published):
    deliver("evt_charge")
    deliver("evt_session", "checkout.session.completed", {"object": "checkout.session", "id": "cs_1",
                                                          "payment_intent": "pi_1"})
    post_payment("pi_1", "ch_1")  # the session's id was not remembered with the payment
    finish("evt_charge", "done")
    assert published == [("evt_charge", "fetch"), ("evt_session", "fetch")]
    assert store.get_event("evt_session")["state"] == "received"


@pytest.mark.parametrize("state", ["ignored", "dead"])
def test_followers_of_a_skipped_or_dead_lead_run_their_own_chain(fake_redis, published, state):
    deliver("evt_charge")
    deliver("evt_intent", "payment_intent.succeeded", INTENT)
    post_payment("pi_1", "ch_1")
    finish("evt_charge", state)
    assert published == [("evt_charge", "fetch"), ("evt_intent", "fetch")]


def test_a_new_event_of_a_payment_whose_lead_finished_is_a_lead_itself(fake_redis, published):
    deliver("evt_charge")
    finish("evt_charge", "ignored")  # e.g. not captured yet
    assert deliver("evt_captured", "charge.captured").status == "queued"
    assert published == [("evt_charge", "fetch"), ("evt_captured", "fetch")]
    assert not store.get_event("evt_captured").get("waiting_for")


def test_a_stale_lead_that_is_no_longer_in_flight_is_not_waited_for(fake_redis, published):
    deliver("evt_charge")
    store.update_event("evt_charge", state="dead")  # its release never ran (worker killed)
    deliver("evt_intent", "payment_intent.succeeded", INTENT)
    assert published == [("evt_charge", "fetch"), ("evt_intent", "fetch")]


def test_a_follower_already_taken_up_by_the_stall_sweep_is_not_queued_again(fake_redis, published, monkeypatch):
    deliver("evt_charge")
    deliver("evt_intent", "payment_intent.succeeded", INTENT)
    monkeypatch.setattr(store, "now", lambda: 10_000_000_000.0)
    monkeypatch.setattr(recovery, "stall_seconds", lambda: 1)
    assert recovery.requeue_stalled() == ["evt_charge", "evt_intent"]
    store.update_event("evt_intent", state="processing", stage="fetch")
    finish("evt_charge", "dead")
    assert published.count(("evt_intent", "fetch")) == 1


def test_a_failed_enqueue_of_a_lead_is_undone_so_its_redelivery_queues_it(fake_redis, published):
    published.refuse = True
    with pytest.raises(api.QueueUnavailable):
        deliver("evt_charge")
    assert not store.get_event("evt_charge").get("queued_at")
    published.refuse = False
    assert deliver("evt_charge").status == "queued"
    assert published == [("evt_charge", "fetch")] and store.get_event("evt_charge")["queued_at"]


def test_settled_names_the_keys_only_once_the_payment_is_complete(fake_redis):
    store.journal_set("pi_1", CustNum=7, OrderNum=5001)
    store.client().set("sec:payment-of:ch_1", "pi_1")
    assert order_to_cash.settled("ch_1") is None
    post_payment("pi_1", "ch_1")
    assert order_to_cash.settled("ch_1")["InvoiceNum"] == 37
    assert order_to_cash.settled("ch_unknown") is None
