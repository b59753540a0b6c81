"""One scrape of /metrics on the real stack carries the receiver's two gunicorn workers and the Celery worker.

Payments go through the whole pipeline; webhooks are delivered over fresh connections until each
gunicorn worker has answered some; then a single scrape must show every process's counts summed:
what the receivers counted, what the worker finished and posted, and the Epicor and Stripe calls.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict

from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET

pytestmark = pytest.mark.integration

CUSTOMER = {"name": "Metrics Test Ltd", "email": "ap@metrics.example"}
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")


def scrape(harness) -> dict[tuple[str, frozenset], float]:
    """One scrape, as Prometheus would make it (a console user over HTTP Basic, a fresh connection)."""
    response = requests.get(f"{harness.stack.web_url}/metrics", auth=harness.stack.api_auth, timeout=10)
    assert response.status_code == 200, response.text[:200]
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        found = SAMPLE.match(line)
        if found:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', found["labels"] or ""))
            samples[(found["name"], labels)] = float(found["value"])
    return samples


def total(samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (found, have), value in samples.items() if found == name and wanted <= have)


def deliver_fresh(stack, event: dict) -> int:
    """A signed delivery on a new connection, so the kernel may hand it to either gunicorn worker."""
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign_payload(body, [DEMO_SECRET]), "Content-Type": "application/json",
               "Connection": "close"}
    return requests.post(f"{stack.web_url}/webhooks/stripe", data=body, headers=headers, timeout=10).status_code


def ignored_event(n: int) -> dict:
    return {"id": f"evt_metrics_ignored_{n}_{time.time_ns()}", "object": "event", "type": "customer.source.updated",
            "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
            "data": {"object": {"id": f"card_metrics_{n}", "object": "card"}}}


def received_by_pid(metrics_dir: Path) -> Counter:
    """events_received counted in each process's own file (pid → count)."""
    counts: Counter = Counter()
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.rsplit("-", 1)[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[0] == "stripe_epicor_events_received":
                counts[pid] += value
    return counts


def gunicorn_workers(master_pid: int) -> set[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return {int(pid) for pid in children}


def test_one_scrape_sums_the_receivers_and_the_worker(harness, stack):
    before = scrape(harness)
    payments = [harness.create_payment(amount=1500 + n, currency="usd", customer=CUSTOMER) for n in range(3)]
    events = [event for payment in payments for event in payment["events"]]
    for event in events:
        assert deliver_fresh(stack, event) == 200
    records = harness.wait(*(event["id"] for event in events))
    assert {record["state"] for record in records} == {"done"}

    web_pids = gunicorn_workers(stack.processes["web"].pid)
    assert len(web_pids) == 2
    ignored = 0
    while not web_pids <= set(received_by_pid(stack.metrics_path)) and ignored < 300:
        assert deliver_fresh(stack, ignored_event(ignored)) == 200
        ignored += 1
    per_process = received_by_pid(stack.metrics_path)
    assert web_pids <= set(per_process), f"a receiver never answered: {per_process}"

    after = scrape(harness)
    queued = total(after, "stripe_epicor_events_received_total", outcome="queued") \
        - total(before, "stripe_epicor_events_received_total", outcome="queued")
    ignored_seen = total(after, "stripe_epicor_events_received_total", outcome="ignored") \
        - total(before, "stripe_epicor_events_received_total", outcome="ignored")
    assert queued == len(events) and ignored_seen == ignored
    # The scrape's received total is exactly the receivers' files summed: both gunicorn workers in it.
    assert total(after, "stripe_epicor_events_received_total") == sum(per_process.values())

    finished = total(after, "stripe_epicor_events_finished_total", flow="order_to_cash", state="done") \
        - total(before, "stripe_epicor_events_finished_total", flow="order_to_cash", state="done")
    assert finished == len(events)  # the worker's files: each payment's lead posted, its followers settled
    posted = total(after, "stripe_epicor_posted_amount_total", flow="order_to_cash", currency="USD") \
        - total(before, "stripe_epicor_posted_amount_total", flow="order_to_cash", currency="USD")
    assert posted == pytest.approx(sum(1500 + n for n in range(3)) / 100)
    for system in ("epicor", "stripe"):
        calls = total(after, "stripe_epicor_api_requests_total", system=system, outcome="2xx") \
            - total(before, "stripe_epicor_api_requests_total", system=system, outcome="2xx")
        assert calls > 0, system
    assert total(after, "stripe_epicor_redis_up") == 1
    assert total(after, "stripe_epicor_worker_heartbeat_timestamp_seconds") > time.time() - 60
    assert total(after, "stripe_epicor_epicor_concurrency_limit") > 0
