"""The connectors' liveness notes: at most one Redis write per few seconds, never an error for the call."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from tasks import liveness, store


@pytest.fixture()
def fake(monkeypatch):
    server = fakeredis.FakeRedis(decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: server)
    liveness.forget()
    yield server
    liveness.forget()


def test_many_calls_write_once_per_interval(fake, monkeypatch):
    writes = []
    original = fake.hset
    monkeypatch.setattr(fake, "hset", lambda *a, **k: writes.append(a) or original(*a, **k))
    for _ in range(100):
        liveness.note_success("epicor")
    assert len(writes) == 1
    assert liveness.read()["epicor"]["last_success"] > 0


def test_success_and_unreachable_are_noted_apart(fake):
    liveness.note_success("stripe")
    liveness.note_unreachable("stripe", "APIConnectionError")
    seen = liveness.read()["stripe"]
    assert seen["last_unreachable"] >= seen["last_success"] and seen["reason"] == "APIConnectionError"
    assert liveness.read()["epicor"] == {}


def test_redis_away_never_breaks_the_call(monkeypatch):
    def away():
        raise redis.exceptions.ConnectionError("down")

    monkeypatch.setattr(store, "client", away)
    liveness.forget()
    liveness.note_success("epicor")  # no exception
    liveness.note_periodic_run("catchup.run")
