"""Customer sync end to end: customer.created / customer.updated → one Epicor customer, kept up to date."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.integration.test_order_to_cash import post_all_events
from tests.integration.test_subscriptions import epicor_customer, stripe_post

pytestmark = pytest.mark.integration


def customer_params(label: str) -> dict[str, str]:
    return {"name": f"Northwind {label}", "email": f"{label}@northwind.example", "phone": "+44 20 7946 0000",
            "address[line1]": "2 Canal Street", "address[city]": "Manchester", "address[postal_code]": "M1 3HE",
            "address[country]": "GB"}


def events_of(harness, object_id: str, event_type: str) -> list[dict[str, Any]]:
    events = [e for e in harness.stripe_dump()["event"]
              if e["type"] == event_type and e["data"]["object"].get("id") == object_id]
    return sorted(events, key=lambda e: e["created"])


def deliver(harness, event: dict[str, Any]) -> dict[str, Any]:
    assert harness.deliver(event).status_code == 200
    return harness.wait(event["id"])[0]


def test_new_stripe_customer_becomes_an_epicor_customer_and_gets_its_number_back(harness):
    created = stripe_post(harness, "customers", customer_params("created"))
    record = deliver(harness, events_of(harness, created["id"], "customer.created")[0])
    assert record["state"] == "done", record
    rows = epicor_customer(harness.epicor(), created["id"])
    assert len(rows) == 1
    row = rows[0]
    assert (row["Name"], row["EMailAddress"], row["PhoneNum"]) == \
        ("Northwind created", "created@northwind.example", "+44 20 7946 0000")
    assert (row["Address1"], row["City"], row["Zip"]) == ("2 Canal Street", "Manchester", "M1 3HE")
    assert record["epicor_keys"]["CustNum"] == row["CustNum"]
    writeback = events_of(harness, created["id"], "customer.updated")
    assert writeback and writeback[-1]["data"]["object"]["metadata"]["epicor_cust_num"] == str(row["CustNum"])
    echo = deliver(harness, writeback[-1])
    assert echo["state"] == "ignored"  # our own write-back comes back as customer.updated


def test_customer_update_changes_only_what_changed_in_epicor(harness):
    created = stripe_post(harness, "customers", customer_params("updated"))
    deliver(harness, events_of(harness, created["id"], "customer.created")[0])
    stripe_post(harness, f"customers/{created['id']}", {"email": "billing@northwind.example", "phone": "",
                                                        "address[line1]": "40 Deansgate",
                                                        "address[city]": "Manchester", "address[country]": "GB"})
    update = next(e for e in events_of(harness, created["id"], "customer.updated")
                  if "email" in (e["data"].get("previous_attributes") or {}))
    assert deliver(harness, update)["state"] == "done"
    rows = epicor_customer(harness.epicor(), created["id"])
    assert len(rows) == 1
    assert rows[0]["EMailAddress"] == "billing@northwind.example"
    assert rows[0]["Address1"] == "40 Deansgate" and rows[0]["Zip"] == ""
    assert rows[0]["PhoneNum"] == "+44 20 7946 0000"  # a blank in Stripe never wipes Epicor's value
    assert rows[0]["Name"] == "Northwind updated"


def test_payment_first_then_customer_created_makes_one_customer(harness):
    created = stripe_post(harness, "customers", customer_params("payfirst"))
    payment = harness.create_payment(amount=2500, currency="usd", customer=created["id"])
    post_all_events(harness, payment)
    record = deliver(harness, events_of(harness, created["id"], "customer.created")[0])
    assert record["state"] == "done"
    rows = epicor_customer(harness.epicor(), created["id"])
    assert len(rows) == 1 and record["epicor_keys"]["CustNum"] == rows[0]["CustNum"]


def test_customer_event_racing_the_payment_events_makes_one_customer(harness):
    created = stripe_post(harness, "customers", customer_params("race"))
    payment = harness.create_payment(amount=1800, currency="usd", customer=created["id"])
    events = [events_of(harness, created["id"], "customer.created")[0], *payment["events"]] * 2
    threads = [threading.Thread(target=harness.deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = harness.wait(*(event["id"] for event in events))
    assert {record["state"] for record in records} <= {"done", "ignored"}
    assert len(epicor_customer(harness.epicor(), created["id"])) == 1
