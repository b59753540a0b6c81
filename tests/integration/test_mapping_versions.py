"""Mapping versions on the real stack: a mapping published over the API changes what the running worker
posts to Epicor from the next payment, with no restart; a preview of an event equals, field for field, what
was posted; a bad mapping is refused with file, line and field and never reaches the worker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

FLOW = "order_to_cash"
ADMIN = ("mapping-admin", "mapping-admin-password")


@pytest.fixture(scope="module")
def admin(stack) -> requests.Session:
    """An admin console user added to the running stack's users file (the web reads it on change)."""
    from app.console.users import user_line, write_user

    write_user(stack.console_users_path, ADMIN[0], user_line(ADMIN[0], ADMIN[1], "admin", rounds=4))
    session = requests.Session()
    session.auth = ADMIN
    return session


@pytest.fixture()
def restore_after(admin, stack):
    """Put the sales order mapping back to the shipped file after the test (as a new version)."""
    yield
    current = admin.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()
    if current["version"] != 1 and current["text"] != base_text(admin, stack):
        admin.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/restore", timeout=10,
                   json={"version": 1, "comment": "test cleanup", "base_version": current["version"]})


def base_text(admin, stack) -> str:
    return admin.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order?version=1", timeout=10).json()["text"]


def pay(harness, description: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    payment = harness.create_payment(amount=4200, currency="usd", description=description,
                                     customer={"name": "Mapping Versions Ltd", "email": "ap@versions.example"})
    charge_event = next(event for event in payment["events"] if event["type"] == "charge.succeeded")
    assert harness.deliver(charge_event).status_code == 200
    return payment, harness.wait(charge_event["id"])


def order_row(harness, payment: dict[str, Any]) -> dict[str, Any]:
    intent = payment["payment_intent"]["id"]
    return next(order for order in harness.epicor()["SalesOrders"] if order["IntExternalKey"] == intent)


def same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, str) and isinstance(stored, (int, float)) and not isinstance(stored, bool):
        return Decimal(sent) == Decimal(str(stored))
    if isinstance(sent, str) and isinstance(stored, str) and len(sent) == 10 and sent[4] == "-":
        return stored.startswith(sent)  # a date comes back as a date-time
    return sent == stored


def test_a_published_mapping_reaches_epicor_on_the_next_payment_without_a_restart(harness, admin, stack,
                                                                                  restore_after):
    before, _ = pay(harness, "Order 7001 before the change")
    assert order_row(harness, before)["PONum"] == before["charge"]["id"]
    text = base_text(admin, stack).replace("PONum: {from: charge.id}",
                                           "PONum: {from: charge.description, transforms: [{name: truncate, "
                                           "length: 50}]}")
    current = admin.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["version"]
    made = admin.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/publish", timeout=10,
                      json={"yaml": text, "comment": "PO number from the payment description",
                            "base_version": current})
    assert made.status_code == 201, made.text
    after, records = pay(harness, "Order 7002 after the change")
    assert records[0]["state"] == "done", records[0]
    assert order_row(harness, after)["PONum"] == "Order 7002 after the change"
    assert records[0]["mapping_version"]["sales_order"] == made.json()["version"]


def test_a_preview_of_an_event_equals_what_was_posted(harness, admin, stack):
    payment, records = pay(harness, "Order 7003 previewed")
    assert records[0]["state"] == "done"
    shown = admin.post(f"{stack.web_url}/api/mappings/preview", json={"event_id": records[0]["id"]}, timeout=30)
    assert shown.status_code == 200 and shown.json()["ok"] is True, shown.text
    assert shown.json()["source"] == "stage_input"
    order = next(document for document in shown.json()["documents"] if document["kind"] == "sales_order")
    row = order_row(harness, payment)
    lines = sorted((d for d in harness.epicor()["OrderDtls"] if d["OrderNum"] == row["OrderNum"]),
                   key=lambda d: d["OrderLine"])
    keys = {"CustNum": row["CustNum"], "OrderNum": row["OrderNum"]}
    for sent, stored in [(order["header"], row), *zip(order["lines"], lines, strict=True)]:
        for name, value in sent.items():
            expected = keys[value[2:-2]] if isinstance(value, str) and value.startswith("{{") else value
            assert same(expected, stored[name]), (name, expected, stored[name])


def test_a_bad_mapping_is_refused_with_file_line_and_field_and_never_reaches_the_worker(harness, admin, stack):
    text = base_text(admin, stack).replace("PONum: {from: charge.id}", "PONum: {from: charge.descripton}")
    current = admin.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["version"]
    refused = admin.post(f"{stack.web_url}/api/mappings/{FLOW}/sales_order/publish", timeout=10,
                         json={"yaml": text, "comment": "a typo", "base_version": current})
    assert refused.status_code == 422
    line = text.splitlines().index("    PONum: {from: charge.descripton}") + 1
    assert refused.json()["errors"][0].startswith(f"documents/{FLOW}/sales_order.yaml:{line}: header.PONum.from:")
    assert admin.get(f"{stack.web_url}/api/mappings/{FLOW}/sales_order", timeout=10).json()["version"] == current
    payment, records = pay(harness, "Order 7004 after a refused change")
    assert records[0]["state"] == "done"
    assert order_row(harness, payment)["PONum"] != "Order 7004 after a refused change"
