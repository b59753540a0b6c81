"""The dead-letter store: one record per failure, safe under concurrency, no secrets, a Flower marker."""

from __future__ import annotations

import json
import threading

import pytest

from tasks import dlq, store
from tasks.settings import get_settings


@pytest.fixture()
def markers(monkeypatch):
    """The ``dlq.recorded`` messages that would go to the broker."""
    sent: list[dict] = []
    monkeypatch.setattr(dlq.recorded, "apply_async", lambda **kwargs: sent.append(kwargs))
    return sent


EVENT = {"id": "evt_1", "type": "charge.succeeded", "source": "stripe", "object_id": "ch_1",
         "flow": "order_to_cash"}
ERROR = {"error_class": "ValidationFailed", "reason": "validation.unknown_part",
         "message": "PartNum 'NEWPART-9' is not in Epicor"}
STAGE_INPUT = {"documents": {"parts": ["NEWPART-9"], "lines": [], "amount": "45.00"}, "writeback": []}


def fail(event=EVENT, failure_id="task-1:validate", **overrides):
    arguments = {"event": event, "stage": "validate", "stage_input": STAGE_INPUT, "error": ERROR,
                 "attempts": 1, "failure_id": failure_id} | overrides
    return dlq.dead_letter(**arguments)


def test_record_holds_what_an_operator_needs_to_act_and_replay(fake_redis, markers):
    record = fail()
    assert record is not None
    assert {k: record[k] for k in ("id", "event_type", "object_id", "flow", "stage", "error_class", "reason",
                                   "message", "attempts", "failures")} == {
        "id": "evt_1", "event_type": "charge.succeeded", "object_id": "ch_1", "flow": "order_to_cash",
        "stage": "validate", "error_class": "ValidationFailed", "reason": "validation.unknown_part",
        "message": "PartNum 'NEWPART-9' is not in Epicor", "attempts": 1, "failures": 1}
    assert record["stage_input"] == STAGE_INPUT  # empty lists stay lists: the replay input is exact
    assert record["first_failed_at"] == record["last_failed_at"] > 0
    assert dlq.depth() == 1 and [r["id"] for r in dlq.list_records()] == ["evt_1"]


def test_same_failure_written_twice_counts_once(fake_redis, markers):
    """A worker killed after dead-lettering redelivers the task, which fails again with the same id."""
    assert fail() is not None
    assert fail() is None
    assert dlq.get("evt_1")["failures"] == 1
    assert len(markers) == 1


def test_a_second_failure_refreshes_the_record_and_keeps_the_first_time(fake_redis, markers, monkeypatch):
    monkeypatch.setattr(store, "now", lambda: 1000.0)
    fail(failure_id="task-1:validate")
    monkeypatch.setattr(store, "now", lambda: 2000.0)
    record = fail(failure_id="task-2:validate", attempts=3)
    assert (record["failures"], record["attempts"]) == (2, 3)
    assert (record["first_failed_at"], record["last_failed_at"]) == (1000.0, 2000.0)
    assert dlq.depth() == 1
    assert [m["kwargs"]["failures"] for m in markers] == [1, 2]


def test_concurrent_failures_of_one_event_make_one_record_and_count_each(fake_redis, markers):
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        barrier.wait()
        fail(failure_id=f"task-{n}:post")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dlq.depth() == 1
    assert dlq.get("evt_1")["failures"] == 16
    assert sorted(m["kwargs"]["failures"] for m in markers) == list(range(1, 17))


def test_records_list_oldest_first(fake_redis, markers, monkeypatch):
    for n, at in ((1, 300.0), (2, 100.0), (3, 200.0)):
        monkeypatch.setattr(store, "now", lambda at=at: at)
        fail(event={**EVENT, "id": f"evt_{n}"}, failure_id=f"t{n}")
    assert [r["id"] for r in dlq.list_records()] == ["evt_2", "evt_3", "evt_1"]


def test_no_configured_secret_is_ever_stored(fake_redis, markers, monkeypatch):
    monkeypatch.setenv("EPICOR_API_KEY", "epicor-api-key-123")
    monkeypatch.setenv("EPICOR_PASSWORD", "epicor-password-456")
    get_settings.cache_clear()
    try:
        secrets = get_settings().secrets
        assert len(secrets) >= 4
        leaky_error = {**ERROR, "message": f"Epicor echoed x-api-key={secrets[1]} and Basic {secrets[2]}"}
        leaky_input = {"charge": {"metadata": {"note": f"key {secrets[0]}"}, "description": secrets[-1]}}
        fail(error=leaky_error, stage_input=leaky_input)
        raw = json.dumps(fake_redis.hgetall(dlq.record_key("evt_1")))
        raw += json.dumps([m["args"] for m in markers])
        assert [s for s in secrets if s in raw] == []
        assert "[redacted]" in dlq.get("evt_1")["message"]
    finally:
        get_settings.cache_clear()


def test_marker_for_flower_carries_ids_reason_and_message_only(fake_redis, markers):
    fail()
    (marker,) = markers
    assert marker["queue"] == "dead_letter"
    assert marker["args"] == ("evt_1", "validation.unknown_part", "PartNum 'NEWPART-9' is not in Epicor")
    assert marker["kwargs"] == {"stage": "validate", "failures": 1}


def test_record_survives_when_the_marker_cannot_be_queued(fake_redis, monkeypatch):
    def broker_down(**_):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(dlq.recorded, "apply_async", broker_down)
    assert fail() is not None
    assert dlq.depth() == 1


def test_remove_with_a_stale_failure_keeps_the_newer_record(fake_redis, markers):
    first = fail(failure_id="task-1:validate")
    fail(failure_id="task-2:validate")
    assert dlq.remove("evt_1", failure_id=first["failure_id"]) is False
    assert dlq.depth() == 1
    assert dlq.remove("evt_1", failure_id="task-2:validate") is True
    assert dlq.depth() == 0 and dlq.get("evt_1") is None


def test_recorded_task_alerts_once_for_a_new_record_and_reports_depth(fake_redis, markers, monkeypatch):
    alerts: list[tuple] = []
    monkeypatch.setattr(dlq.alerts, "dead_letter_alert", lambda **kw: alerts.append(("new", kw["event_id"])))
    monkeypatch.setattr(dlq.alerts, "depth_alert", lambda depth: alerts.append(("depth", depth)))
    fail()
    fail(event={**EVENT, "id": "evt_2"}, failure_id="t2")
    result = dlq.recorded.run("evt_1", "validation.unknown_part", "PartNum …", stage="validate", failures=1)
    dlq.recorded.run("evt_1", "validation.unknown_part", "PartNum …", stage="validate", failures=2)
    assert result == {"dead_letter_depth": 2, "stage": "validate", "reason": "validation.unknown_part"}
    assert alerts == [("new", "evt_1"), ("depth", 2), ("depth", 2)]
