"""Configuration faults found at start, and the pre-flight doctor, on real processes.

- A worker started with a configuration it cannot run with (plain-http Epicor without
  ``EPICOR_ALLOW_HTTP``; a mapping file that fails validation) exits 78 with the reason before it
  takes a message; the web still acknowledges and queues events and ``/readyz`` answers 503 with the
  reason; nothing is dead-lettered; once the worker is restarted with the fix, the queued events post.
- ``python -m tasks.doctor`` against the sandbox over HTTP passes on a fresh sandbox, and after a part,
  a reason code and the bank account are removed it exits 1 naming each with its fix.

This module's stack is its own (a private Redis with AOF, so the doctor's persistence check passes):
its workers are started and stopped here, which the shared stack's tests must not see.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox.stack import Ports, Stack
from tasks.settings import REPO_ROOT
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("preflight")
    running = Stack(ports=Ports.free(), data_dir=base / "sandbox", log_dir=base / "logs", worker_concurrency=4)
    try:
        running.start_redis(base / "redis")
        running.start(["sandbox", "web"])
    except Exception:
        running.stop()
        raise
    yield running
    running.stop()


def start_worker(stack: Stack, **env: str) -> None:
    """A worker with ``env`` over the stack's own settings (an empty value removes the setting)."""
    stack.extra_env = env
    (stack.log_dir / "worker.log").write_bytes(b"")
    stack.start_process("worker", stack.commands()["worker"])


def refused_start(stack: Stack) -> tuple[int, str]:
    process = stack.processes["worker"]
    process.wait(timeout=60)
    return process.returncode, (stack.log_dir / "worker.log").read_text(errors="replace")


def stop_worker(stack: Stack) -> None:
    process = stack.processes.pop("worker")
    process.terminate()
    process.wait(timeout=30)


def pay(harness: Harness) -> str:
    """A card payment, its ``charge.succeeded`` delivered to the receiver; the event id."""
    payment = harness.create_payment(amount=2500, currency="usd", customer={"name": "Ada", "email": "ada@example.com"})
    event = next(e for e in payment["events"] if e["type"] == "charge.succeeded")
    response = harness.deliver(event)
    assert response.status_code == 200, response.text
    return event["id"]


def bad_mappings(directory: Path) -> Path:
    shutil.copytree(REPO_ROOT / "mappings", directory, dirs_exist_ok=True)
    parts = directory / "parts.yaml"
    parts.write_text(parts.read_text().replace("default_part:", "default_prat:"))
    return directory


@pytest.mark.parametrize(("fault", "expected"), [
    ("plain_http", "EPICOR_BASE_URL uses plain http"),
    ("bad_mapping", "parts.yaml: default_part: Missing data for required field.; default_prat: Unknown field."),
])
def test_a_bad_configuration_stops_the_worker_and_events_wait_for_the_fix(own_stack, tmp_path, fault, expected):
    harness = Harness(own_stack)
    env = {"EPICOR_ALLOW_HTTP": "false"} if fault == "plain_http" else {"MAPPINGS_DIR": str(bad_mappings(tmp_path))}
    start_worker(own_stack, **env)
    code, log = refused_start(own_stack)
    assert code == 78 and "configuration error, worker not started: " in log and expected in log, log

    event_id = pay(harness)  # the web still takes events while no worker can run them
    ready = harness.http.get(f"{own_stack.web_url}/readyz", timeout=10)
    assert ready.status_code == 503 and expected in ready.json()["configuration"]["worker"]
    time.sleep(1)
    assert harness.event(event_id)["state"] == "received" and _dead_letters(own_stack) == 0

    start_worker(own_stack)  # fixed
    own_stack.wait_ready(["worker"])
    try:
        [record] = harness.wait(event_id, timeout=60)
        assert record["state"] == "done" and record["epicor_keys"].get("OrderNum"), record
        assert harness.http.get(f"{own_stack.web_url}/readyz", timeout=10).status_code == 200
    finally:
        stop_worker(own_stack)


def _dead_letters(stack: Stack) -> int:
    import redis

    from tasks import dlq

    return int(redis.Redis.from_url(stack.redis_url or "").zcard(dlq.INDEX_KEY))


def doctor(stack: Stack, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tasks.doctor", "--url", url], env=stack.env(), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_doctor_passes_on_a_fresh_sandbox_and_names_each_missing_code(own_stack):
    hook = f"{own_stack.web_url}/webhooks/stripe"
    http = requests.Session()
    http.post(f"{own_stack.sandbox_url}/_sandbox/epicor/reset", timeout=10).raise_for_status()
    registered = http.post(f"{own_stack.sandbox_url}/v1/webhook_endpoints", auth=("sk_test_sandbox", ""), timeout=10,
                           data={"url": hook, "enabled_events[]": "*"})
    assert registered.status_code == 200, registered.text

    passed = doctor(own_stack, hook)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "All checks passed" in passed.stdout

    for row in ("Parts/STRIPE-SALE", "Reasons/A/OTHER", "BankAccts/MAIN"):
        http.delete(f"{own_stack.sandbox_url}/_sandbox/epicor/reference/{row}", timeout=10).raise_for_status()
    failed = doctor(own_stack, hook)
    assert failed.returncode == 1, failed.stdout
    out = failed.stdout
    assert "[FAIL] Epicor part: Part 'STRIPE-SALE' is not in Epicor" in out
    assert "create it in Part Maintenance, or set mappings/parts.yaml key default_part" in out
    assert "[FAIL] Epicor reason code: Reason code 'OTHER' is not in Epicor" in out
    assert "Reason Maintenance (type A" in out
    assert "[FAIL] Epicor bank account: Bank account 'MAIN' is not in Epicor" in out
    assert "Bank Account Maintenance, or set mappings/defaults.yaml key bank_account" in out
    assert "3 check(s) failed." in out
    http.post(f"{own_stack.sandbox_url}/_sandbox/epicor/reset", timeout=10).raise_for_status()
