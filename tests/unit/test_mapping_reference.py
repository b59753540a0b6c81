"""The catalogue of reference data: each kind's policy, and the accountant's text for a missing code."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from tasks.mapping.reference import CATALOGUE, MissingReference, from_refusal, missing, missing_message
from tasks.mapping.tables import load_mappings

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture()
def mappings():
    site = load_mappings(MAPPINGS_DIR)
    return dataclasses.replace(site, products=MappingProxyType({"prod_1": "WIDGET-100"}))


def test_the_policy_agreed_for_each_kind():
    created = {kind for kind, entry in CATALOGUE.items() if entry.policy == "create"}
    assert created == {"catch_all_customer", "invoice_group", "cash_group"}
    assert {"part", "currency", "terms", "reason", "bank_account"} <= set(CATALOGUE) - created


def test_a_part_mapped_from_a_product_names_the_file_the_key_and_the_screen(mappings):
    assert missing_message("part", "WIDGET-100", mappings) == (
        "Part 'WIDGET-100' is not in Epicor: create it in Part Maintenance, or map product prod_1 to an existing "
        "part in mappings/parts.yaml key products.prod_1")


def test_the_default_part_and_a_part_from_metadata(mappings):
    assert "mappings/parts.yaml key default_part" in missing_message("part", "STRIPE-SALE", mappings)
    assert "epicor_part_num" in missing_message("part", "FROM-METADATA", mappings)


def test_reason_codes_name_their_key_and_reason_type(mappings):
    text = missing_message("reason", "DUPL", mappings)
    assert "Reason Maintenance (type A" in text and "mappings/reasons.yaml key refunds.duplicate" in text
    assert "mappings/reasons.yaml key disputes.lost" in missing_message("reason", "DISPLOST", mappings)


def test_one_error_for_several_codes_with_the_kinds_reason(mappings):
    error = missing("part", ["A-1", "B-2", "A-1"], mappings)
    assert isinstance(error, MissingReference) and error.reason == "reference.missing_part"
    assert error.message.count("is not in Epicor") == 2 and "'A-1'" in error.message and "'B-2'" in error.message


@pytest.mark.parametrize(("field", "code", "reason", "key"), [
    ("TermsCode", "N30", "reference.missing_terms", "mappings/defaults.yaml key terms_code"),
    ("CurrencyCode", "USD", "reference.missing_currency", "mappings/currencies.yaml key usd"),
    ("BankAcctID", "MAIN", "reference.missing_bank_account", "mappings/defaults.yaml key bank_account"),
    ("CMReason", "OTHER", "reference.missing_reason", "mappings/reasons.yaml key refunds.default"),
])
def test_epicor_refusals_of_a_reference_field_become_the_same_error(mappings, field, code, reason, key):
    error = from_refusal(400, "Ice.BLException", field, f"{field} {code} is not valid.", {field: code}, mappings)
    assert error is not None and error.reason == reason
    assert key in error.message and f"'{code}'" in error.message and "is not valid." in error.message


def test_other_refusals_are_left_as_they_are(mappings):
    assert from_refusal(400, "Ice.BLException", "DocTranAmt", "Amount", {"DocTranAmt": "1"}, mappings) is None
    assert from_refusal(409, "Ice.Common.DuplicateRecordException", "TermsCode", "dup", {"TermsCode": "N30"}) is None
    assert from_refusal(400, "Ice.BLException", "TermsCode", "Terms", {}, mappings) is None
