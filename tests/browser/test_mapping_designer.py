"""The mapping designer in a real browser (Playwright driving Debian's chromium), against a real stack.

As an administrator would use it, on a stack of its own (sandbox, gunicorn, a Celery worker, Redis, the
history) with two admins, an operator and a viewer:

- drag the charge's description onto the sales order's PONum: the row and the whole document show the
  payment's description at once; publish it with a comment; the next sandbox payment carries its
  description in Epicor's PONum; restore version 1 and the payment after carries the charge id again;
- pick a source with the keyboard and give it a transform too long for the field: the error is on the row;
- a second admin publishes while the first is editing: the page shows the warning and overwrites nothing;
- a payment dead-lettered by a mapping is fixed and retried from the same page and reaches Epicor;
- a viewer and an operator get the forbidden page, no nav link, and the API refuses their publish;
- no page logs a console error or an uncaught exception.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import expect

from sandbox.stack import Stack
from tests.browser.conftest import Console, console_stack, screenshot
from tests.integration.conftest import Harness

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ADMIN = ("ada", "admin-password-for-the-designer-test")
ADMIN2 = ("bert", "second-admin-password-for-the-designer-test")
OPERATOR = ("olga", "operator-password-for-the-designer-test")
VIEWER = ("victor", "viewer-password-for-the-designer-test")
FLOW = "order_to_cash"
PAGE = f"/console/mappings?flow={FLOW}&document=sales_order"
PO_ROW = "#row-header-PONum"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    users = [(*ADMIN, "admin"), (*ADMIN2, "admin"), (*OPERATOR, "operator"), (*VIEWER, "viewer")]
    with console_stack(tmp_path_factory.mktemp("designer-stack"), users, api_auth=ADMIN) as running:
        yield running


@pytest.fixture(scope="module")
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.fixture()
def admin(browser: Any, stack: Stack) -> Iterator[Console]:
    console = Console(browser, stack, ADMIN, width=1440, height=1000)
    yield console
    assert console.errors == [], console.errors
    console.close()


def api(stack: Stack, user: tuple[str, str]) -> requests.Session:
    session = requests.Session()
    session.auth = user
    return session


def pay(harness: Harness, description: str | None, state: str = "done") -> tuple[dict[str, Any], str]:
    spec: dict[str, Any] = {"amount": 4200, "currency": "usd",
                            "customer": {"name": "Designer Test Ltd", "email": "ap@designer.example"}}
    if description is not None:
        spec["description"] = description
    payment = harness.create_payment(**spec)
    charge_event = next(event for event in payment["events"] if event["type"] == "charge.succeeded")
    assert harness.deliver(charge_event).status_code == 200
    assert harness.wait(charge_event["id"])[0]["state"] == state
    return payment, charge_event["id"]


def po_number(harness: Harness, payment: dict[str, Any]) -> str:
    intent = payment["payment_intent"]["id"]
    return next(order for order in harness.epicor()["SalesOrders"] if order["IntExternalKey"] == intent)["PONum"]


def wait_for_sample(stack: Stack, event_id: str, timeout: float = 20) -> None:
    """The samples come from the history, written a moment after the work (its drainer runs every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = api(stack, ADMIN).get(f"{stack.web_url}/api/designer/{FLOW}/samples", timeout=10).json()
        if event_id in {sample["event_id"] for sample in found["samples"]}:
            return
        time.sleep(0.5)
    raise AssertionError(f"{event_id} never listed as a sample")


def open_designer(console: Console, event_id: str) -> Any:
    page = console.open(f"{PAGE}&event_id={event_id}")
    page.wait_for_selector(f"{PO_ROW} .status .badge")
    assert page.input_value("#sample") == event_id
    return page


def current_version(stack: Stack) -> int:
    entry = next(m for m in api(stack, ADMIN).get(f"{stack.web_url}/api/mappings", timeout=10).json()["mappings"]
                 if m["flow"] == FLOW and m["document"] == "sales_order")
    return int(entry["current"])


def test_drag_a_source_publish_it_reach_epicor_then_restore(admin, stack, harness):
    first, event_id = pay(harness, "Order 1001 from the webshop")
    assert po_number(harness, first) == first["charge"]["id"]
    wait_for_sample(stack, event_id)
    page = open_designer(admin, event_id)
    expect(page.locator(f"{PO_ROW} .resolved")).to_have_text(first["charge"]["id"])
    assert "Customer PO number" in page.inner_text(PO_ROW) and "string (50)" in page.inner_text(PO_ROW)

    page.fill("#source-search", "description")
    page.drag_and_drop('button.source[data-path="charge.description"]', f"{PO_ROW} td.drop")
    expect(page.locator(f"{PO_ROW} .resolved")).to_have_text("Order 1001 from the webshop")
    assert "charge.description" in page.inner_text(f"{PO_ROW} td.drop")
    assert '"PONum": "Order 1001 from the webshop"' in page.inner_text("#document-json")
    assert "PONum: {from: charge.description}" in page.text_content("#draft-yaml")
    assert "# Field mapping" in page.text_content("#draft-yaml")  # the file's comments are kept
    page.fill("#source-search", "")
    screenshot(page, "mapping-designer")

    page.click("#show-diff")
    page.wait_for_selector("#diff:not([hidden])")
    assert "+    PONum: {from: charge.description}" in page.inner_text("#diff")
    page.click("#publish")
    assert "comment is required" in page.inner_text("#message")
    page.fill("#publish-comment", "PO number from the payment description")
    page.click("#publish")
    expect(page.locator("#message")).to_contain_text("Published version 2")
    page.wait_for_selector('#history tr[data-version="2"]')
    assert "PO number from the payment description" in page.inner_text('#history tr[data-version="2"]')
    assert ADMIN[0] in page.inner_text('#history tr[data-version="2"]')
    screenshot(page, "mapping-designer-published")

    second, _ = pay(harness, "Order 1002 from the webshop")
    assert po_number(harness, second) == "Order 1002 from the webshop"

    page.fill("#restore-comment", "back to the charge id")
    page.click('#history tr[data-version="1"] button.restore')
    expect(page.locator("#message")).to_contain_text("Restored version 1 as version 3")
    expect(page.locator(f"{PO_ROW} td.drop code")).to_have_text("charge.id")
    third, _ = pay(harness, "Order 1003 from the webshop")
    assert po_number(harness, third) == third["charge"]["id"]


def test_keyboard_pick_and_a_transform_too_long_shows_the_error_on_its_row(admin, stack, harness):
    _, event_id = pay(harness, "Keyboard order")
    wait_for_sample(stack, event_id)
    page = open_designer(admin, event_id)
    page.fill("#source-search", "charge.description")
    page.focus('button.source[data-path="charge.description"]')
    page.keyboard.press("Enter")
    assert "Picked: charge.description" in page.inner_text("#picked")
    page.focus(f"{PO_ROW} button.map-here")
    page.keyboard.press("Enter")
    expect(page.locator(f"{PO_ROW} .resolved")).to_have_text("Keyboard order")

    page.click(f"{PO_ROW} button:has-text('Transforms')")
    editor = page.locator("tr.editor")
    editor.locator("select[aria-label='Transform to add']").select_option("truncate")
    editor.locator("button:has-text('Add transform')").click()
    assert "Cut text to a length" in editor.inner_text() or "truncate" in editor.inner_text()
    editor.locator(".param input").first.fill("60")
    editor.locator(".param input").first.dispatch_event("change")
    editor.locator("button:has-text('Apply')").click()
    page.wait_for_selector(f"{PO_ROW} .row-error")
    assert "truncate length 60 is more than the 50 characters" in page.inner_text(f"{PO_ROW} .status")
    screenshot(page, "mapping-designer-row-error")


def test_a_second_admin_publishing_meanwhile_is_a_warning_not_an_overwrite(admin, stack, harness):
    _, event_id = pay(harness, "Concurrent order")
    wait_for_sample(stack, event_id)
    page = open_designer(admin, event_id)
    page.fill("#source-search", "description")
    page.drag_and_drop('button.source[data-path="charge.description"]', f"{PO_ROW} td.drop")
    expect(page.locator(f"{PO_ROW} .resolved")).to_have_text("Concurrent order")

    live = current_version(stack)
    other = api(stack, ADMIN2)
    text = other.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["text"]
    theirs = text.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}")
    made = other.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/publish", timeout=10,
                      json={"yaml": theirs, "comment": "the other admin's change", "base_version": live})
    assert made.status_code == 201, made.text

    page.fill("#publish-comment", "my change")
    page.click("#publish")
    page.wait_for_selector("#warning:not([hidden])")
    assert f"someone else published version {live + 1}" in page.inner_text("#warning")
    screenshot(page, "mapping-designer-conflict", full_page=False)
    assert current_version(stack) == live + 1
    admin.expected_refusal("409 (CONFLICT)")
    now = api(stack, ADMIN).get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["text"]
    assert now == theirs  # the second admin's change stands
    restored = other.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/restore", timeout=10,
                          json={"version": 1, "comment": "tidy up after the test", "base_version": live + 1})
    assert restored.status_code == 201, restored.text


