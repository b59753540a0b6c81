"""Lookup tables and the flow view in a real browser (Playwright driving Debian's chromium) over a real stack.

An admin edits a part mapping: an unknown part is flagged as it is typed, a known one accepted (the
check asks the sandbox's Epicor through the connector); publishing makes the next sandbox payment post that
part, with no restart. A CSV exported, changed and imported becomes a draft; a CSV with a wrong line is
refused by line and applies nothing. A flow switched off records the next payment's event as ignored with
who, when and why; switched on, payments post again. A viewer sees the rows and the flows, with no input
and no switch, and the API refuses their changes. No page logs a console error.
Screenshots of both pages go to ``SCREENSHOTS_DIR`` (conftest).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.stack import Stack
from tests.browser.conftest import Console, console_stack, screenshot
from tests.integration.conftest import Harness

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ADMIN = ("ada", "admin-password-for-the-tables-test")
VIEWER = ("vera", "viewer-password-for-the-tables-test")
CUSTOMER = {"name": "Tables Test Ltd", "email": "tables@example.test"}
SWITCH_READ_SECONDS = 1.2  # a worker reads tables and switches at most once a second


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with console_stack(tmp_path_factory.mktemp("tables-stack"), [(*ADMIN, "admin"), (*VIEWER, "viewer")],
                       api_auth=ADMIN) as running:
        yield running


@pytest.fixture(scope="module")
def harness(stack: Stack) -> Harness:
    return Harness(stack)


def logged_in(browser: Any, stack: Stack, user: tuple[str, str]) -> Iterator[Any]:
    console = Console(browser, stack, user)
    yield console.page
    assert console.errors == []
    console.close()


@pytest.fixture()
def admin(browser, stack):
    yield from logged_in(browser, stack, ADMIN)


@pytest.fixture()
def viewer(browser, stack):
    yield from logged_in(browser, stack, VIEWER)


def pay(harness: Harness, amount: int = 4200) -> tuple[dict[str, Any], dict[str, Any]]:
    payment = harness.create_payment(amount=amount, currency="usd", customer=CUSTOMER)
    charge_event = next(event for event in payment["events"] if event["type"] == "charge.succeeded")
    assert harness.deliver(charge_event).status_code == 200
    return payment, harness.wait(charge_event["id"])[0]


def order_parts(harness: Harness, payment: dict[str, Any]) -> list[str]:
    dump = harness.epicor()
    order = next(o for o in dump["SalesOrders"] if o["IntExternalKey"] == payment["payment_intent"]["id"])
    return [line["PartNum"] for line in dump["OrderDtls"] if line["OrderNum"] == order["OrderNum"]]


def row_of(page: Any, key: str) -> Any:
    """The editor's row whose key input holds ``key`` now (typed or imported), or an empty locator."""
    keys = page.locator("#rows tr.row input.key").evaluate_all("inputs => inputs.map(input => input.value)")
    return page.locator("#rows tr.row").nth(keys.index(key)) if key in keys else page.locator("#rows tr.no-such-row")


