"""No secret and no card number leaks: a whole stack run with every secret set, then everything scanned.

The stack runs on a private ``redis-server`` (so every key in it belongs to this run) with distinctive
values for every secret the service knows. It posts a payment that succeeds, one that is
dead-lettered (which also fires an alert to a local webhook), a signed event carrying a card number
in its payload, and forged and stale deliveries. Then it scans, for each secret (and the Basic-auth
form of the Epicor credentials) and for card-number-like digit runs: every process log, Flower's task
API (which must want its password), the broker's queued messages and every Redis value, dead-letter
records included. A message queued while no worker runs shows what a task's arguments are: ids only.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from sandbox.signing import sign_payload
from sandbox.stack import Ports, Stack, StackError, free_port, start_private_redis
from tests.unit.test_pci import PAN, luhn

pytestmark = pytest.mark.integration

ALERT_TOKEN = "T0SCAN/B0SCAN/alertTokenScan7R3"
SECRETS = {
    "STRIPE_API_KEY": "sk_test_scanStripeKey7Q2xx",
    "STRIPE_WEBHOOK_SECRET": "whsec_scanWebhookSecret9X4",
    "EPICOR_PASSWORD": "scanEpicorPassword3K8",
    "EPICOR_API_KEY": "scanEpicorApiKey5M1",
    "EPICOR_WEBHOOK_SECRET": "scanEpicorHookSecret6P0",
    "FLOWER_BASIC_AUTH": "operator:scanFlowerPassword2W7",
}
ENVELOPE_KEYS = {"event_id", "source", "type", "flow", "object_id"}
PAN_SHAPED = re.compile(r"(?<![\w.-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7})(?![\w-])")


def needles() -> dict[str, str]:
    found = {name: value for name, value in SECRETS.items() if name != "FLOWER_BASIC_AUTH"}
    found["FLOWER_BASIC_AUTH password"] = SECRETS["FLOWER_BASIC_AUTH"].partition(":")[2]
    found["ALERT_WEBHOOK_URL token"] = ALERT_TOKEN
    basic = base64.b64encode(f"manager:{SECRETS['EPICOR_PASSWORD']}".encode()).decode()
    found["Epicor Basic auth header"] = basic
    return found


def card_numbers(text: str) -> list[str]:
    """Card-number-like runs, each named by its last four digits and the 30 characters before it."""
    found = []
    for match in PAN_SHAPED.finditer(text):
        run = re.sub(r"[ -]", "", match.group())
        if run.startswith("1"):
            continue  # millisecond/microsecond timestamps (kombu's sorted-set scores); no card scheme issues 1…
        if luhn(run):
            found.append(f"ending {run[-4:]} after {text[max(0, match.start() - 30):match.start()]!r}")
    return found


def leaks(where: str, text: str) -> list[str]:
    found = [f"{where}: {name}" for name, value in needles().items() if value in text]
    return found + [f"{where}: card number {run}" for run in card_numbers(text)]


class AlertSink(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        AlertSink.received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def secret_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    base = tmp_path_factory.mktemp("secrets")
    redis_url, redis_process = start_private_redis(base / "redis")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), AlertSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    extra = {**SECRETS, "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{sink.server_port}/services/{ALERT_TOKEN}",
             "EPICOR_USERNAME": "manager"}
    running = Stack(ports=Ports.free(), redis_url=redis_url, data_dir=base / "sandbox", log_dir=base / "logs",
                    worker_concurrency=4, extra_env=extra)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        sink.shutdown()
        redis_process.terminate()
        redis_process.wait(timeout=10)


class Client:
    def __init__(self, stack: Stack):
        self.stack, self.http = stack, requests.Session()
        self.http.auth = stack.api_auth  # /api/* needs a console user: the stack's demo operator

    def payment(self, **spec: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.stack.sandbox_url}/_sandbox/stripe/payments", json=spec, timeout=10)
        response.raise_for_status()
        return response.json()

    def deliver(self, event: dict[str, Any], secret: str = SECRETS["STRIPE_WEBHOOK_SECRET"], **sign: Any) -> int:
        body = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign_payload(body, [secret], **sign), "Content-Type": "application/json"}
        response = self.http.post(f"{self.stack.web_url}/webhooks/stripe", data=body, headers=headers, timeout=10)
        return response.status_code

    def wait(self, event_ids: list[str], timeout: float = 90) -> list[dict[str, Any]]:
        deadline, records = time.monotonic() + timeout, []
        for event_id in event_ids:
            while True:
                record = self.http.get(f"{self.stack.web_url}/api/events/{event_id}", timeout=5).json()
                if record.get("state") in ("done", "dead", "ignored"):
                    records.append(record)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{event_id} stuck: {record}")
                time.sleep(0.2)
        return records


@pytest.fixture(scope="module")
def run(secret_stack: Stack) -> dict[str, Any]:
    """Drive the stack through good, dead-lettered, hostile and card-carrying deliveries."""
    client = Client(secret_stack)
    customer = {"name": "Scan Trading Ltd", "email": "scan@example.com",
                "address": {"line1": "1 Market St", "city": "San Francisco", "postal_code": "94105", "country": "US"}}
    good = client.payment(amount=4900, currency="usd", customer=customer)
    dead = client.payment(amount=1200, currency="usd", customer={**customer, "email": "scan-dead@example.com"},
                          metadata={"epicor_part_num": "SCAN-NOPART"})
    for event in good["events"] + dead["events"]:
        assert client.deliver(event) == 200
    card_event = {**good["events"][0], "id": "evt_scanCardInPayload",
                  "data": {"object": {**good["events"][0]["data"]["object"],
                                      "payment_method_details": {"card": {"number": PAN, "cvc": "314"}}}}}
    assert client.deliver(card_event) == 200
    assert client.deliver(good["events"][0], secret="whsec_forged") == 400
    assert client.deliver(good["events"][0], timestamp=int(time.time()) - 400) == 400
    records = client.wait([e["id"] for e in good["events"] + dead["events"]] + ["evt_scanCardInPayload"])
    return {"client": client, "good": good, "dead": dead, "records": records}


def test_the_run_posted_one_payment_and_dead_lettered_the_other(run):
    states = [record["state"] for record in run["records"]]
    good = len(run["good"]["events"])
    assert states[:good] == ["done"] * good
    assert states[good:-1] == ["dead"] * len(run["dead"]["events"])


def test_the_scanner_would_see_a_leak():
    assert leaks("sample", f"key={SECRETS['EPICOR_API_KEY']} card {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}")
    assert not leaks("sample", 'task 12345678-1234-1234-1234-123456789012 took 0.0123 s; t=1772625600; '
                               '"runtime": 0.0012345678901234567')


def test_no_process_log_holds_a_secret_or_a_card_number(run, secret_stack):
    logs = sorted(secret_stack.log_dir.glob("*.log"))
    assert {log.name for log in logs} >= {"web.log", "worker.log", "flower.log", "sandbox.log"}
    assert "event dead-lettered" in (secret_stack.log_dir / "worker.log").read_text(errors="replace")
    found = [leak for log in logs for leak in leaks(log.name, log.read_text(errors="replace"))]
    assert found == []


def test_the_alert_was_sent_and_holds_no_secret(run):
    deadline = time.monotonic() + 30
    while not AlertSink.received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert AlertSink.received, "the dead letter sent no alert to ALERT_WEBHOOK_URL"
    assert leaks("alert", b"\n".join(AlertSink.received).decode(errors="replace")) == []


def test_flower_wants_its_password_and_shows_no_secret(run, secret_stack):
    url = secret_stack.flower_url + "/api/tasks"
    assert requests.get(url, timeout=10).status_code == 401
    user, _, password = SECRETS["FLOWER_BASIC_AUTH"].partition(":")
    deadline, tasks = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        tasks = requests.get(url, auth=(user, password), timeout=10).json()
        if len(tasks) >= 5:
            break
        time.sleep(0.5)
    assert tasks, "Flower shows no tasks"
    assert leaks("Flower /api/tasks", json.dumps(tasks)) == []


def redis_dump(url: str) -> dict[str, Any]:
    db = redis.Redis.from_url(url, decode_responses=True)
    readers = {"string": db.get, "hash": db.hgetall, "list": lambda n: db.lrange(n, 0, -1), "set": db.smembers,
               "zset": lambda n: db.zrange(n, 0, -1, withscores=True)}
    dump: dict[str, Any] = {}
    for name in db.scan_iter(count=500):
        kind = db.type(name)
        dump[name] = readers[kind](name) if kind in readers else f"<{kind}>"
    return dump


def decoded_messages(dump: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Celery message in a queue list or in kombu's unacked hash, body decoded."""
    raw = [item for value in dump.values() if isinstance(value, list) for item in value]
    raw += [item for name, value in dump.items() if name == "unacked" for item in value.values()]
    messages = []
    for item in raw:
        try:
            message = json.loads(item)
            message = message[0] if isinstance(message, list) else message
            body = json.loads(base64.b64decode(message["body"]))
        except (ValueError, KeyError, TypeError):
            continue
        messages.append({"headers": message.get("headers", {}), "body": body})
    return messages