def test_a_dead_lettered_payment_is_fixed_and_retried_from_the_page(admin, stack, harness):
    """A mapping that requires the description dead-letters a payment without one; the admin maps the charge
    id instead on the same page, publishes, retries the event, and it reaches Epicor."""
    page = admin.open(PAGE)
    page.wait_for_selector(f"{PO_ROW} .status .badge")
    strict = api(stack, ADMIN)
    text = strict.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["text"]
    required = text.replace("PONum: {from: charge.id}", "PONum: {from: charge.description, required: true}")
    assert strict.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/publish", timeout=10, json={
        "yaml": required, "comment": "PO number must come from the description",
        "base_version": current_version(stack)}).status_code == 201
    payment, event_id = pay(harness, None, state="dead")
    wait_for_sample(stack, event_id)

    page = open_designer(admin, event_id)
    assert "dead-lettered" in page.inner_text("#sample")
    page.wait_for_selector("#dead-box:not([hidden])")
    assert "PONum" in page.inner_text("#dead-reason")
    page.wait_for_selector(f"{PO_ROW} .row-error")  # the draft (the live version) fails on this event's row
    page.fill("#source-search", "charge.id")
    page.drag_and_drop('button.source[data-path="charge.id"]', f"{PO_ROW} td.drop")
    expect(page.locator(f"{PO_ROW} .resolved")).to_have_text(payment["charge"]["id"])
    assert page.locator(f"{PO_ROW} .row-error").count() == 0
    assert "What was posted" in page.inner_text("#dryrun") and "Nothing was posted" in page.inner_text("#dry-posted")
    screenshot(page, "mapping-designer-dead-letter")
    page.fill("#publish-comment", "the charge id again: payments without a description")
    page.click("#publish")
    expect(page.locator("#message")).to_contain_text("Published version")
    page.click("#retry-event")
    expect(page.locator("#message")).to_contain_text("queued again")
    assert harness.wait(event_id)[0]["state"] == "done"
    assert po_number(harness, payment) == payment["charge"]["id"]


