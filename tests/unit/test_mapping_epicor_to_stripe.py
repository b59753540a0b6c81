"""Epicor customer and sales order → Stripe parameters: values, minor units, keys, loop-safety digests.

The parameters are built as the flows build them: the shipped mapping files (``epicor_customer``,
``epicor_sales_order``) through the engine, then the metadata and item arithmetic of ``epicor_to_stripe``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tasks.errors import MappingError
from tasks.mapping import epicor_to_stripe as mapping
from tasks.mapping.engine import build_documents
from tasks.mapping.tables import load_mappings
from tasks.settings import REPO_ROOT

MAPPINGS = load_mappings(REPO_ROOT / "mappings")

CUSTOMER = {"CustNum": 214, "CustID": "ACME", "Name": "Acme Trading Ltd",
            "EMailAddress": "ap@acme.example; cfo@acme.example",
            "PhoneNum": "+1 555 0100", "Address1": "1 Market Street", "Address2": "Suite 400", "Address3": "Floor 4",
            "City": "San Francisco", "State": "CA", "Zip": "94105", "Country": "USA", "ExternalID": "",
            "TermsCode": "N30", "CurrencyCode": "USD", "SysRevID": 3}


def order(**changes) -> dict:
    return {"OrderNum": 5001, "CustNum": 214, "PONum": "PO-77", "TermsCode": "N30", "CurrencyCode": "USD",
            "DocOrderAmt": 37.0, "IntExternalKey": "", "SysRevID": 4, **changes}


def line(number: int, quantity, price, **changes) -> dict:
    return {"OrderNum": 5001, "OrderLine": number, "PartNum": f"PART-{number}", "LineDesc": f"Part {number}",
            "SalesUM": "EA", "SellingQuantity": quantity, "DocUnitPrice": price, "DocDiscount": 0.0,
            "VoidLine": False, **changes}


def customer_params(row: dict, company: str, tables=MAPPINGS) -> dict:
    [document] = build_documents("epicor_customer", {"customer": row, "stripe_customer": None},
                                 REPO_ROOT / "mappings", tables, texts={})
    return mapping.customer_params(document, row, company)


def invoice_document(order_row: dict, lines: list, tables=MAPPINGS) -> dict:
    [document] = build_documents("epicor_sales_order", {"order": order_row, "lines": lines, "customer": CUSTOMER},
                                 REPO_ROOT / "mappings", tables, texts={})
    return document


def invoice_params(order_row: dict, company: str) -> dict:
    return mapping.invoice_params(invoice_document(order_row, []), order_row, company)


def invoice_items(lines: list, currency: str) -> list:
    return mapping.invoice_items(invoice_document(order(CurrencyCode=currency.upper()), lines), lines)


def invoice_item(line_row: dict, currency: str) -> dict:
    return invoice_items([line_row], currency)[0]


# -- customers -----------------------------------------------------------------------------------
def test_customer_params_carry_contact_address_and_epicor_ids():
    params = customer_params(CUSTOMER, "EPIC06", MAPPINGS)
    assert params["name"] == "Acme Trading Ltd"
    assert params["email"] == "ap@acme.example"
    assert params["phone"] == "+1 555 0100"
    assert params["address"] == {"line1": "1 Market Street", "line2": "Suite 400 Floor 4", "city": "San Francisco",
                                 "state": "CA", "postal_code": "94105", "country": "US"}
    assert params["metadata"] == {"epicor_company": "EPIC06", "epicor_cust_num": "214", "epicor_cust_id": "ACME",
                                  "epicor_sync_rev": "3"}


def test_country_text_goes_back_to_iso_and_unknown_text_is_left_off():
    assert mapping.stripe_country("United Kingdom", MAPPINGS.countries) == "GB"
    assert mapping.stripe_country("de", MAPPINGS.countries) == "DE"
    assert mapping.stripe_country("Atlantis", MAPPINGS.countries) is None


def test_blank_address_is_none_and_blank_values_are_not_sent_on_create():
    row = {**CUSTOMER, **{name: "" for name in ("Address1", "Address2", "Address3", "City", "State", "Zip",
                                                "Country", "PhoneNum")}}
    params = customer_params(row, "EPIC06", MAPPINGS)
    assert params["address"] is None
    assert set(mapping.create_params(params)) == {"name", "email", "metadata"}


def stripe_view(params: dict, **changes) -> dict:
    """The Stripe customer as Stripe would return it after a create with ``params``."""
    return {"id": "cus_1", "name": params["name"], "email": params["email"], "phone": params["phone"],
            "address": params["address"], "metadata": dict(params["metadata"]), **changes}


def test_no_changes_when_stripe_already_says_it_even_at_a_new_revision():
    params = customer_params(CUSTOMER, "EPIC06", MAPPINGS)
    newer = customer_params({**CUSTOMER, "SysRevID": 9, "ExternalID": "cus_1"}, "EPIC06", MAPPINGS)
    assert mapping.customer_changes(newer, stripe_view(params)) == {}


def test_changes_hold_only_what_differs_with_the_new_revision():
    params = customer_params(CUSTOMER, "EPIC06", MAPPINGS)
    renamed = customer_params({**CUSTOMER, "Name": "Acme Holdings", "SysRevID": 5}, "EPIC06", MAPPINGS)
    assert mapping.customer_changes(renamed, stripe_view(params)) == {
        "name": "Acme Holdings", "metadata": {"epicor_sync_rev": "5"}}


def test_cleared_values_are_unset_in_stripe():
    params = customer_params(CUSTOMER, "EPIC06", MAPPINGS)
    cleared = customer_params({**CUSTOMER, "PhoneNum": "", "Address1": "", "Address2": "", "Address3": "",
                                       "City": "", "State": "", "Zip": "", "Country": ""}, "EPIC06", MAPPINGS)
    changes = mapping.customer_changes(cleared, stripe_view(params))
    assert changes["phone"] == "" and changes["address"] == ""


def test_customer_linked_from_stripe_gets_the_epicor_ids_once():
    params = customer_params(CUSTOMER, "EPIC06", MAPPINGS)
    from_payment = stripe_view(params, metadata={})
    assert mapping.customer_changes(params, from_payment) == {"metadata": params["metadata"]}


def test_fingerprints_ignore_ids_revisions_and_metadata_but_see_real_changes():
    base = mapping.epicor_customer_fingerprint(CUSTOMER)
    assert mapping.epicor_customer_fingerprint({**CUSTOMER, "ExternalID": "cus_1", "SysRevID": 99}) == base
    assert mapping.epicor_customer_fingerprint({**CUSTOMER, "City": "Oakland"}) != base
    view = stripe_view(customer_params(CUSTOMER, "EPIC06", MAPPINGS))
    assert mapping.stripe_customer_fingerprint({**view, "metadata": {"x": "1"}}) == \
        mapping.stripe_customer_fingerprint(view)
    assert mapping.stripe_customer_fingerprint({**view, "email": "new@acme.example"}) != \
        mapping.stripe_customer_fingerprint(view)


# -- orders → invoices ---------------------------------------------------------------------------
def test_invoice_params_use_terms_currency_and_order_metadata():
    params = invoice_params(order(), "EPIC06")
    assert params == {
        "currency": "usd", "collection_method": "send_invoice", "days_until_due": 30, "auto_advance": False,
        "pending_invoice_items_behavior": "exclude", "description": "Sales order 5001, your PO PO-77",
        "metadata": {"epicor_company": "EPIC06", "epicor_order_num": "5001", "epicor_cust_num": "214"}}


def test_terms_table_gives_days_with_a_default():
    assert MAPPINGS.days_until_due("N30") == 30
    assert MAPPINGS.days_until_due("ZZZZ") == MAPPINGS.default_terms_days
    assert MAPPINGS.days_until_due(None) == MAPPINGS.default_terms_days


def test_currency_goes_back_through_the_currencies_table():
    assert mapping.stripe_currency("JPY", MAPPINGS) == "jpy"
    assert mapping.stripe_currency("CHF", MAPPINGS) == "chf"  # unmapped, default "upper"
    with pytest.raises(MappingError):
        mapping.stripe_currency("", MAPPINGS)


def test_one_item_per_live_line_in_minor_units_usd():
    items = invoice_items([line(2, 1.0, 12.0), line(1, 2.0, 12.5), line(3, 1.0, 5.0, VoidLine=True)], "usd")
    assert [(i["metadata"]["epicor_order_line"], i["quantity"], i["unit_amount_decimal"]) for i in items] == \
        [("1", 2, "1250"), ("2", 1, "1200")]
    assert items[0]["description"] == "Part 1"
    assert items[0]["metadata"] == {"epicor_order_num": "5001", "epicor_order_line": "1", "epicor_part_num": "PART-1"}
    assert mapping.invoice_total_problem(items, order(DocOrderAmt=37.0), "usd") is None


def test_jpy_has_no_minor_unit():
    items = invoice_items([line(1, 3.0, 1500.0)], "jpy")
    assert (items[0]["quantity"], items[0]["unit_amount_decimal"]) == (3, "1500")
    assert mapping.invoice_total_problem(items, order(DocOrderAmt=4500.0, CurrencyCode="JPY"), "jpy") is None


def test_kwd_has_three_decimals_and_refuses_what_stripe_cannot_take():
    items = invoice_items([line(1, 2.0, 1.25)], "kwd")
    assert items[0]["unit_amount_decimal"] == "1250"
    assert mapping.invoice_total_problem(items, order(DocOrderAmt=2.5, CurrencyCode="KWD"), "kwd") is None
    with pytest.raises(MappingError, match="steps of 0.010"):
        invoice_items([line(1, 1.0, 1.234)], "kwd")


def test_fractional_quantity_or_discount_becomes_one_amount_with_the_detail_in_words():
    hours = invoice_item(line(1, 2.5, 80.0, DocExtPriceDtl=200.0, SalesUM="HR"), "usd")
    assert hours["amount"] == 20000 and "quantity" not in hours
    assert hours["description"] == "Part 1 (2.5 HR x 80)"
    discounted = invoice_item(line(2, 2.0, 10.0, DocExtPriceDtl=20.0, DocDiscount=1.5), "usd")
    assert discounted["amount"] == 1850 and "less 1.5" in discounted["description"]


def test_total_problem_names_the_difference():
    items = invoice_items([line(1, 1.0, 10.0)], "usd")
    problem = mapping.invoice_total_problem(items, order(DocOrderAmt=12.0), "usd")
    assert "1000" in problem and "1200" in problem and "5001" in problem


# -- idempotency keys ----------------------------------------------------------------------------
def test_customer_keys_come_from_company_custnum_and_revision():
    assert mapping.customer_create_key("EPIC06", 214, 3) == "sec-epicor-customer-create-EPIC06-214-r3"
    assert mapping.customer_create_key("EPIC06", 214, 4) != mapping.customer_create_key("EPIC06", 214, 3)
    changes = {"name": "Acme Holdings"}
    key = mapping.customer_update_key("EPIC06", 214, 5, changes)
    assert key == mapping.customer_update_key("EPIC06", 214, 5, dict(changes))
    assert key != mapping.customer_update_key("EPIC06", 215, 5, changes)


def test_invoice_keys_are_stable_per_order_line_and_parameters():
    params = {**invoice_params(order(), "EPIC06"), "customer": "cus_1"}
    assert mapping.invoice_key("EPIC06", 5001, params) == mapping.invoice_key("EPIC06", 5001, dict(params))
    assert mapping.invoice_key("EPIC06", 5001, params) != mapping.invoice_key("EPIC06", 5002, params)
    first, second = invoice_items([line(1, 1.0, 10.0), line(2, 1.0, 10.0)], "usd")
    assert mapping.invoice_item_key("EPIC06", "in_1", first) != mapping.invoice_item_key("EPIC06", "in_1", second)
    assert mapping.invoice_item_key("EPIC06", "in_1", first).startswith("sec-epicor-invoice-item-EPIC06-5001-1-in_1-")
    assert all(len(key) <= 255 for key in (mapping.invoice_key("EPIC06", 5001, params),
                                           mapping.invoice_item_key("EPIC06", "in_1", first)))


def test_decimal_text_in_items_is_exact():
    item = invoice_item(line(1, 3.0, 19.99), "usd")
    assert Decimal(item["unit_amount_decimal"]) == Decimal(1999)
