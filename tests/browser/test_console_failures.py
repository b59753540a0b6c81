"""Search, an event's page and Failures in a real browser (Playwright driving Debian's chromium).

Against the real stack (sandbox, gunicorn, a Celery worker, Redis and the history) with two console
users, an operator and a viewer, as an accountant and an administrator would use it:

- find a payment by its charge id and by its Epicor OrderNum, and see the documents it created;
- a payment for a part missing in Epicor is dead-lettered; after adding the part, "Retry all" on the
  Failures page brings it to done, as its page shows without a reload;
- a group of dead letters discarded with a comment: the event's page shows who did it and why;
- a viewer sees no retry or discard button and the API refuses them 403;
- no page logs a console error or an uncaught exception.

Screenshots of the login, search, event and failures pages go to ``SCREENSHOTS_DIR`` (conftest). The tests
skip only when no chromium is installed (``apt-get install chromium`` or ``CHROMIUM_PATH``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.stack import Stack
from tests.browser.conftest import Console, console_stack, screenshot
from tests.integration.conftest import Harness
from tests.integration.test_order_to_cash import CUSTOMER, documents_for, post_all_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

OPERATOR = ("olga", "operator-password-for-the-browser-test")
VIEWER = ("victor", "viewer-password-for-the-browser-test")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with console_stack(tmp_path_factory.mktemp("failures-stack"), [(*OPERATOR, "operator"), (*VIEWER, "viewer")],
                       api_auth=OPERATOR) as running:
        yield running


@pytest.fixture(scope="module")
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture()
def operator(browser: Any, stack: Stack) -> Iterator[Console]:
    console = Console(browser, stack, OPERATOR)
    yield console
    assert console.errors == [], console.errors
    console.close()


@pytest.fixture()
def viewer(browser: Any, stack: Stack) -> Iterator[Console]:
    console = Console(browser, stack, VIEWER)
    yield console
    assert console.errors == [], console.errors
    console.close()


def dead_payments(harness: Harness, part: str, count: int) -> list[dict[str, Any]]:
    payments = []
    for number in range(count):
        payment = harness.create_payment(amount=4500 + number, currency="usd",
                                         customer={**CUSTOMER, "email": f"{part.lower()}-{number}@acme.example"},
                                         metadata={"epicor_part_num": part})
        assert {record["state"] for record in post_all_events(harness, payment)} == {"dead"}
        payments.append(payment)
    return payments


def dead_lettered(harness: Harness, payment: dict[str, Any]) -> str:
    """The id of an event of ``payment`` that has a dead-letter record."""
    records = harness.http.get(f"{harness.stack.web_url}/api/dlq", timeout=10).json()["records"]
    return next(event["id"] for event in payment["events"] if event["id"] in {record["id"] for record in records})


def group_card(page: Any, part: str) -> Any:
    return page.locator("article.group", has_text=part)


def wait_for_text(console: Console, path: str, text: str, timeout: float = 20) -> None:
    """The history is written a moment after the work (its drainer runs every half second)."""
    deadline = time.monotonic() + timeout
    while True:
        console.open(path)
        if text in console.page.content():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared on {path}")
        time.sleep(0.5)


def test_the_login_page_and_a_payment_found_by_charge_id_and_by_order_number(browser, stack, harness):
    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{stack.web_url}/console/failures")
    assert "/console/login" in anonymous.url
    screenshot(anonymous, "login", full_page=False)
    anonymous.context.close()

    payment = harness.create_payment(amount=3700, currency="usd", customer={**CUSTOMER, "email": "find@acme.example"})
    assert {record["state"] for record in post_all_events(harness, payment)} == {"done"}
    charge = payment["charge"]["id"]
    order_num = documents_for(harness.epicor(), payment)["orders"][0]["OrderNum"]
    console = Console(browser, stack, OPERATOR)
    wait_for_text(console, f"/console/search?q={charge}", "SalesOrder")
    page = console.page
    assert page.locator("table.events tbody tr").count() >= 1
    documents = page.locator("table.documents")
    assert documents.get_by_text(f"OrderNum {order_num}").count() >= 1
    console.shoot("search")
    page.locator("table.events tbody tr a").first.click()
    page.wait_for_url("**/console/events/**")
    assert page.locator("#event-state").inner_text().startswith("done")
    assert page.locator("table.timeline tbody tr").count() >= 2
    assert page.locator("table.documents").get_by_text(f"OrderNum {order_num}").count() >= 1
    assert page.locator('a[href*="dashboard.stripe.com/test/payments/"]').count() >= 1
    console.shoot("event")
    console.open(f"/console/search?q={order_num}")
    assert page.locator("table.documents").get_by_text(f"OrderNum {order_num}").count() >= 1
    assert page.locator("table.events").get_by_text(payment["events"][0]["id"]).count() >= 1
    assert console.errors == [], console.errors
    console.close()


def test_a_dead_letter_retried_from_the_failures_page_after_the_part_is_added_ends_done(operator, harness, stack):
    payment = dead_payments(harness, "NEWPART-7", 1)[0]
    event_id = dead_lettered(harness, payment)
    page = operator.open("/console/failures")
    card = group_card(page, "NEWPART-7")
    assert re.search(r"\d+ ×", card.locator("h2").inner_text())
    operator.shoot("failures")
    added = requests.post(f"{stack.sandbox_url}/_sandbox/epicor/parts", timeout=5, json={
        "PartNum": "NEWPART-7", "PartDescription": "New part", "UnitPrice": 45.0, "IUM": "EA", "SalesUM": "EA"})
    assert added.status_code < 300
    card.get_by_role("button", name=re.compile("Retry all")).click()
    page.locator("#failures .flash", has_text="retried").wait_for()
    assert group_card(page, "NEWPART-7").count() == 0
    operator.open(f"/console/events/{event_id}")
    page.locator("#event-state", has_text="done").wait_for(timeout=30_000)  # live part refreshes by itself
    assert {record["state"] for record in harness.wait(*(e["id"] for e in payment["events"]))} == {"done"}
    wait_for_text(operator, f"/console/events/{event_id}", "dlq.retry")
    assert OPERATOR[0] in page.locator("table.actions-log").inner_text()


def test_a_group_discarded_with_a_comment_shows_who_did_it_and_why(operator, harness):
    payments = dead_payments(harness, "NEWPART-8", 2)
    listing = harness.http.get(f"{harness.stack.web_url}/api/dlq", timeout=10).json()
    dead = next(group["count"] for group in listing["groups"] if "NEWPART-8" in group["message"])
    assert dead >= 2  # at least one per payment (its events may share one, depending on their order)
    page = operator.open("/console/failures")
    card = group_card(page, "NEWPART-8")
    assert card.locator("h2").inner_text().startswith(f"{dead} ×")
    card.get_by_role("button", name=f"Discard all {dead}").click()  # no comment: the browser refuses the form
    assert group_card(page, "NEWPART-8").count() == 1
    card.locator("input[name=comment]").fill("test payments, refunded by hand")
    card.get_by_role("button", name=f"Discard all {dead}").click()
    page.locator("#failures .flash", has_text=f"{dead} event(s) discarded").wait_for()
    event_id = next(e["id"] for e in payments[1]["events"] if e["id"] in {
        record["id"] for record in listing["records"]})
    wait_for_text(operator, f"/console/events/{event_id}", "dlq.discard")
    actions = page.locator("table.actions-log").inner_text()
    assert OPERATOR[0] in actions and "test payments, refunded by hand" in actions
    assert "refunded by hand" in page.locator("dl.facts").inner_text()  # discarded by whom, on the event itself


def test_a_viewer_sees_no_buttons_and_the_api_refuses_the_retry(viewer, harness, stack):
    payment = dead_payments(harness, "NEWPART-6", 1)[0]
    page = viewer.open("/console/failures")
    assert group_card(page, "NEWPART-6").count() == 1
    assert page.locator("button.retry").count() == 0 and page.locator("button.danger").count() == 0
    event_id = dead_lettered(harness, payment)
    viewer.open(f"/console/events/{event_id}")
    assert page.locator("text=Dead letter").count() == 1 and page.locator("button.retry").count() == 0
    refused = requests.post(f"{stack.web_url}/api/dlq/{event_id}/retry", auth=VIEWER, timeout=10)
    assert refused.status_code == 403
    allowed = requests.get(f"{stack.web_url}/api/dlq/{event_id}", auth=VIEWER, timeout=10)
    assert allowed.status_code == 200 and "NEWPART-6" in allowed.json()["message"]
