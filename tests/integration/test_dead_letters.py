"""A payment that cannot be posted is dead-lettered with a reason an accountant can act on, and
`celery -A tasks dlq retry` completes it once the cause is fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_order_to_cash import CUSTOMER, assert_one_set, documents_for, post_all_events

pytestmark = pytest.mark.integration
CELERY = str(Path(sys.executable).parent / "celery")


def dlq(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CELERY, "-A", "tasks", "dlq", *args], env=stack.env(), capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])


def test_unknown_part_is_dead_lettered_then_retried_after_the_part_is_added(harness, stack):
    payment = harness.create_payment(amount=4500, currency="usd", customer={**CUSTOMER, "email": "dlq@acme.example"},
                                     metadata={"epicor_part_num": "NEWPART-9"})
    records = post_all_events(harness, payment)
    assert {r["state"] for r in records} == {"dead"}
    assert "NEWPART-9" in records[0]["last_error"]["message"]
    assert documents_for(harness.epicor(), payment)["orders"] == []

    listed = dlq(stack, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = {r["id"]: r for r in json.loads(listed.stdout)}
    event_ids = [e["id"] for e in payment["events"]]
    assert set(event_ids) <= set(entries)
    entry = entries[event_ids[0]]
    assert entry["stage"] == "validate" and entry["reason"] == "reference.missing_part"
    assert "NEWPART-9" in entry["message"] and "stage_input" in entry

    added = harness.http.post(f"{stack.sandbox_url}/_sandbox/epicor/parts", timeout=5, json={
        "PartNum": "NEWPART-9", "PartDescription": "New part", "UnitPrice": 45.0, "IUM": "EA", "SalesUM": "EA"})
    assert added.status_code < 300
    for event_id in event_ids:
        retried = dlq(stack, "retry", event_id)
        assert retried.returncode == 0, retried.stderr
    assert {r["state"] for r in harness.wait(*event_ids)} == {"done"}
    assert_one_set(documents_for(harness.epicor(), payment), "45.00", "USD")
    remaining = {r["id"] for r in json.loads(dlq(stack, "list", "--json").stdout)}
    assert not set(event_ids) & remaining