def wait_text(locator: Any, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while text not in (locator.inner_text() or ""):
        assert time.monotonic() < deadline, f"{text!r} never showed; it reads {locator.inner_text()!r}"
        time.sleep(0.1)


def test_a_part_checked_as_it_is_typed_and_published_reaches_the_next_payment(admin, stack, harness):
    before, record = pay(harness)
    assert record["state"] == "done" and order_parts(harness, before) == ["STRIPE-SALE"]
    admin.goto(f"{stack.web_url}/console/tables/parts.yaml")
    row = row_of(admin, "default_part")
    wait_text(row.locator("td.check"), "exists in Epicor")
    row.locator("input.value").fill("NOPE-404")
    wait_text(row.locator("td.check"), "Part 'NOPE-404' is not in Epicor: create it in Part Maintenance")
    admin.fill("#comment", "book unmatched sales to the widget")
    admin.click("#publish")
    wait_text(admin.locator("#publish-result"), "not have")  # refused in the page: a code Epicor lacks
    row.locator("input.value").fill("WIDGET-100")
    wait_text(row.locator("td.check"), "Part 'WIDGET-100' exists in Epicor")
    screenshot(admin, "tables-editor")
    admin.click("#publish")
    wait_text(admin.locator("#publish-result"), "Published version 2 of parts.yaml")
    admin.wait_for_load_state("load")
    time.sleep(SWITCH_READ_SECONDS)
    after, record = pay(harness, 4300)
    assert record["state"] == "done", record
    assert order_parts(harness, after) == ["WIDGET-100"]
    admin.goto(f"{stack.web_url}/console/tables/parts.yaml")
    wait_text(admin.locator("#versions"), "book unmatched sales to the widget")


def test_csv_round_trip_and_a_wrong_line_applies_nothing(admin, stack, tmp_path: Path):
    admin.goto(f"{stack.web_url}/console/tables/parts.yaml")
    with admin.expect_download() as download:
        admin.click("#csv-export")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "default_part,WIDGET-100" in exported
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(exported + "products.prod_TablesTest,GADGET-200,extra\r\n", encoding="utf-8")
    admin.set_input_files("#csv-file", str(wrong))
    wait_text(admin.locator("#csv-result"), "nothing was applied")
    assert "a line needs 2 cells" in admin.locator("#csv-result").inner_text()
    assert row_of(admin, "products.prod_TablesTest").count() == 0
    good = tmp_path / "good.csv"
    good.write_text(exported + "products.prod_TablesTest,GADGET-200\r\n", encoding="utf-8")
    admin.set_input_files("#csv-file", str(good))
    wait_text(admin.locator("#csv-result"), "as a draft")
    wait_text(row_of(admin, "products.prod_TablesTest").locator("td.check"), "exists in Epicor")
    admin.fill("#comment", "gadget product from the CSV")
    admin.click("#publish")
    wait_text(admin.locator("#publish-result"), "Published version 3")
    admin.wait_for_load_state("load")
    api = requests.get(f"{stack.web_url}/api/tables/parts.yaml/csv", auth=ADMIN, timeout=10).text
    assert "products.prod_TablesTest,GADGET-200" in api and "default_part,WIDGET-100" in api


def test_a_flow_switched_off_records_its_events_ignored_with_who_when_and_why(admin, stack, harness):
    admin.goto(f"{stack.web_url}/console/flows")
    form = admin.locator("form.flow-switch[data-flow=order_to_cash]")
    form.locator("input[name=comment]").fill("Epicor period close")
    form.locator("button[type=submit]").click()
    admin.wait_for_url(f"{stack.web_url}/console/flows")
    wait_text(admin.locator("#flow-order_to_cash"), "switched off by ada")
    screenshot(admin, "flows", full_page=False)
    time.sleep(SWITCH_READ_SECONDS)
    payment, record = pay(harness, 1999)
    assert record["state"] == "ignored", record
    assert record["reason"].startswith("flow order_to_cash switched off by ada at ")
    assert record["reason"].endswith(": Epicor period close")
    assert not any(o["IntExternalKey"] == payment["payment_intent"]["id"] for o in harness.epicor()["SalesOrders"])
    form = admin.locator("form.flow-switch[data-flow=order_to_cash]")
    form.locator("input[name=comment]").fill("close done")
    form.locator("button[type=submit]").click()
    admin.wait_for_url(f"{stack.web_url}/console/flows")
    wait_text(admin.locator("#flow-order_to_cash h2"), "on")
    time.sleep(SWITCH_READ_SECONDS)
    _, record = pay(harness, 2001)
    assert record["state"] == "done", record
    deadline = time.monotonic() + 20  # the live fragment counts the posts without a reload
    while int(admin.locator("#flow-order_to_cash .chain [data-stage=post] dd.ok").inner_text()) < 3:
        assert time.monotonic() < deadline, "the flow view never showed the posts"
        admin.wait_for_timeout(500)


def test_a_viewer_reads_but_cannot_edit(viewer, stack):
    viewer.goto(f"{stack.web_url}/console/tables/parts.yaml")
    assert viewer.locator("#editor").count() == 0 and viewer.locator("main input").count() == 0
    wait_text(viewer.locator("#rows"), "default_part")
    viewer.goto(f"{stack.web_url}/console/flows")
    assert viewer.locator("form.flow-switch").count() == 0
    wait_text(viewer.locator("#routing"), "charge.refunded")
    refused = requests.post(f"{stack.web_url}/api/tables/parts.yaml/publish", auth=VIEWER, timeout=10,
                            json={"rows": [], "comment": "x", "base_version": 1})
    assert refused.status_code == 403
    switch = requests.post(f"{stack.web_url}/api/flows/order_to_cash/switch", auth=VIEWER, timeout=10,
                           json={"on": False, "comment": "x"})
    assert switch.status_code == 403
