"""The Overview in a real browser (Playwright driving Debian's chromium) over the real stack.

Payments of known amounts go through the sandbox, the receiver, a Celery worker and the history
store; the Overview must then show exactly what was sent (events by flow and outcome, amounts per
currency), update by itself when another payment arrives (no reload), and log no console error.
Screenshots of the Overview, Payouts and Epicor → Stripe pages go to ``SCREENSHOTS_DIR`` (conftest).
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET, Stack
from tests.browser.conftest import console_stack, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NAME, PASSWORD = "vera", "viewer-password-for-the-browser-test"
CUSTOMER = {"name": "Overview Test Ltd", "email": "overview@example.test",
            "address": {"line1": "1 Chart Street", "city": "Austin", "state": "TX", "postal_code": "73301",
                        "country": "US"}}
PAYMENTS = [(1250, "usd"), (3000, "usd"), (725, "eur")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with console_stack(tmp_path_factory.mktemp("overview-stack"), [(NAME, PASSWORD, "viewer")],
                       api_auth=(NAME, PASSWORD)) as running:
        yield running


class Sender:
    """Payments through the sandbox's Stripe, each event signed and delivered to the receiver."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.http = requests.Session()
        self.http.headers["Authorization"] = "Basic " + base64.b64encode(f"{NAME}:{PASSWORD}".encode()).decode()
        self.events = 0

    def payment(self, amount: int, currency: str, *, deliver: bool = True) -> dict[str, Any]:
        spec = {"amount": amount, "currency": currency, "customer": CUSTOMER}
        response = self.http.post(f"{self.stack.sandbox_url}/_sandbox/stripe/payments", json=spec, timeout=10)
        response.raise_for_status()
        payment = response.json()
        if deliver:
            self.deliver(payment["events"])
        return payment

    def deliver(self, events: list[dict[str, Any]], *, wait: bool = True) -> None:
        for event in events:
            body = json.dumps(event).encode()
            headers = {"Stripe-Signature": sign_payload(body, [DEMO_SECRET]), "Content-Type": "application/json"}
            answer = self.http.post(f"{self.stack.web_url}/webhooks/stripe", data=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            self.events += 1
        if wait:
            self.wait_done([event["id"] for event in events])

    def wait_done(self, event_ids: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for event_id in event_ids:
            while True:
                record = self.http.get(f"{self.stack.web_url}/api/events/{event_id}", timeout=5).json()
                if record.get("state") in ("done", "dead", "ignored"):
                    assert record["state"] == "done", record
                    break
                assert time.monotonic() < deadline, f"{event_id} stuck: {record}"
                time.sleep(0.2)


@pytest.fixture()
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems  # type: ignore[attr-defined]
    opened.goto(f"{stack.web_url}/console/login")
    opened.fill("input[name=name]", NAME)
    opened.fill("input[name=password]", PASSWORD)
    opened.click("form.login-form [type=submit]")
    opened.wait_for_url(f"{stack.web_url}/console/**")
    yield opened
    context.close()


def figure(page, selector: str) -> str:
    found = page.locator(selector)
    return found.inner_text().strip() if found.count() else ""


def wait_for_figure(page, selector: str, expected: str, timeout: float = 45) -> None:
    """Wait (without reloading) until the live figures show ``expected``."""
    deadline = time.monotonic() + timeout
    while figure(page, selector) != expected:
        assert time.monotonic() < deadline, f"{selector} shows {figure(page, selector)!r}, expected {expected!r}"
        page.wait_for_timeout(500)


def sent_totals(payments: list[tuple[int, str]]) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for amount, currency in payments:
        totals[currency.upper()] = totals.get(currency.upper(), Decimal(0)) + Decimal(amount) / 100
    return {code: f"{value:.2f}" for code, value in totals.items()}


def test_overview_shows_what_was_sent_and_updates_by_itself(page, stack):
    sender = Sender(stack)
    for amount, currency in PAYMENTS:
        sender.payment(amount, currency)
    page.goto(f"{stack.web_url}/console/")
    expected = sent_totals(PAYMENTS)
    wait_for_figure(page, 'td[data-currency="USD"]', expected["USD"])
    wait_for_figure(page, 'td[data-currency="EUR"]', expected["EUR"])
    wait_for_figure(page, 'td[data-total="events"]', str(sender.events))
    assert page.locator('[data-tile="Workers"] .tile-status').inner_text() == "OK"
    assert page.locator('[data-tile="Epicor"] .tile-value').inner_text() == "reachable"
    assert page.locator('[data-tile="Stripe"] .tile-value').inner_text() == "reachable"
    page.wait_for_selector("#per-minute-chart .uplot", timeout=15_000)

    page.evaluate("window.__notReloaded = true")
    sender.payment(500, "usd")
    expected = sent_totals([*PAYMENTS, (500, "usd")])
    wait_for_figure(page, 'td[data-currency="USD"]', expected["USD"])
    wait_for_figure(page, 'td[data-total="events"]', str(sender.events))
    wait_for_figure(page, 'td[data-day-total="USD"]', expected["USD"])  # the 30-day table, refreshed too
    wait_for_figure(page, 'td[data-day-total="EUR"]', expected["EUR"])
    assert page.evaluate("window.__notReloaded") is True  # updated in place, not reloaded
    screenshot(page, "overview")
    assert page.problems == []  # type: ignore[attr-defined]


def test_payout_pages_show_the_verdict_and_the_discrepancy(page, stack):
    sender = Sender(stack)
    posted = sender.payment(4200, "usd")
    missing = sender.payment(990, "usd", deliver=False)  # never posted: the payout cannot reconcile
    response = sender.http.post(f"{stack.sandbox_url}/_sandbox/stripe/payouts", timeout=10, json={
        "currency": "usd", "sources": [posted["charge"]["id"], missing["charge"]["id"]]})
    response.raise_for_status()
    payout = response.json()
    # a payout that does not reconcile waits (retried, never posted partly wrong): its report is there at once
    sender.deliver([e for e in payout["events"] if e["type"] == "payout.paid"], wait=False)
    payout_id = payout["payout"]["id"]
    row = page.locator(f'tr[data-payout="{payout_id}"]')
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{stack.web_url}/console/payouts")
        if row.count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert "mismatch" in row.inner_text() and row.get_attribute("class") == "discrepancy"
    screenshot(page, "payouts")
    row.locator("a").first.click()
    page.wait_for_url(f"**/console/payouts/{payout_id}")
    assert page.locator("#verdict").inner_text() == "mismatch"
    flagged = page.locator("#transactions tr.discrepancy")
    assert flagged.count() == 1 and missing["charge"]["id"] in flagged.inner_text()
    screenshot(page, "payout")
    assert page.problems == []  # type: ignore[attr-defined]


def test_sync_page_shows_a_customer_keyed_in_epicor_with_its_stripe_id(page, stack):
    from tests.integration.test_epicor_to_stripe import new_customer, signed_event

    sender = Sender(stack)
    customer = new_customer(SimpleNamespace(stack=stack))
    event_id, body, headers = signed_event("Customer.Created", {"CustNum": customer["CustNum"]})
    answer = requests.post(f"{stack.web_url}/webhooks/epicor", data=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    sender.wait_done([event_id])
    keys = sender.http.get(f"{stack.web_url}/api/events/{event_id}", timeout=5).json()["epicor_keys"]
    synced = page.locator("#sync-epicor_customer table.sync-done")
    count = page.locator('#sync-epicor_customer [data-count="synced"]')
    deadline = time.monotonic() + 30
    while True:  # the history store has the event within seconds (the counts are remembered for 5 s)
        page.goto(f"{stack.web_url}/console/sync")
        if (event_id in synced.inner_text() and count.inner_text() == "1") or time.monotonic() > deadline:
            break
        page.wait_for_timeout(1000)
    row = synced.locator("tr", has_text=event_id)
    assert str(customer["CustNum"]) in row.inner_text() and keys["StripeCustomer"] in row.inner_text()
    assert count.inner_text() == "1"
    screenshot(page, "sync")
    assert page.problems == []  # type: ignore[attr-defined]

