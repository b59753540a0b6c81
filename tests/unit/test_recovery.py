"""The stalled-event sweep: an event whose chain message the broker lost is queued again, once, from
the stage it reached; nothing finished, recent or waiting behind a backlog is touched."""

from __future__ import annotations

import fakeredis
import pytest

from tasks import recovery, store


@pytest.fixture()
def fake_redis(monkeypatch):
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)
    monkeypatch.setenv("STALL_SECONDS", "300")
    return client


@pytest.fixture()
def queued(monkeypatch):
    sent: list[tuple[str, str]] = []

    class Chain:
        def __init__(self, envelope, start):
            self.envelope, self.start = envelope, start

        def apply_async(self):
            sent.append((self.envelope["event_id"], self.start))

    import tasks.chains

    monkeypatch.setattr(tasks.chains, "build_chain", lambda envelope, start="fetch": Chain(envelope, start))
    return sent


@pytest.fixture()
def clock(monkeypatch):
    moment = {"now": 10_000.0}
    monkeypatch.setattr(store, "now", lambda: moment["now"])
    return moment


def receive(event_id: str) -> None:
    store.record_event({"id": event_id, "source": "stripe", "type": "charge.succeeded", "object_id": "ch_" + event_id,
                        "flow": "order_to_cash"})
    store.update_event(event_id, queued_at=store.now())


def test_an_event_received_but_never_started_is_queued_again_from_fetch(fake_redis, queued, clock):
    receive("evt_lost")
    clock["now"] += 301
    assert recovery.requeue_stalled() == ["evt_lost"]
    assert queued == [("evt_lost", "fetch")]
    assert recovery.requeue_stalled() == []  # the re-queue is progress: not again before another stall


def test_an_event_stopped_mid_chain_resumes_at_its_stage_with_the_stored_input(fake_redis, queued, clock):
    receive("evt_mid")
    store.update_event("evt_mid", state="processing", stage="post")
    store.put_stage_input("evt_mid", "post", {"documents": {}})
    receive("evt_noinput")
    store.update_event("evt_noinput", state="processing", stage="validate")
    clock["now"] += 301
    recovery.requeue_stalled()
    assert sorted(queued) == [("evt_mid", "post"), ("evt_noinput", "fetch")]


def test_recent_and_finished_events_are_left_alone(fake_redis, queued, clock):
    for event_id in ("evt_done", "evt_dead", "evt_ignored", "evt_recent"):
        receive(event_id)
    clock["now"] += 200
    store.update_event("evt_done", state="done")
    store.update_event("evt_dead", state="dead")
    store.update_event("evt_ignored", state="ignored")
    store.update_event("evt_recent", state="processing", stage="fetch")
    clock["now"] += 150
    assert recovery.requeue_stalled() == []
    assert queued == []


def test_nothing_is_requeued_while_the_queue_has_a_backlog(fake_redis, queued, clock):
    receive("evt_waiting")
    fake_redis.rpush("pipeline\x06\x169", "a queued fetch (priority 9)")
    clock["now"] += 301
    assert recovery.requeue_stalled() == []
    fake_redis.delete("pipeline\x06\x169")
    fake_redis.rpush("pipeline", "a queued post (priority 0)")
    assert recovery.requeue_stalled() == []
    fake_redis.delete("pipeline")
    assert recovery.requeue_stalled() == ["evt_waiting"]


def test_a_dead_lettered_event_replayed_from_the_cli_is_in_flight_again(fake_redis, queued, clock):
    receive("evt_replayed")
    store.update_event("evt_replayed", state="dead")
    clock["now"] += 301
    assert recovery.requeue_stalled() == []
    store.update_event("evt_replayed", state="received")
    clock["now"] += 301
    assert recovery.requeue_stalled() == ["evt_replayed"]


def test_default_stall_outlasts_redelivery_and_the_longest_retry_wait(monkeypatch):
    import celeryconfig

    monkeypatch.delenv("STALL_SECONDS", raising=False)
    assert recovery.stall_seconds() > celeryconfig.BROKER_VISIBILITY_TIMEOUT + celeryconfig.MAX_RETRY_COUNTDOWN


def test_a_broker_channel_closed_after_its_connection_is_released_is_a_connection_error():
    """The kombu 5.7 race that made a worker exit with "Unrecoverable error" when Redis restarted."""
    from types import SimpleNamespace

    import kombu
    import redis
    from kombu.common import ignore_errors
    from kombu.transport import redis as kombu_redis

    from tasks import patches

    assert patches.guard_closed_broker_channel()  # as the worker applies it at start (not on import)
    released = SimpleNamespace(connection=SimpleNamespace(client=None))
    with pytest.raises(redis.exceptions.ConnectionError):
        kombu_redis.Channel._connparams(released)
    ignore_errors(kombu.Connection("redis://127.0.0.1:1/0"), kombu_redis.Channel._connparams, released)  # no raise
