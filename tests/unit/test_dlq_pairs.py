"""Dead letters of integration pairs: the pair on every record, ``dlq list/retry --all --pair``."""

from __future__ import annotations

import json

from tasks import dlq, store
from tests.unit.test_dlq_cli import queued, run  # noqa: F401 - queued: the fixture


def dead_of(pair: str, event_id: str) -> None:
    event = {"id": event_id, "type": "charge.succeeded", "source": "stripe", "object_id": "ch_1",
             "flow": "order_to_cash", **({"pair": pair} if pair != "default" else {})}
    store.record_event(event)
    dlq.dead_letter(event=event, stage="post", stage_input={"documents": {}}, attempts=1,
                    error={"error_class": "EpicorError", "reason": "epicor.business_rule", "message": "held"},
                    failure_id=f"task-{event_id}:post")


def test_each_record_names_its_pair_and_list_filters_by_it(fake_redis):
    dead_of("default", "evt_a")
    dead_of("emea", "emea:evt_b")
    assert [r["pair"] for r in json.loads(run("list", "--json").output)] == ["default", "emea"]
    assert [r["id"] for r in json.loads(run("list", "--json", "--pair", "emea").output)] == ["emea:evt_b"]
    assert [r["id"] for r in json.loads(run("list", "--json", "--pair", "default").output)] == ["evt_a"]
    assert "pair             emea" in run("show", "emea:evt_b").output


def test_retry_all_of_one_pair_requeues_only_its_events_with_their_pair(fake_redis, queued):  # noqa: F811
    dead_of("default", "evt_a")
    dead_of("emea", "emea:evt_b")
    result = run("retry", "--all", "--pair", "emea")
    assert result.exit_code == 0, result.output
    assert [(sent["envelope"]["event_id"], sent["envelope"].get("pair")) for sent in queued] == [("emea:evt_b", "emea")]
    assert dlq.get("evt_a") is not None
    assert run("retry", "evt_a", "--pair", "emea").exit_code == 2  # --pair goes with --all
