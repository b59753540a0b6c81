"""The mapping files of the flows that post a customer, a hold or an invoice: each gives what the flow posted
before it had files (field for field), and a site's change made only in a file reaches the flow's output on
the next event, with no restart."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tasks.flows import (
    customer_standing,
    customer_sync,
    epicor_customer,
    epicor_sales_order,
    payment_failed,
    stripe_invoice,
)
from tasks.mapping import engine
from tasks.mapping.currency import epicor_currency_code
from tasks.mapping.customers import customer_match, wanted_contact
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR, expected_cases, flow_context

SAMPLES = MAPPINGS_DIR.parent / "tasks" / "mapping" / "data" / "samples"


def samples(flow: str) -> list[dict[str, Any]]:
    return json.loads((SAMPLES / f"{flow}.json").read_text())["samples"]


@pytest.fixture()
def site(tmp_path):
    """A site's MAPPINGS_DIR holding a copy of the shipped files, and a context that builds with it."""
    site_dir = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, site_dir)
    return SimpleNamespace(dir=site_dir, ctx=SimpleNamespace(mappings=load_mappings(site_dir),
                                                             settings=SimpleNamespace(mappings_dir=site_dir)))


def edit(site_dir: Path, relative: str, old: str, new: str) -> None:
    path = site_dir / "documents" / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a clock too coarse to tell edits apart


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for document in documents}


