"""Three worker processes share one Epicor budget (issue 16, points 1, 2 and 5).

The stack of this module's own (a private Redis, the sandbox, the receiver) runs three real Celery
workers with ``EPICOR_MAX_CONCURRENCY=3`` between them. The sandbox's Epicor answers every call after
150 ms and counts the requests it serves at once (``/_sandbox/epicor/stats/in-flight``): with a
burst of payments, which keeps every worker busy, that count reaches the limit and never passes it.
Then a window of licence exhaustion (``license_limit``: a request arriving while more than one is in
flight is refused with the contract's licence error) halves the deployment's limit, visible in
``/metrics``; every event still ends done, none dead-lettered, and the limit climbs back to 3.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.stack import Stack, spawn, stop_signals_held
from tests.integration.conftest import Harness, own_stack

pytestmark = pytest.mark.integration

LIMIT = 3
ENV = {"EPICOR_MAX_CONCURRENCY": str(LIMIT), "EPICOR_LIMIT_COOLDOWN_SECONDS": "2",
       "EPICOR_LIMIT_RAISE_SECONDS": "1", "RETRY_BACKOFF_BASE": "1", "RETRY_BACKOFF_MAX": "4"}
GAUGE = re.compile(r"^stripe_epicor_epicor_concurrency_limit\{pair=\"default\"\} (\S+)$", re.M)


def start_worker(stack: Stack, name: str) -> None:
    """Another worker process on the same Redis, named apart, writing its metrics beside the first's."""
    command = [part if not part.startswith("worker-") else f"{name}-{stack.ports.web}@%h"
               for part in stack.commands()["worker"]]
    with open(stack.log_dir / f"{name}.log", "ab") as log_file, stop_signals_held():
        stack.processes[name] = spawn(command, env=stack.process_env("worker"), cwd=Path(__file__).parents[2],
                                      stdout=log_file, stderr=log_file)


def ready(stack: Stack, name: str) -> bool:
    log = stack.log_dir / f"{name}.log"
    return log.exists() and b" ready." in log.read_bytes()


def payments(harness: Harness, count: int, tag: str) -> list[dict[str, Any]]:
    return [harness.create_payment(amount=2500 + n, currency="usd", customer={
        "name": f"Budget {tag} {n}", "email": f"budget-{tag}-{n}@example.com",
        "address": {"line1": "1 Main St", "city": "Austin", "state": "TX", "postal_code": "78701",
                    "country": "US"}}) for n in range(count)]


def deliver_all(harness: Harness, made: list[dict[str, Any]]) -> list[str]:
    events = [event for payment in made for event in payment["events"]]
    assert all(harness.deliver(event).status_code == 200 for event in events)
    return [event["id"] for event in events]


def in_flight(harness: Harness) -> dict[str, int]:
    return harness.http.get(f"{harness.stack.sandbox_url}/_sandbox/epicor/stats/in-flight", timeout=5).json()


def gauge(harness: Harness) -> float | None:
    text = harness.http.get(f"{harness.stack.web_url}/metrics", timeout=5).text
    found = GAUGE.search(text)
    return float(found.group(1)) if found else None


def watch_gauge(harness: Harness, event_ids: list[str], timeout: float) -> list[float]:
    """The gauge every few tenths of a second until every event is finished."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = gauge(harness)
        if value is not None:
            seen.append(value)
        if all(harness.event(event_id).get("state") in ("done", "dead", "ignored") for event_id in event_ids):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"events unfinished after {timeout:.0f} s")


@pytest.fixture(scope="module")
def three_workers(tmp_path_factory: pytest.TempPathFactory):
    with own_stack(tmp_path_factory.mktemp("budget"), extra_env=ENV) as stack:
        for name in ("worker2", "worker3"):
            start_worker(stack, name)
        deadline = time.monotonic() + 90
        while not all(ready(stack, name) for name in ("worker2", "worker3")):
            assert time.monotonic() < deadline, "extra workers did not start"
            time.sleep(0.2)
        yield stack


def test_three_workers_never_have_more_than_the_limit_in_flight(three_workers):
    harness = Harness(three_workers)
    harness.epicor_faults(latency_ms=150)
    made = payments(harness, 12, "steady")
    harness.http.post(f"{three_workers.sandbox_url}/_sandbox/epicor/stats/reset", timeout=5)
    records = harness.wait(*deliver_all(harness, made), timeout=180)
    assert {record["state"] for record in records} == {"done"}
    peak = in_flight(harness)["max_in_flight"]
    assert peak == LIMIT  # busy enough to use the whole deployment's limit, never more
    workers_used = [name for name in ("worker", "worker2", "worker3")
                    if b"pipeline.post" in (three_workers.log_dir / f"{name}.log").read_bytes()]
    assert len(workers_used) == 3  # the load really was spread over three processes
    assert gauge(harness) == LIMIT


def test_a_licence_burst_lowers_the_limit_then_it_recovers_with_no_dead_letter(three_workers):
    harness = Harness(three_workers)
    store = redis.Redis.from_url(three_workers.redis_url or "", decode_responses=True)
    dead_before = store.zcard("sec:dlq:index")
    made = payments(harness, 9, "burst")
    harness.http.post(f"{three_workers.sandbox_url}/_sandbox/epicor/stats/reset", timeout=5)
    harness.epicor_faults(latency_ms=150, license_limit=1, license_limit_seconds=8)
    event_ids = deliver_all(harness, made)
    seen = watch_gauge(harness, event_ids, timeout=240)
    records = [harness.event(event_id) for event_id in event_ids]
    assert {record["state"] for record in records} == {"done"}
    assert store.zcard("sec:dlq:index") == dead_before
    assert min(seen) < LIMIT  # lowered while Epicor refused for licences
    assert in_flight(harness)["max_in_flight"] <= LIMIT
    deadline = time.monotonic() + 30
    while gauge(harness) != LIMIT:  # one more permit per quiet second, back to EPICOR_MAX_CONCURRENCY
        assert time.monotonic() < deadline, f"limit stayed at {gauge(harness)}"
        time.sleep(0.5)
    assert store.hget("sec:budget:epicor:limit", "current") == str(LIMIT)
