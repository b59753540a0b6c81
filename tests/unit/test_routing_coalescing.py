"""Coalescing is declared on the flow, in the routing table: which flows group the events of one payment and
how a payload names its payment, in a module the receiver can load without the worker."""

from __future__ import annotations

import pytest

from tasks import api, routing
from tests.unit.test_receiver_imports import loaded_after, worker_only


def test_only_order_to_cash_coalesces_and_its_events_group_by_payment():
    assert set(routing.COALESCING_FLOWS) == {"order_to_cash"}
    assert routing.coalescing_group("order_to_cash", "pi_1") == "order_to_cash:pi_1"
    assert routing.coalescing_group("refunds", "pi_1") is None  # a refund runs beside its sale's events
    assert routing.coalescing_group("order_to_cash", None) is None


@pytest.mark.parametrize(("obj", "expected"), [
    ({"object": "charge", "id": "ch_1", "payment_intent": "pi_1"}, "pi_1"),
    ({"object": "charge", "id": "ch_2"}, "ch_2"),
    ({"object": "payment_intent", "id": "pi_3"}, "pi_3"),
    ({"object": "invoice", "id": "in_1", "payment_intent": "pi_4"}, None),
    ({"object": "charge", "id": "x" * 256}, None),
])
def test_the_receiver_reads_the_payment_through_the_enqueue_api(obj, expected):
    assert api.payment_hint(obj) == routing.payment_hint(obj) == expected


def test_a_new_coalescing_flow_needs_only_its_entry_in_the_table(monkeypatch):
    monkeypatch.setitem(routing.COALESCING_FLOWS, "stripe_invoice",
                        lambda obj: obj["id"] if obj.get("object") == "invoice" else None)
    assert routing.payment_hint({"object": "invoice", "id": "in_1"}) == "in_1"
    assert routing.coalescing_group("stripe_invoice", "in_1") == "stripe_invoice:in_1"


def test_routing_and_its_hints_load_no_worker_module():
    loaded = loaded_after("import tasks.routing, tasks.payment_hints")
    assert "tasks.payment_hints" in loaded and worker_only(loaded) == []
