"""Nothing lost, nothing posted twice when the infrastructure misbehaves.

- Redis stops: the receiver answers 503 (Stripe redelivers); when Redis comes back the web and worker
  processes carry on by themselves, and dead-letter records are still there (AOF).
- Two payments of one new customer processed at the same moment make one Epicor customer.
- Redis loses the event records, journals and caches: redelivered events find every document in
  Epicor by its external reference and post nothing twice.
- A new dead letter reaches the alert webhook as Slack-compatible JSON.

The Redis-restart tests run a stack of their own on a private ``redis-server`` (AOF on, in a temporary
directory) that the test stops and starts; the others use the session stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.stack import Ports, Stack, free_port, port_open, spawn, wait_for
from tests.integration.conftest import INTEGRATION_REDIS_URL, Harness
from tests.integration.test_order_to_cash import CUSTOMER, assert_one_set, documents_for, post_all_events

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


class PrivateRedis:
    """A redis-server of the test's own, with AOF persistence, that can be stopped and started again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = spawn(  # dies with the test run even when that is SIGKILLed
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction",
             "--save", "", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "the private redis-server")
        wait_for(self._loaded, 10, "the private redis-server's data")

    def _loaded(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.exceptions.RedisError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis flushes its AOF, as on a restart by systemd or Docker."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        wait_for(lambda: not port_open("127.0.0.1", self.port), 10, "the private redis-server's exit")


class AlertReceiver:
    """A tiny local chat webhook that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"content_type": self.headers.get("Content-Type"), **json.loads(body)})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dead-letters"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def private_stack(base: Path, extra_env: dict[str, str], worker_concurrency: int = 4,
                  names: tuple[str, ...] = ("sandbox", "web", "worker")) -> Iterator[tuple[Stack, PrivateRedis]]:
    """A stack on its own redis-server; yields both so a test can restart either."""
    private = PrivateRedis(base / "redis")
    private.start()
    running = Stack(ports=Ports.free(), redis_url=private.url, data_dir=base / "sandbox", log_dir=base / "logs",
                    worker_concurrency=worker_concurrency, extra_env=extra_env)
    try:
        running.start(names)
        yield running, private
    except Exception:
        for log in sorted((base / "logs").glob("*.log")):
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        running.stop()
        private.stop()


def dlq_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CELERY, "-A", "tasks", "dlq", *args], env=stack.env(), capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def redeliver_until_accepted(harness: Harness, events: list[dict[str, Any]], timeout: float = 30) -> None:
    """What Stripe does after a 5xx: deliver again until the receiver takes the event."""
    deadline = time.monotonic() + timeout
    pending = list(events)
    while pending:
        pending = [event for event in pending if harness.deliver(event).status_code != 200]
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} event(s) still refused after {timeout:.0f} s")
        if pending:
            time.sleep(0.5)


# -- Redis going away -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alert_receiver() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def restartable(tmp_path_factory, alert_receiver) -> Iterator[tuple[Stack, PrivateRedis, Harness]]:
    env = {"ALERT_WEBHOOK_URL": alert_receiver.url, "ALERT_MAX_PER_WINDOW": "20", "ALERT_DLQ_THRESHOLD": "1",
           "RETRY_BACKOFF_BASE": "0.5", "RETRY_BACKOFF_MAX": "2", "BROKER_VISIBILITY_TIMEOUT": "20",
           "BROKER_RESTORE_INTERVAL": "2", "STALL_SECONDS": "5", "STALL_SWEEP_INTERVAL": "1"}
    with private_stack(tmp_path_factory.mktemp("restartable"), env) as (running, private):
        yield running, private, Harness(running)


def test_redis_down_gives_503_and_web_and_worker_recover_by_themselves(restartable):
    stack, private, harness = restartable
    before = harness.create_payment(amount=1500, currency="usd",
                                    customer={**CUSTOMER, "email": "before@outage.example"})
    assert {r["state"] for r in post_all_events(harness, before)} == {"done"}

    private.stop()
    during = harness.create_payment(amount=2600, currency="eur",
                                    customer={**CUSTOMER, "email": "during@outage.example"})
    refused = [harness.deliver(event) for event in during["events"]]
    assert [r.status_code for r in refused] == [503] * len(during["events"])
    assert harness.http.get(f"{stack.web_url}/readyz", timeout=10).status_code == 503

    private.start()
    redeliver_until_accepted(harness, during["events"])
    after = harness.create_payment(amount=3700, currency="usd", customer={**CUSTOMER, "email": "after@outage.example"})
    accepted = [harness.deliver(event).status_code for event in after["events"]]
    assert accepted == [200] * len(after["events"])
    ids = [event["id"] for event in during["events"] + after["events"]]
    assert {r["state"] for r in harness.wait(*ids, timeout=120)} == {"done"}
    dump = harness.epicor()
    assert_one_set(documents_for(dump, before), "15.00", "USD")
    assert_one_set(documents_for(dump, during), "26.00", "EUR")
    assert_one_set(documents_for(dump, after), "37.00", "USD")


def test_dead_letters_survive_a_redis_restart_and_alert_the_webhook(restartable, alert_receiver):
    stack, private, harness = restartable
    payment = harness.create_payment(amount=4100, currency="usd", customer={**CUSTOMER, "email": "aof@outage.example"},
                                     metadata={"epicor_part_num": "AOF-NOPART"})
    event_ids = {event["id"] for event in payment["events"]}
    assert {r["state"] for r in post_all_events(harness, payment)} == {"dead"}
    wait_for(lambda: sum(any(eid in text for eid in event_ids) for text in alert_receiver.texts()) == len(event_ids),
             30, "one alert per dead-lettered event")

    private.stop()
    private.start()
    listed = dlq_cli(stack, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {r["id"]: r for r in json.loads(listed.stdout)}
    assert event_ids <= set(records)
    assert all(records[eid]["reason"] == "reference.missing_part" for eid in event_ids)

    texts = alert_receiver.texts()
    assert all(m["content_type"] == "application/json" and set(m) == {"content_type", "text"}
               for m in alert_receiver.messages)
    for event_id in event_ids:
        (text,) = [t for t in texts if event_id in t and t.startswith("Dead-lettered")]
        assert "reference.missing_part" in text and "AOF-NOPART" in text
    assert any(t.startswith("Dead-letter queue holds") for t in texts)
    secrets = [stack.env()[name] for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "EPICOR_API_KEY")]
    assert not [s for s in secrets if s in json.dumps(alert_receiver.messages) or s in listed.stdout]


def test_an_event_whose_queued_message_the_broker_lost_is_requeued_and_posted(restartable):
    """The receiver recorded the event and queued its chain, but the message never reached a worker
    (taken off the queue by a worker killed at that instant, or by Redis going down)."""
    stack, private, harness = restartable
    payment = harness.create_payment(amount=5100, currency="usd", customer={**CUSTOMER, "email": "lost@broker.example"})
    charge_event = next(e for e in payment["events"] if e["type"] == "charge.succeeded")
    recorded_at = time.time() - 60
    client = redis.Redis.from_url(private.url, decode_responses=True)
    client.hset(f"sec:event:{charge_event['id']}", mapping={
        "id": charge_event["id"], "source": "stripe", "type": "charge.succeeded", "object_id": payment["charge"]["id"],
        "flow": "order_to_cash", "state": "received", "received_at": recorded_at, "updated_at": recorded_at,
        "queued_at": recorded_at, "deliveries": 1})
    client.zadd("sec:inflight", {charge_event["id"]: recorded_at})

    (record,) = harness.wait(charge_event["id"], timeout=60)
    assert record["state"] == "done" and client.hget(f"sec:event:{charge_event['id']}", "requeued_at")
    assert_one_set(documents_for(harness.epicor(), payment), "51.00", "USD")


# -- concurrency and lost records (session stack) --------------------------------------------------
def deliver_all_at_once(harness: Harness, events: list[dict[str, Any]]) -> None:
    start = threading.Barrier(len(events))

    def deliver(event: dict[str, Any]) -> int:
        start.wait()
        return harness.deliver(event).status_code

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        assert list(pool.map(deliver, events)) == [200] * len(events)


def test_two_payments_of_one_new_customer_at_the_same_moment_make_one_customer(harness):
    first = harness.create_payment(amount=1100, currency="usd", checkout=True,
                                   customer={**CUSTOMER, "name": "Twin Orders Ltd", "email": "twins@acme.example"})
    second = harness.create_payment(amount=2200, currency="usd", customer=first["customer"]["id"])
    deliver_all_at_once(harness, first["events"] + second["events"])
    records = harness.wait(*(e["id"] for e in first["events"] + second["events"]), timeout=90)
    assert {r["state"] for r in records} == {"done"}
    dump = harness.epicor()
    customers = [c for c in dump["Customers"] if c["ExternalID"] == first["customer"]["id"]]
    assert len(customers) == 1
    assert_one_set(documents_for(dump, first), "11.00", "USD")
    assert_one_set(documents_for(dump, second), "22.00", "USD")
    assert {documents_for(dump, p)["orders"][0]["CustNum"] for p in (first, second)} == {customers[0]["CustNum"]}


def test_two_guest_payments_with_one_new_email_at_the_same_moment_make_one_customer(harness):
    billing = {"name": "Twin Guest", "email": "twin.guest@shop.example",
               "address": {"line1": "5 Quay", "city": "Leeds", "postal_code": "LS1 4AP", "country": "GB"}}
    payments = [harness.create_payment(amount=amount, currency="gbp", customer=None, billing_details=billing)
                for amount in (1300, 2400)]
    deliver_all_at_once(harness, [event for payment in payments for event in payment["events"]])
    harness.wait(*(e["id"] for p in payments for e in p["events"]), timeout=90)
    dump = harness.epicor()
    assert len([c for c in dump["Customers"] if c["EMailAddress"] == billing["email"]]) == 1
    assert_one_set(documents_for(dump, payments[0]), "13.00", "GBP")
    assert_one_set(documents_for(dump, payments[1]), "24.00", "GBP")


def forget_everything_but_the_queue() -> int:
    """Redis loses the event records, posting journals and caches (not the broker's queues)."""
    client = redis.Redis.from_url(INTEGRATION_REDIS_URL)
    keys = [k for pattern in ("sec:journal:*", "sec:event:*", "sec:cache:*") for k in client.scan_iter(pattern)]
    return client.delete(*keys) if keys else 0


def test_redis_losing_event_records_and_journals_still_posts_nothing_twice(harness):
    payment = harness.create_payment(
        amount=3700, currency="usd", checkout=True, customer={**CUSTOMER, "email": "amnesia@acme.example"},
        line_items=[{"product_name": "Widget", "product_metadata": {"epicor_part_num": "WIDGET-100"},
                     "unit_amount": 1250, "quantity": 2},
                    {"product_name": "Gadget", "product_metadata": {"epicor_part_num": "GADGET-200"},
                     "unit_amount": 1200, "quantity": 1}])
    for _ in range(3):
        assert {r["state"] for r in post_all_events(harness, payment)} == {"done"}
        assert forget_everything_but_the_queue() > 0
    dump = harness.epicor()
    docs = documents_for(dump, payment)
    assert_one_set(docs, "37.00", "USD")
    assert len(docs["order_lines"]) == 2 and len(docs["invoice_lines"]) == 2
    assert len([c for c in dump["Customers"] if c["ExternalID"] == payment["customer"]["id"]]) == 1
