"""The operator's view in Flower: behind basic auth, and showing the dead-letter queue while workers run.

Flower's Broker page lists only queues that some worker consumes, so every worker consumes a
``dead_letter`` queue (``celeryconfig.task_queues``) and each dead letter sends one ``dlq.recorded``
task to it, named and argued so that Flower's task list reads "event, stage, reason, message".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.stack import free_port
from tests.integration.test_order_to_cash import CUSTOMER, post_all_events

pytestmark = pytest.mark.integration
PAGES = ("/", "/tasks", "/broker", "/workers", "/api/tasks", "/api/queues/length", "/api/workers")


def flower_auth(stack) -> tuple[str, str]:
    user, _, password = stack.env()["FLOWER_BASIC_AUTH"].split(",")[0].partition(":")
    return user, password


def flower_get(stack, path: str, **params: Any) -> requests.Response:
    return requests.get(stack.flower_url + path, params=params, auth=flower_auth(stack), timeout=10)


def eventually(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dead_payment(harness):
    """One payment whose part does not exist: each of its events is dead-lettered at validate."""
    payment = harness.create_payment(amount=3300, currency="usd", customer={**CUSTOMER, "email": "flower@acme.example"},
                                     metadata={"epicor_part_num": "FLOWER-NOPART"})
    records = post_all_events(harness, payment)
    assert {r["state"] for r in records} == {"dead"}
    return payment


def test_flower_refuses_every_page_without_the_password(stack):
    for path in PAGES:
        assert requests.get(stack.flower_url + path, timeout=10).status_code == 401, path
        wrong = requests.get(stack.flower_url + path, auth=(flower_auth(stack)[0], "wrong"), timeout=10)
        assert wrong.status_code == 401, path
    assert flower_get(stack, "/api/workers").status_code == 200


def test_flower_will_not_start_without_basic_auth(stack):
    env = {name: value for name, value in stack.env().items() if not name.startswith("FLOWER_")}
    celery = str(Path(sys.executable).parent / "celery")
    started = subprocess.run([celery, "-A", "tasks", "flower", "--address=127.0.0.1", f"--port={free_port()}"],
                             env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                             timeout=60)
    assert started.returncode != 0
    assert "FLOWER_BASIC_AUTH is not set" in started.stderr + started.stdout


def test_each_dead_letter_is_a_named_task_with_its_reason_in_flower(stack, dead_payment):
    event_ids = {event["id"] for event in dead_payment["events"]}

    def markers() -> dict[str, dict]:
        tasks = flower_get(stack, "/api/tasks", taskname="dlq.recorded").json().values()
        found = {eid: task for task in tasks for eid in event_ids if eid in str(task.get("args"))}
        return found if set(found) == event_ids and all(t["state"] == "SUCCESS" for t in found.values()) else {}

    found = eventually(markers)
    assert set(found) == event_ids, "Flower never showed a dlq.recorded task per dead-lettered event"
    for task in found.values():
        assert "reference.missing_part" in task["args"] and "FLOWER-NOPART" in task["args"]
        assert "'validate'" in task["kwargs"]
        assert "dead_letter_depth" in task["result"]
        assert task["routing_key"] == "dead_letter"


def test_the_failed_stage_task_shows_its_reason_in_flower(stack, dead_payment):
    event_ids = {event["id"] for event in dead_payment["events"]}

    def failures() -> list[dict]:
        tasks = flower_get(stack, "/api/tasks", taskname="pipeline.validate", state="FAILURE").json().values()
        mine = [t for t in tasks if any(eid in str(t.get("args")) for eid in event_ids)]
        return mine if len(mine) == len(event_ids) else []

    failed = eventually(failures)
    assert failed and all("reference.missing_part" in t["exception"] for t in failed)


def test_broker_page_lists_the_dead_letter_queue(stack, dead_payment):
    def queue_names() -> set[str]:
        queues = flower_get(stack, "/api/queues/length").json().get("active_queues", [])
        names = {queue["name"] for queue in queues}
        return names if "dead_letter" in names else set()

    assert {"pipeline", "dead_letter"} <= eventually(queue_names)
    page = flower_get(stack, "/broker")
    assert page.status_code == 200 and "dead_letter" in page.text


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_an_operator_sees_the_dead_letters_on_flowers_task_page(stack, dead_payment):
    """Headless Chromium renders Flower's task page as a person sees it; a screenshot is kept in the logs."""
    user, password = flower_auth(stack)
    event_id = dead_payment["events"][0]["id"]
    url = f"http://{user}:{password}@127.0.0.1:{stack.ports.flower}/tasks"
    screenshot = Path(stack.log_dir) / "flower-dead-letters.png"
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--window-size=1600,1000", "--virtual-time-budget=8000", "--hide-scrollbars"]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert "dlq.recorded" in dom.stdout and event_id in dom.stdout
    assert "reference.missing_part" in dom.stdout
    subprocess.run([*browser, f"--screenshot={screenshot}", url], capture_output=True, timeout=90)
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