def test_suggestions_show_confidence_and_reasons_and_an_accepted_one_maps_the_row(admin, stack, harness):
    before = current_version(stack)
    page = admin.open(PAGE)
    page.wait_for_selector(f"{PO_ROW} .status .badge")
    page.select_option("#add-field", "header.NeedByDate")
    page.click("#add-field-go")
    page.click("#row-header-NeedByDate button.suggest")
    best = page.locator("tr.suggestion-row li.suggestion").first
    expect(best).to_be_visible()
    shown = best.inner_text()
    assert any(level in shown for level in ("high", "medium", "low")), shown  # a confidence, with reasons
    source = best.locator("code").first.inner_text()
    best.locator("button:has-text('Accept')").click()
    expect(page.locator("#row-header-NeedByDate td.drop code")).to_contain_text(source.split(".")[-1])
    verdicts = redis.Redis.from_url(stack.redis_url, decode_responses=True).hgetall(
        "sec:assist:verdicts:OrderHed.NeedByDate")
    assert verdicts == {source: "1"}  # the site's acceptance, learned from
    assert current_version(stack) == before  # nothing is published by suggesting or accepting


@pytest.mark.parametrize("user", [OPERATOR, VIEWER])
def test_a_viewer_and_an_operator_cannot_open_the_designer_or_publish(browser, stack, user):
    console = Console(browser, stack, user, width=1440, height=1000)
    page = console.open("/console/")
    assert page.locator('nav a[href="/console/mappings"]').count() == 0
    page = console.open(PAGE)
    assert "Not allowed" in page.inner_text("main") and "admin role" in page.inner_text("main")
    console.close()
    session = api(stack, user)
    text = session.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["text"]
    refused = session.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/publish", timeout=10,
                           json={"yaml": text + "\n", "comment": "not allowed", "base_version": 1})
    assert refused.status_code == 403
    assert session.get(f"{stack.web_url}/api/designer/{FLOW}/sales_order", timeout=10).status_code == 403
