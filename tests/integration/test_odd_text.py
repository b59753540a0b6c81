"""A legal payment whose text is odd still posts, with the text made safe (issue 11, point 2).

Stripe's JSON can carry lone UTF-16 surrogates (``"\\ud800"``), NUL and other control characters in
free text: a charge's description, a customer's name and address, metadata. The worker re-reads
those objects from Stripe, so they must be made safe (``clean_text``) before Redis (strict UTF-8),
the logs and Epicor: the payment ends ``done``, its documents carry the cleaned text.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

ODD = "\ud800 lone, NUL\x00 bell\x07 esc\x1b[0m del\x7f nel\x85 \udfff"


def test_a_payment_with_surrogates_nul_and_controls_in_its_text_posts_with_that_text_made_safe(harness):
    payment = harness.create_payment(
        amount=2100, currency="usd", description=f"Gift {ODD} wrap", metadata={"note": ODD, ODD: "x"},
        customer={"name": "Odd\x00 Name \ud800", "email": "odd.text@example.com", "phone": "+1 555\x07 0199",
                  "address": {"line1": f"1 Odd\x00 Street {ODD}", "city": "San\nFrancisco", "state": "CA",
                              "postal_code": "94105", "country": "US"}})
    assert payment["charge"]["description"] == f"Gift {ODD} wrap"  # Stripe serves the text as it is
    for event in payment["events"]:
        assert harness.deliver(event).status_code == 200
    records = harness.wait(*(event["id"] for event in payment["events"]))
    assert {record["state"] for record in records} == {"done"}, records
    dump = harness.epicor()
    order = next(o for o in dump["SalesOrders"] if o["IntExternalKey"] == payment["payment_intent"]["id"])
    assert order["OrderComment"].endswith("Gift \ufffd lone, NUL bell esc [0m del nel \ufffd wrap")
    customer = next(c for c in dump["Customers"] if c["ExternalID"] == payment["customer"]["id"])
    assert customer["Name"] == "Odd Name \ufffd"
    assert customer["City"] == "San Francisco" and customer["Address1"].startswith("1 Odd Street \ufffd lone, NUL")
    for text in (order["OrderComment"], customer["Name"], customer["Address1"], customer["City"]):
        assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F or 0xD800 <= ord(char) <= 0xDFFF for char in text)
