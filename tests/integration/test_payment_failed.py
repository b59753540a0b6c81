"""Failed payments end to end: an existing order is held with the decline reason; a payment that never
succeeded creates nothing; a failure the payment has since recovered from holds nothing."""

from __future__ import annotations

import pytest

from tests.integration.test_order_to_cash import CUSTOMER, documents_for
from tests.integration.test_refunds import deliver_all, paid_sale, sandbox

pytestmark = pytest.mark.integration


def test_a_declined_payment_creates_nothing_in_epicor(harness):
    declined = sandbox(harness, "/payments/declined", amount=5000, currency="usd",
                       customer={**CUSTOMER, "email": "declined@acme.example"}, decline_code="insufficient_funds")
    assert [e["type"] for e in declined["events"]] == ["charge.failed", "payment_intent.payment_failed"]
    records = deliver_all(harness, declined["events"])
    assert {r["state"] for r in records} == {"ignored"}, records
    assert all("never succeeded" in r["reason"] for r in records)
    dump = harness.epicor()
    assert documents_for(dump, declined)["orders"] == []
    assert not [c for c in dump["Customers"] if c["EMailAddress"] == "declined@acme.example"]


def test_a_payment_failing_after_its_order_was_posted_puts_the_order_on_hold_once(harness):
    payment = paid_sale(harness, "returned-debit@acme.example", amount=2500)
    failed = sandbox(harness, f"/payments/{payment['payment_intent']['id']}/fail", decline_code="insufficient_funds")
    records = deliver_all(harness, failed["events"], times=2)
    assert {r["state"] for r in records} == {"done"}, records
    order = documents_for(harness.epicor(), payment)["orders"][0]
    note = (f"Stripe payment {payment['payment_intent']['id']} failed: card_declined / insufficient_funds: "
            "Your card has insufficient funds.")
    assert order["OrderHeld"] is True and order["OrderComment"].count(note) == 1
    assert records[0]["epicor_keys"] == {"OrderNum": order["OrderNum"], "CustNum": order["CustNum"], "OrderHeld": True}


def test_a_stale_failure_of_a_payment_that_has_since_succeeded_holds_nothing(harness):
    payment = paid_sale(harness, "retried-card@acme.example", amount=1800)
    succeeded = next(e for e in payment["events"] if e["type"] == "payment_intent.succeeded")
    stale = {**succeeded, "id": "evt_stale_failure_" + payment["payment_intent"]["id"][-12:],
             "type": "payment_intent.payment_failed"}
    record = deliver_all(harness, [stale])[0]
    assert record["state"] == "ignored" and "since succeeded" in record["reason"]
    assert documents_for(harness.epicor(), payment)["orders"][0]["OrderHeld"] is False
