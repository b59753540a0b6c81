"""The Epicor sandbox's outbox: signed events for customer and order changes, sent off the request path."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.epicor import EpicorState
from sandbox.epicor.events import signature_header
from tests.unit.test_sandbox_epicor import make_client, patch, post

SECRET = "epicor_unit_secret"


class Receiver:
    """A local HTTP endpoint that records what it is sent and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None, pause: float = 0.0):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        self.pause = pause
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(receiver.pause)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/epicor"

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.server.shutdown()


@pytest.fixture
def state() -> EpicorState:
    return EpicorState(":memory:")


@pytest.fixture
def client(state):
    return make_client(state)


def switch_on(client, url: str, **extra) -> dict:
    response = client.put("/_sandbox/epicor/settings",
                          json={"emit_events_to": url, "secret": SECRET, "emit_delay_ms": 0, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def drained(client, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = client.get("/_sandbox/epicor/events").get_json()
        if snapshot["pending"] == 0:
            return snapshot
        time.sleep(0.02)
    raise AssertionError("outbox did not drain")


def new_customer(client, cust_id: str = "ACME") -> dict:
    response = post(client, "Customers", {"CustID": cust_id, "Name": "Acme Trading Ltd"})
    assert response.status_code == 201
    return response.get_json()


def test_no_events_until_switched_on(client, receiver):
    new_customer(client)
    time.sleep(0.2)
    assert receiver.requests == [] and drained(client)["deliveries"] == []


def test_created_customer_and_order_send_signed_events(client, receiver):
    settings = switch_on(client, receiver.url)
    assert settings["secret_set"] is True and SECRET not in json.dumps(settings)
    customer = new_customer(client)
    order = post(client, "SalesOrders", {"CustNum": customer["CustNum"]}).get_json()
    drained(client)
    events = receiver.events()
    assert [(e["type"], e["key"]) for e in events] == [
        ("Customer.Created", {"CustNum": customer["CustNum"]}), ("SalesOrder.Created", {"OrderNum": order["OrderNum"]})]
    assert all(e["company"] == "EPIC06" and e["id"] and e["occurred_at"].endswith("Z") for e in events)
    headers, body = receiver.requests[0]
    stamp, digest = headers["X-Epicor-Signature"].split(",")
    timestamp = int(stamp.removeprefix("t="))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert digest == f"v1={expected}" and abs(time.time() - timestamp) < 30
    assert headers["Content-Type"] == "application/json"


def test_update_event_only_when_the_row_really_changed(client, receiver):
    customer = new_customer(client)
    switch_on(client, receiver.url)
    key = f"Customers('EPIC06',{customer['CustNum']})"
    assert patch(client, key, {"Name": "Acme Trading Ltd"}).status_code == 204  # same value: no new SysRevID
    assert patch(client, key, {"ExternalID": "cus_123"}).status_code == 204
    drained(client)
    assert [e["type"] for e in receiver.events()] == ["Customer.Updated"]


def test_failed_delivery_is_retried_then_recorded(client, receiver):
    receiver.statuses = [503, 500]
    switch_on(client, receiver.url)
    new_customer(client)
    delivery = drained(client)["deliveries"][0]
    assert delivery["statuses"] == [503, 500, 200] and delivery["delivered"] is True
    assert len({body for _, body in receiver.requests}) == 1  # the same event, re-signed each time


def test_slow_receiver_does_not_slow_the_rest_call_or_hold_the_store(client, receiver):
    receiver.pause = 1.0
    switch_on(client, receiver.url)
    started = time.monotonic()
    first = new_customer(client, "ONE")
    second = new_customer(client, "TWO")
    assert time.monotonic() - started < 0.5
    assert second["CustNum"] == first["CustNum"] + 1
    assert [e["key"]["CustNum"] for e in (json.loads(b) for _, b in receiver.requests)] in ([], [first["CustNum"]])


def test_event_types_narrow_and_reset_switches_off(client, state, receiver):
    switch_on(client, receiver.url, event_types=["SalesOrder.Created"])
    customer = new_customer(client)
    post(client, "SalesOrders", {"CustNum": customer["CustNum"]})
    drained(client)
    assert [e["type"] for e in receiver.events()] == ["SalesOrder.Created"]
    assert client.post("/_sandbox/epicor/reset").status_code == 200
    assert client.get("/_sandbox/epicor/settings").get_json()["emit_events_to"] is None


@pytest.mark.parametrize("settings", [
    {"emit_events_to": "ftp://x"}, {"emit_events_to": "http://x", "secret": ""},
    {"emit_delay_ms": -1}, {"max_attempts": 0}, {"event_types": ["Part.Created"]}, {"colour": "red"},
])
def test_bad_settings_are_400(client, settings):
    assert client.put("/_sandbox/epicor/settings", json=settings).status_code == 400


def test_signature_header_is_the_contract_format():
    assert signature_header(b'{"a":1}', "s", 1700000000) == \
        "t=1700000000,v1=" + hmac.new(b"s", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()


def test_command_line_sends_one_signed_event_and_repeats_it_for_a_duplicate(receiver, capsys):
    from sandbox.cli import main

    status = main(["epicor-event", "SalesOrder.Created", "--order-num", "5001", "--webhook-url", receiver.url,
                   "--secret", SECRET, "--event-id", "evt-cli-1", "--deliveries", "2", "--json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["event"]["key"] == {"OrderNum": 5001} and [d["status"] for d in report["deliveries"]] == [200, 200]
    (first_headers, first_body), (_, second_body) = receiver.requests
    assert first_body == second_body and json.loads(first_body)["id"] == "evt-cli-1"
    timestamp = int(first_headers["X-Epicor-Signature"].split(",")[0].removeprefix("t="))
    assert first_headers["X-Epicor-Signature"] == signature_header(first_body, SECRET, timestamp)


def test_command_line_refuses_a_key_of_the_wrong_kind(receiver, capsys):
    from sandbox.cli import main

    assert main(["epicor-event", "Customer.Updated", "--order-num", "5001", "--webhook-url", receiver.url,
                 "--secret", SECRET]) == 2
    assert receiver.requests == [] and "--cust-num" in capsys.readouterr().err
