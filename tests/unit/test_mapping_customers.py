"""Stripe customer → Epicor customer: matching, contact changes and the customer's standing."""

from __future__ import annotations

import pytest

from tasks.mapping.customers import (
    contact_changes,
    customer_match,
    merged_comment,
    should_hold,
    standing_changes,
    subscription_line,
    wanted_contact,
)
from tasks.mapping.order_to_cash import customer_section
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR

CUSTOMER = {"id": "cus_QXg1o8vcGmoR32", "name": "Harbour Analytics", "email": "accounts@harbour.example",
            "phone": "+44 113 496 0000", "metadata": {}, "currency": "gbp",
            "address": {"line1": "14 Park Row", "line2": None, "city": "Leeds", "state": None,
                        "postal_code": "LS1 5HD", "country": "GB"}}


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def test_customer_is_matched_and_named_exactly_as_the_payment_flow_would(mappings):
    section = customer_match(CUSTOMER, mappings, "GBP")
    payer = customer_section({"charge": {"id": "ch_1", "metadata": {}, "billing_details": {},
                                         "customer": CUSTOMER["id"]}, "customer": CUSTOMER}, mappings, "GBP")
    assert section == payer
    assert section["match"]["external_id"] == "cus_QXg1o8vcGmoR32"
    assert section["create"]["Name"] == "Harbour Analytics" and section["create"]["City"] == "Leeds"


def test_customer_without_currency_takes_epicors_base_currency(mappings):
    section = customer_match({**CUSTOMER, "currency": None}, mappings, "")
    assert "CurrencyCode" not in section["create"]


def test_epicor_number_in_metadata_wins(mappings):
    section = customer_match({**CUSTOMER, "metadata": {"epicor_cust_num": "245"}}, mappings, "GBP")
    assert section["match"]["cust_num"] == 245


def test_only_differing_contact_fields_change_and_blanks_never_wipe(mappings):
    row = {"Name": "Harbour Analytics", "EMailAddress": "old@harbour.example", "PhoneNum": "+44 1",
           "Address1": "14 Park Row", "Address2": "", "Address3": "", "City": "Leeds", "State": "",
           "Zip": "LS1 5HD", "Country": "United Kingdom"}
    wanted = wanted_contact({**CUSTOMER, "phone": None}, mappings)
    assert "PhoneNum" not in wanted
    assert contact_changes(row, wanted) == {"EMailAddress": "accounts@harbour.example"}
    assert contact_changes(row, wanted_contact({**CUSTOMER, "address": None, "phone": None,
                                                "email": "old@harbour.example"}, mappings)) == {}


def test_hold_follows_delinquency_and_past_due_subscriptions():
    assert should_hold({"delinquent": True}, [])
    assert should_hold({"delinquent": False}, [{"id": "sub_1", "status": "past_due"}])
    assert should_hold(None, [{"id": "sub_1", "status": "unpaid"}])
    assert not should_hold({"delinquent": False}, [{"id": "sub_1", "status": "active"},
                                                   {"id": "sub_2", "status": "canceled"}])


def test_subscription_line_lists_the_newest_first():
    line = subscription_line([{"id": "sub_old", "status": "canceled", "created": 1},
                              {"id": "sub_new", "status": "active", "created": 2}])
    assert line == "Stripe subscriptions: sub_new active, sub_old canceled"
    assert subscription_line([]) == ""


def test_comment_keeps_what_the_accountant_wrote():
    comment = "Call before shipping\nStripe subscriptions: sub_1 active"
    assert merged_comment(comment, "Stripe subscriptions: sub_1 past_due") == \
        "Call before shipping\nStripe subscriptions: sub_1 past_due"
    assert merged_comment("Call before shipping", "") == "Call before shipping"


def test_standing_releases_only_a_hold_the_integration_placed():
    line = "Stripe subscriptions: sub_1 active"
    held = {"CreditHold": True, "Comment": line}
    assert standing_changes(held, hold=False, hold_is_ours=True, line=line) == {"CreditHold": False}
    assert standing_changes(held, hold=False, hold_is_ours=False, line=line) == {}
    assert standing_changes({"CreditHold": False, "Comment": ""}, hold=True, hold_is_ours=False,
                            line="Stripe subscriptions: sub_1 past_due") == \
        {"CreditHold": True, "Comment": "Stripe subscriptions: sub_1 past_due"}
    assert standing_changes({"CreditHold": False, "Comment": "note"}, hold=False, hold_is_ours=False, line="") == {}