def test_broker_redis_and_dead_letters_hold_no_secret_and_no_card_number(run, secret_stack):
    dump = redis_dump(secret_stack.redis_url or "")
    assert any(name.startswith("sec:dlq") for name in dump), "no dead-letter record to scan"
    text = json.dumps(dump, default=str)
    assert leaks("redis", text) == []
    for message in decoded_messages(dump):
        assert leaks("broker message", json.dumps(message)) == []


def test_a_queued_task_carries_ids_only(run, secret_stack):
    secret_stack.kill_worker()
    try:
        payment = run["client"].payment(amount=2100, currency="usd",
                                        customer={"name": "Queued Ltd", "email": "queued@example.com"})
        assert run["client"].deliver(payment["events"][0]) == 200
        queued = [m for m in decoded_messages(redis_dump(secret_stack.redis_url or ""))
                  if m["headers"].get("task") == "pipeline.fetch"
                  and m["body"][0][0]["event_id"] == payment["events"][0]["id"]]
        assert len(queued) == 1
        (envelope,), kwargs, _embed = queued[0]["body"]
        assert set(envelope) <= ENVELOPE_KEYS and kwargs == {}
        assert envelope["object_id"] == payment["events"][0]["data"]["object"]["id"]
        text = json.dumps(queued[0])
        assert "Queued Ltd" not in text and "queued@example.com" not in text
        assert leaks("queued message", text) == []
    finally:
        try:
            secret_stack.restart_worker()
        except StackError:
            pass
