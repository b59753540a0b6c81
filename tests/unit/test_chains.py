"""The chain of one event: its stages in order, each at the broker priority of its stage."""

from __future__ import annotations

from tasks.broker import queue_keys
from tasks.chains import STAGE_PRIORITY, build_chain

ENVELOPE = {"event_id": "evt_1", "source": "stripe", "type": "charge.succeeded", "flow": "order_to_cash",
            "object_id": "ch_1"}


def names_and_priorities(signature):
    rest = [(step["task"], step["options"]["priority"]) for step in reversed(signature.options["chain"])]
    return [(signature.task, signature.options["priority"]), *rest]


def test_later_stages_go_before_earlier_ones():
    assert names_and_priorities(build_chain(ENVELOPE)) == [
        ("pipeline.fetch", 9), ("pipeline.transform", 6), ("pipeline.validate", 3), ("pipeline.post", 0),
        ("pipeline.status_update", 0)]
    assert build_chain(ENVELOPE).args == (ENVELOPE,)


def test_a_replay_from_a_later_stage_keeps_that_stage_s_priority():
    assert names_and_priorities(build_chain(ENVELOPE, start="post")) == [
        ("pipeline.post", 0), ("pipeline.status_update", 0)]


def test_every_priority_has_a_list_of_its_own_in_the_queue():
    assert queue_keys("pipeline") == ["pipeline", "pipeline\x06\x163", "pipeline\x06\x166", "pipeline\x06\x169"]
    assert set(STAGE_PRIORITY.values()) <= {0, 3, 6, 9}