# -- the files give what the flows posted before them -----------------------------------------------
def before_files(customer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What customer_sync's transform built before its files: the customer section and the wanted contact."""
    tables = flow_context().mappings
    currency = epicor_currency_code(customer["currency"], tables) if customer.get("currency") else ""
    return customer_match(customer, tables, currency), wanted_contact(customer, tables)


LONG = {"name": "N" * 70, "phone": "0" * 30, "address": {"line1": "Long Street " * 8, "city": "Köln", "country": "DE"}}


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize("changed", [{}, LONG], ids=["sample", "long values"])
def test_customer_sync_files_give_the_customer_and_contact_it_always_posted(index, changed):
    customer = {**samples("customer_sync")[index]["customer"], **changed}
    section, contact = before_files(customer)
    documents = by_kind(customer_sync.transform(flow_context(), customer)["documents"])
    assert documents["customer"]["header"] == section["create"]
    assert documents["customer"]["reference"] == {"match": section["match"],
                                                  "cust_id_alternates": section["cust_id_alternates"]}
    assert documents["customer_contact"]["header"] == contact


@pytest.mark.parametrize("snapshot", samples("customer_standing"), ids=lambda s: s["customer"]["id"])
def test_customer_standing_file_gives_the_customer_it_always_created(snapshot):
    section, _ = before_files(snapshot["customer"])
    [document] = customer_standing.transform_standing(flow_context(), snapshot)["documents"]
    assert document["header"] == section["create"] and document["reference"]["match"] == section["match"]


def test_payment_failed_file_gives_the_hold_note_it_always_wrote():
    notes = [payment_failed.transform(flow_context(), fetched)["documents"][0]["header"]
             for fetched in samples("payment_failed")]
    assert notes == [
        {"OrderHeld": True, "OrderComment": "Stripe payment pi_3QzK8vLkdIwHu7ix1GkQdR2b failed: card_declined / "
                                            "insufficient_funds: Your card has insufficient funds."},
        {"OrderHeld": True, "OrderComment": "Stripe payment ch_1Jb7yQ2eZvKYlo2C0mHf3XkT failed: card_declined / "
                                            "generic_decline: Your card was declined."},
        {"OrderHeld": True, "OrderComment": "Stripe payment pi_3RBd0yLkdIwHu7ix0a9WcE3n failed: no reason given"}]


# -- a change made only in a file reaches the output -----------------------------------------------
def test_a_site_changes_the_hold_note_of_a_failed_payment(site):
    fetched = samples("payment_failed")[0]
    edit(site.dir, "payment_failed/order_hold.yaml", 'template: "Stripe payment $payment failed: $details"',
         'template: "Card payment $payment declined ($details)"')
    [hold] = payment_failed.transform(site.ctx, fetched)["documents"]
    assert hold["header"]["OrderComment"] == ("Card payment pi_3QzK8vLkdIwHu7ix1GkQdR2b declined (card_declined / "
                                              "insufficient_funds: Your card has insufficient funds.)")
    payment_failed.validate(site.ctx, payment_failed.transform(site.ctx, fetched))


def test_a_site_maps_a_stripe_metadata_key_into_a_new_customers_phone_and_stops_syncing_phones(site):
    customer = copy.deepcopy(samples("customer_sync")[0]["customer"])
    customer["metadata"]["switchboard"] = "+44 113 000 0001"
    edit(site.dir, "customer_sync/customer.yaml", "PhoneNum: {from: customer_payer.phone,",
         "PhoneNum: {from: customer.metadata.switchboard,")
    edit(site.dir, "customer_sync/customer_contact.yaml",
         "    PhoneNum: {from: contact.phone, transforms: [{name: truncate, length: 20}], omit_if_null: true}\n", "")
    documents = by_kind(customer_sync.transform(site.ctx, customer)["documents"])
    assert documents["customer"]["header"]["PhoneNum"] == "+44 113 000 0001"
    assert "PhoneNum" not in documents["customer_contact"]["header"]


def test_a_site_gives_customers_made_by_subscription_events_other_terms(site):
    edit(site.dir, "customer_standing/customer.yaml", "TermsCode: {from: settings.terms_code}",
         "TermsCode: {const: N15}")
    [document] = customer_standing.transform_standing(site.ctx, samples("customer_standing")[0])["documents"]
    assert document["header"]["TermsCode"] == "N15"


def test_a_site_puts_the_stripe_invoice_description_on_the_ar_invoice_and_its_number_on_the_receipt(site):
    bill = copy.deepcopy(expected_cases("stripe_invoice")["basil_tax_and_line_part"]["bill"])
    bill |= {"fetched_at": 1.0, "invoice": {**bill["invoice"], "description": "April seats"}}
    edit(site.dir, "stripe_invoice/ar_invoice.yaml", "      from: invoice.number\n",
         "      from: invoice.description\n")
    edit(site.dir, "stripe_invoice/ar_invoice.yaml", '{name: prefix, text: "Stripe "}', '{name: prefix, text: "Sub "}')
    edit(site.dir, "stripe_invoice_receipt/cash_receipt.yaml",
         "CheckRef: {from: payment.charge || payment.payment_intent || invoice.id}", "CheckRef: {from: invoice.number}")
    documents = by_kind(stripe_invoice.transform_invoice(site.ctx, bill)["documents"])
    assert documents["ar_invoice"]["header"]["Description"] == "Sub April seats"
    assert documents["cash_receipt"]["header"]["CheckRef"] == "HARB-0001"
    assert documents["cash_receipt"]["header"]["ExternalID"] == "ch_3RJm8sBq2cUe7XwP"  # the rest as shipped


def epicor_context(site: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(mappings=site.ctx.mappings, settings=SimpleNamespace(mappings_dir=site.dir,
                                                                                epicor_company="EPIC06"))


def test_a_site_sends_an_epicor_column_to_a_stripe_customer_field_of_both_epicor_flows(site):
    fetched = samples("epicor_sales_order")[0]
    edit(site.dir, "epicor_customer/stripe_customer.yaml", "phone: {from: customer.PhoneNum,",
         "phone: {from: customer.CustID,")
    ctx = epicor_context(site)
    assert epicor_customer.transform(ctx, {"customer": fetched["customer"], "stripe_customer": None})["wanted"][
        "phone"] == "ACME"
    assert epicor_sales_order.transform(ctx, fetched)["customer_wanted"]["phone"] == "ACME"


def test_a_site_words_the_stripe_invoice_and_adds_a_footer(site):
    fetched = samples("epicor_sales_order")[0]
    edit(site.dir, "epicor_sales_order/stripe_invoice.yaml", 'template: "Sales order $order$po"',
         'template: "Order $order from Acme"')
    edit(site.dir, "epicor_sales_order/stripe_invoice.yaml", "    pending_invoice_items_behavior: {const: exclude}\n",
         "    pending_invoice_items_behavior: {const: exclude}\n    footer: {const: Thank you for your order}\n")
    invoice = epicor_sales_order.transform(epicor_context(site), fetched)["invoice"]
    assert invoice["description"] == "Order 5001 from Acme" and invoice["footer"] == "Thank you for your order"
    assert invoice["metadata"]["epicor_order_num"] == "5001"  # the link stays the flow's own


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    email: {from: epicor_contact.email}", "    e_mail: {from: epicor_contact.email}",
     "Stripe Customer has no field e_mail (did you mean email?)"),
    ("phone: {from: customer.PhoneNum, transforms: [{name: clean_text}]}",
     "phone: {from: customer.PhoneNum, transforms: [{name: truncate, length: 40}]}",
     "truncate length 40 is more than the 20 characters phone holds"),
    ("name: {from: customer.Name,", "name: {from: customer.Nmae,",
     "'customer.Nmae' is not in the epicor_customer source"),
])
def test_a_stripe_target_the_palette_does_not_declare_is_refused_with_file_line_and_field(site, old, new, message):
    edit(site.dir, "epicor_customer/stripe_customer.yaml", old, new)
    problems = [str(problem) for problem in engine.check_directory(site.dir)]
    assert any("epicor_customer/stripe_customer.yaml:" in problem and message in problem for problem in problems), \
        problems
