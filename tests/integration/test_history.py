"""The history store with the real stack: a payment's events, timeline and documents reach the
database; while the database refuses writes, records wait in Redis and nothing is lost.

The stack's history is an SQLite file of its own (``sandbox.stack``: ``DATABASE_URL``). The outage
is real for the drainer: this test holds SQLite's exclusive lock, so every write of the worker's
drainer fails (``database is locked``) until it is released. (PostgreSQL outages are covered by
``tests/unit/test_history_postgres.py``: a server that refuses connections, then answers again.)
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
import redis

from history import db, queries, recorder
from tests.integration.conftest import INTEGRATION_REDIS_URL

pytestmark = pytest.mark.integration

PRODUCT = {"product_name": "Widget", "product_metadata": {"epicor_part_num": "WIDGET-100"}, "unit_amount": 2500,
           "quantity": 1}


@pytest.fixture()
def history(stack, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", stack.env()["DATABASE_URL"])
    db.dispose_engines()
    yield queries
    db.dispose_engines()


def eventually(check, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("history never caught up")
        time.sleep(0.2)


def pay(harness) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    payment = harness.create_payment(amount=2500, currency="usd", customer={"name": "History Test Ltd",
                                     "email": "history@example.com"}, line_items=[PRODUCT])
    for event in payment["events"]:
        assert harness.deliver(event).status_code == 200
    return payment, harness.wait(*(event["id"] for event in payment["events"]))


def test_a_payment_lands_in_the_history_with_timeline_and_documents(harness, history):
    payment, records = pay(harness)
    assert {r["state"] for r in records} == {"done"}
    charge = payment["charge"]["id"]
    found = eventually(lambda: history.search(charge)["documents"] and history.search(charge))
    assert {e["id"] for e in found["events"]} >= {payment["events"][0]["id"]}
    details = [history.event_detail(e["id"]) for e in found["events"]]
    posted = next(d for d in details if d["documents"])
    assert [t["state"] for t in posted["timeline"]][0] == "received"
    assert posted["timeline"][-1]["state"] == "done"
    assert {"fetch", "transform", "validate", "post", "status_update"} <= {t["stage"] for t in posted["timeline"]}
    entities = {d["entity"]: d for d in posted["documents"]}
    assert set(entities) == {"Customer", "SalesOrder", "ARInvoice", "CashReceipt"}
    assert entities["CashReceipt"]["amount_text"] == "25.00" and entities["CashReceipt"]["currency"] == "usd"
    order_num = entities["SalesOrder"]["keys"]["OrderNum"]
    assert posted["id"] in {e["id"] for e in history.search(str(order_num))["events"]}
    assert {w["stripe_object"] for w in posted["writebacks"]} & {charge, payment["payment_intent"]["id"]}


def test_nothing_is_lost_while_the_history_database_refuses_writes(stack, harness, history):
    path = stack.env()["DATABASE_URL"].split("///", 1)[1]
    eventually(lambda: redis.Redis.from_url(INTEGRATION_REDIS_URL).xlen(recorder.STREAM) == 0)
    holder = sqlite3.connect(path, timeout=5, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the database is away for the drainer from now on
    try:
        payment, records = pay(harness)
        assert {r["state"] for r in records} == {"done"}  # the pipeline does not wait for the history
        time.sleep(2)
        assert redis.Redis.from_url(INTEGRATION_REDIS_URL).xlen(recorder.STREAM) > 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    sent = {event["id"] for event in payment["events"]}
    intent = payment["payment_intent"]["id"]  # every event of the payment names it
    found = eventually(lambda: {e["id"] for e in history.search(intent)["events"]} == sent
                       and history.search(intent), timeout=90)
    assert found["documents"]
    assert all(e["state"] == "done" for e in found["events"])
    eventually(lambda: redis.Redis.from_url(INTEGRATION_REDIS_URL).xlen(recorder.STREAM) == 0, timeout=90)
