"""``celery -A tasks dlq …`` as an operator uses it: readable table, JSON, replay and purge rules."""

from __future__ import annotations

import json

import fakeredis
import pytest
from click.testing import CliRunner

from tasks import dlq, dlq_cli, store


@pytest.fixture()
def fake_redis(monkeypatch):
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)
    monkeypatch.setattr(dlq.recorded, "apply_async", lambda **_: None)
    return client


class FakeChain:
    """Stands in for the Celery chain at the broker boundary; checks the record still exists when queued."""

    def __init__(self, queued: list, fail: bool = False):
        self.queued, self.fail = queued, fail

    def __call__(self, envelope, start="fetch"):
        self.envelope, self.start = envelope, start
        return self

    def apply_async(self):
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.queued.append({"envelope": self.envelope, "start": self.start,
                            "record_still_there": dlq.get(self.envelope["event_id"]) is not None})


@pytest.fixture()
def queued(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr(dlq_cli, "build_chain", FakeChain(sent))
    return sent


def dead(event_id: str, stage: str = "post", reason: str = "epicor.business_rule",
         message: str = "Customer 999 is on credit hold.") -> None:
    store.record_event({"id": event_id, "type": "charge.succeeded", "source": "stripe", "object_id": "ch_" + event_id,
                        "flow": "order_to_cash"})
    store.update_event(event_id, state="dead", stage=stage)
    dlq.dead_letter(event={"id": event_id, "type": "charge.succeeded", "source": "stripe",
                           "object_id": "ch_" + event_id, "flow": "order_to_cash"},
                    stage=stage, stage_input={"documents": {"lines": []}, "writeback": []},
                    error={"error_class": "EpicorError", "reason": reason, "message": message},
                    attempts=1, failure_id=f"task-{event_id}:{stage}")


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(dlq_cli.dlq, list(args), input=input)


def test_list_is_a_readable_table_with_reason_and_message(fake_redis):
    dead("evt_a", stage="validate", reason="validation.unknown_part", message="PartNum 'X-1' is not in Epicor")
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "1 dead-letter record(s), oldest first:"
    assert lines[2].split()[:4] == ["EVENT", "TYPE", "STAGE", "REASON"]
    assert lines[3].split()[:4] == ["evt_a", "charge.succeeded", "validate", "validation.unknown_part"]
    assert "PartNum 'X-1' is not in Epicor" in lines[4]


def test_empty_queue_says_so(fake_redis):
    assert run("list").output.strip() == "The dead-letter queue is empty."
    assert json.loads(run("list", "--json").output) == []


def test_list_and_show_as_json(fake_redis):
    dead("evt_a")
    dead("evt_b")
    listed = json.loads(run("list", "--json").output)
    assert [r["id"] for r in listed] == ["evt_a", "evt_b"]
    shown = json.loads(run("show", "evt_b", "--json").output)
    assert shown["message"] == "Customer 999 is on credit hold." and shown["stage_input"]["documents"] == {"lines": []}


def test_show_unknown_record_fails(fake_redis):
    result = run("show", "evt_nope")
    assert result.exit_code == 1 and "No dead-letter record for evt_nope" in result.output


def test_retry_requeues_from_the_failed_stage_and_removes_the_record_only_after(fake_redis, queued):
    dead("evt_a", stage="post")
    result = run("retry", "evt_a")
    assert result.exit_code == 0, result.output
    assert queued == [{"envelope": {"source": "stripe", "type": "charge.succeeded", "flow": "order_to_cash",
                                    "object_id": "ch_evt_a", "event_id": "evt_a"},
                       "start": "post", "record_still_there": True}]
    assert dlq.get("evt_a") is None
    assert store.get_stage_input("evt_a", "post") == {"documents": {"lines": []}, "writeback": []}
    assert store.get_event("evt_a")["state"] == "received"


def test_retry_that_cannot_be_queued_keeps_the_record(fake_redis, monkeypatch):
    dead("evt_a")
    monkeypatch.setattr(dlq_cli, "build_chain", FakeChain([], fail=True))
    result = run("retry", "evt_a")
    assert result.exit_code == 1
    assert dlq.get("evt_a") is not None


def test_retry_all_as_json(fake_redis, queued):
    for event_id in ("evt_a", "evt_b", "evt_c"):
        dead(event_id)
    result = run("retry", "--all", "--json")
    assert json.loads(result.output) == {"retried": ["evt_a", "evt_b", "evt_c"], "failed": []}
    assert dlq.depth() == 0 and len(queued) == 3


def test_retry_needs_exactly_one_of_id_or_all(fake_redis):
    assert run("retry").exit_code == 2
    assert run("retry", "evt_a", "--all").exit_code == 2


def test_purge_asks_first_and_keeps_everything_when_declined(fake_redis):
    dead("evt_a")
    dead("evt_b")
    declined = run("purge", input="n\n")
    assert "Delete 2 dead-letter record(s)?" in declined.output
    assert declined.exit_code == 1 and dlq.depth() == 2
    accepted = run("purge", input="y\n")
    assert accepted.exit_code == 0 and "Deleted 2 record(s)." in accepted.output
    assert dlq.depth() == 0


def test_purge_yes_does_not_ask(fake_redis):
    dead("evt_a")
    result = run("purge", "--yes", "--json")
    assert json.loads(result.output) == {"purged": 1}
    assert dlq.depth() == 0


@pytest.mark.parametrize(("stage", "reason"), [("validate", "validation.too_long"),
                                               ("post", "reference.missing_part"),
                                               ("post", "mapping.invalid")])
def test_a_failure_a_mapping_fixes_is_retried_from_fetch_so_its_documents_are_built_again(
        fake_redis, queued, stage, reason):
    dead("evt_a", stage=stage, reason=reason)
    assert run("retry", "evt_a").exit_code == 0
    assert [entry["start"] for entry in queued] == ["fetch"]
    assert dlq.get("evt_a") is None


def test_an_epicor_outage_is_retried_from_the_stage_that_failed_with_its_documents(fake_redis, queued):
    dead("evt_a", stage="post", reason="epicor.unavailable.retries_exhausted")
    assert run("retry", "evt_a").exit_code == 0
    assert [entry["start"] for entry in queued] == ["post"]
