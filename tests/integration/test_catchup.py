"""Catch-up end to end: events Stripe has but the receiver never got are listed, queued and posted once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from sandbox.stack import ROOT
from tests.integration.test_order_to_cash import assert_one_set, documents_for
from tests.integration.test_subscriptions import customer

pytestmark = pytest.mark.integration


def run_catchup(stack, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tasks.catchup", "--json", *args], cwd=ROOT, env=stack.env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def mark_delivered(harness, keep: set[str]) -> None:
    """Stripe delivered every other event of the shared sandbox account (earlier tests)."""
    for event in harness.stripe_dump()["event"]:
        if event["id"] not in keep:
            harness.http.post(f"{harness.stack.sandbox_url}/_sandbox/stripe/events/{event['id']}/deliveries",
                              json={"url": "elsewhere", "status": 200}, timeout=5)


def test_missed_events_are_queued_once_and_posted(harness, stack):
    since = int(time.time()) - 1
    missed = harness.create_payment(amount=4200, currency="usd", customer=customer("catchup"))
    live = missed["events"][0]
    assert harness.deliver(live).status_code == 200  # one of the three got through before the outage
    harness.wait(live["id"])
    mark_delivered(harness, {event["id"] for event in missed["events"]})

    first = run_catchup(stack, "--since", str(since))
    expected = {event["id"] for event in missed["events"][1:]}
    assert set(first["queued_ids"]) == expected
    assert first["already_received"] >= 1
    records = harness.wait(*expected)
    assert {record["state"] for record in records} == {"done"}
    assert_one_set(documents_for(harness.epicor(), missed), "42.00", "USD")

    second = run_catchup(stack, "--since", str(since))
    assert second["queued"] == 0
    late = harness.deliver(missed["events"][1]).json()  # Stripe's own retry arrives after the catch-up
    assert late["status"] == "duplicate"
    assert_one_set(documents_for(harness.epicor(), missed), "42.00", "USD")


def test_an_old_undelivered_event_outside_the_window_since_the_mark_is_found(harness, stack):
    old = harness.create_payment(amount=1300, currency="usd", customer=customer("undelivered"))
    mark_delivered(harness, {event["id"] for event in old["events"]})
    time.sleep(1.1)
    summary = run_catchup(stack, "--since", str(int(time.time())))  # the first pass lists nothing of it
    assert set(summary["queued_ids"]) == {event["id"] for event in old["events"]}
    harness.wait(*summary["queued_ids"])
    assert_one_set(documents_for(harness.epicor(), old), "13.00", "USD")


def test_dry_run_queues_nothing(harness, stack):
    since = int(time.time()) - 1
    payment = harness.create_payment(amount=900, currency="usd", customer=customer("dryrun"))
    mark_delivered(harness, {event["id"] for event in payment["events"]})
    summary = run_catchup(stack, "--since", str(since), "--dry-run")
    assert set(summary["queued_ids"]) == {event["id"] for event in payment["events"]}
    assert harness.event(payment["events"][0]["id"]).get("error")  # 404: never received
