"""PCI scope: no card number or CVC is ever stored, and a payment method keeps at most brand, last4,
expiry and country.

The objects below are what Stripe answers for a card payment (``payment_method_details.card``, an
expanded PaymentMethod, a legacy ``source`` card, a customer's saved cards), with a card number and a
CVC planted where a careless normaliser would copy them. What ``order_to_cash.fetch`` hands on is the
stage input Redis keeps (and a dead-letter record copies); what the receiver keeps of an event is its
ids. Neither may hold a card-number-like digit run (13–19 digits passing Luhn) or a CVC.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from app.webhooks import stripe_event_summary
from tasks.flows import order_to_cash
from tests.fixtures import flow_context

PAN = "4242424242424242"
AMEX = "378282246310005"
CVC = "314"
ALLOWED_CARD_FIELDS = {"brand", "last4", "exp_month", "exp_year", "country"}
DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")

CARD = {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2030, "country": "US", "funding": "credit",
        "fingerprint": "Xt5EWLLDS7FJjR1c", "network": "visa", "number": PAN, "cvc": CVC,
        "checks": {"address_line1_check": "pass", "address_postal_code_check": "pass", "cvc_check": "pass"}}
CUSTOMER = {"id": "cus_Pci1", "object": "customer", "name": "Jenny Rosen", "email": "jenny@example.com",
            "phone": None, "address": {"line1": "510 Townsend St", "country": "US"}, "metadata": {},
            "default_source": "card_1Pci", "invoice_settings": {"default_payment_method": "pm_1Pci"},
            "sources": {"object": "list", "data": [{"id": "card_1Pci", "object": "card", **CARD}]}}
PAYMENT_METHOD = {"id": "pm_1Pci", "object": "payment_method", "type": "card", "card": CARD,
                  "billing_details": {"name": "Jenny Rosen"}}
INTENT = {"id": "pi_1Pci", "object": "payment_intent", "amount": 4900, "amount_received": 4900, "currency": "usd",
          "created": 1772625600, "description": "Order 1042", "metadata": {}, "customer": "cus_Pci1",
          "latest_charge": "ch_1Pci", "payment_method": PAYMENT_METHOD, "payment_method_types": ["card"],
          "last_payment_error": {"code": "card_declined", "payment_method": PAYMENT_METHOD}}
CHARGE = {"id": "ch_1Pci", "object": "charge", "amount": 4900, "amount_captured": 4900, "currency": "usd",
          "created": 1772625600, "description": "Order 1042", "metadata": {"order_ref": "WEB-1042"},
          "status": "succeeded", "captured": True, "paid": True, "customer": "cus_Pci1", "payment_intent": "pi_1Pci",
          "payment_method": "pm_1Pci", "source": {"id": "card_1Pci", "object": "card", **CARD},
          "payment_method_details": {"type": "card", "card": CARD},
          "billing_details": {"name": "Jenny Rosen", "email": "jenny@example.com", "phone": None,
                              "address": {"line1": "510 Townsend St", "city": "San Francisco", "state": "CA",
                                          "postal_code": "94103", "country": "US"}},
          "outcome": {"network_status": "approved_by_network", "type": "authorized"}}


def luhn(digits: str) -> bool:
    total = 0
    for index, digit in enumerate(int(d) for d in reversed(digits)):
        doubled = digit * 2 if index % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def card_numbers(text: str) -> list[str]:
    """Digit runs of 13–19 digits (spaces or dashes allowed between) that pass the Luhn check."""
    runs = (re.sub(r"[ -]", "", match.group()) for match in DIGIT_RUN.finditer(text))
    return [run for run in runs if 13 <= len(run) <= 19 and luhn(run)]


def card_like_sections(value: Any) -> list[dict[str, Any]]:
    """Every dict that describes a payment card (has last4 or exp_month)."""
    if isinstance(value, list):
        return [found for item in value for found in card_like_sections(item)]
    if not isinstance(value, dict):
        return []
    own = [value] if {"last4", "exp_month"} & set(value) else []
    return own + [found for item in value.values() for found in card_like_sections(item)]


class StripeAsItAnswers:
    """Answers with the objects above, expanding what is asked for."""

    objects = {"ch_1Pci": CHARGE, "pi_1Pci": INTENT, "cus_1Pci": CUSTOMER, "cus_Pci1": CUSTOMER}

    def _get(self, object_id: str, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        found = json.loads(json.dumps(self.objects[object_id]))
        for field in expand:
            if isinstance(found.get(field), str):
                found[field] = self._get(found[field])
        return found

    def charge(self, charge_id, *, expand=()): return self._get(charge_id, expand)
    def payment_intent(self, intent_id, *, expand=()): return self._get(intent_id, expand)
    def customer(self, customer_id): return self._get(customer_id)
    def invoice_paid_by(self, **_): return None
    def checkout_session_for(self, intent_id): return None


def stage_input(event_type: str, object_id: str) -> dict[str, Any]:
    ctx = SimpleNamespace(stripe=StripeAsItAnswers(), event={})
    return order_to_cash.fetch(ctx, {"event_id": "evt_1Pci", "type": event_type, "object_id": object_id})


def test_the_helpers_find_card_numbers():
    assert card_numbers(f"paid with {PAN} and {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}") == [PAN, AMEX]
    assert card_numbers("order 1234567890123 of 4242424242424241") == []  # fails Luhn
    assert card_numbers("amount 4900 last4 4242") == []


def test_the_planted_objects_do_carry_a_card_number():
    """Guard: the scan below would see a card number if fetch copied these objects whole."""
    assert card_numbers(json.dumps(CHARGE)) and card_numbers(json.dumps(INTENT))


def test_fetched_payment_keeps_no_card_number_no_cvc_and_no_card_details():
    for event_type, object_id in (("charge.succeeded", "ch_1Pci"), ("payment_intent.succeeded", "pi_1Pci")):
        stored = json.dumps(stage_input(event_type, object_id))
        assert card_numbers(stored) == []
        assert CVC not in re.findall(r"\d+", stored)
        assert "cvc" not in stored and "fingerprint" not in stored and "payment_method_details" not in stored
        for section in card_like_sections(json.loads(stored)):
            assert set(section) <= ALLOWED_CARD_FIELDS, section


def test_documents_for_epicor_hold_no_card_data():
    payment = stage_input("charge.succeeded", "ch_1Pci")
    ctx = flow_context()
    documents = order_to_cash.transform(ctx, payment)
    stored = json.dumps(documents)
    assert card_numbers(stored) == [] and "cvc" not in stored.lower()


def test_the_receiver_keeps_ids_only_of_an_event_with_card_details():
    event = {"id": "evt_1Pci", "object": "event", "type": "charge.succeeded", "api_version": "2024-06-20",
             "created": 1772625600, "livemode": False, "data": {"object": CHARGE}}
    summary = stripe_event_summary(json.dumps(event).encode())
    assert set(summary) == {"id", "source", "type", "object_id", "object_type", "api_version", "created",
                            "livemode", "account", "payment"}
    assert summary["payment"] == (CHARGE.get("payment_intent") or CHARGE["id"])
    assert card_numbers(json.dumps(summary)) == [] and "Jenny" not in json.dumps(summary)
