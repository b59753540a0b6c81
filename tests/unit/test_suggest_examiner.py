"""Gaps an independent labelled set found in assisted mapping, fixed generically: a site's Stripe-id UD
columns, contact and cross-reference columns, money inside lists (discounts, taxes, fees), numbers written as
text, URLs, Checkout Session ids, and the command's refusals of unreadable, too deep or too large input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.assist import values
from tasks.assist.rank import Source, Target, rank
from tasks.assist.service import MAX_REQUEST_CHARS, SuggestRefused, read_request, suggest_document

CELERY = Path(sys.executable).with_name("celery")


def first(sources: list[Source], target: str) -> str | None:
    found = rank(sources, [Target(target)])[0].candidates
    return found[0].source if found else None


CUSTOMER = [Source("customer.id", ("cus_QXg1o8vcGmoR32",)), Source("customer.name", ("Acme Tools Ltd",)),
            Source("customer.metadata.erp_customer_id", ("ACME01",)), Source("customer.email", ("ap@acme.example",))]
SESSION = [Source("checkout.session.id", ("cs_test_a1b2C3d4E5f6G7h8I9j0",)),
           Source("checkout.session.payment_intent", ("pi_3PgbzzB7WZ01zgkW9x8y7w6v",)),
           Source("checkout.session.customer", ("cus_QXg1o8vcGmoR32",)),
           Source("checkout.session.amount_total", (5400,))]


@pytest.mark.parametrize("sources, target, source", [
    (CUSTOMER, "Customer.StripeCustomerID_c", "customer.id"),  # not the site's own customer code
    (CUSTOMER, "Customer.CustID", "customer.metadata.erp_customer_id"),
    (SESSION, "OrderHed.StripeCheckoutID_c", "checkout.session.id"),  # the session, not its payment
    (SESSION, "OrderHed.StripePaymentID_c", "checkout.session.payment_intent"),
    ([Source("invoice.charge", ("ch_3PgcAAB7WZ01zgkW1b2c3d4e",)), Source("invoice.id", ("in_1Pgc6tB7WZ01zg",))],
     "InvcHead.StripeChargeID_c", "invoice.charge"),
])
def test_a_user_defined_column_named_for_a_stripe_object_takes_that_objects_id(sources, target, source):
    assert first(sources, target) == source


def test_the_same_ud_column_without_samples_still_reads_the_name():
    bare = [Source(source.path) for source in CUSTOMER]
    assert first(bare, "Customer.StripeCustomerID_c") == "customer.id"


INVOICE = [Source("invoice.number", ("7FE1103-0014",)), Source("invoice.id", ("in_1Pgc6tB7WZ01zgkWu9fdqL6I",)),
           Source("invoice.customer_name", ("Acme Tools Ltd",)), Source("invoice.customer_email", ("ap@acme.example",)),
           Source("invoice.customer_phone", ("+44 20 7946 0958",)), Source("invoice.description", ("July",))]


@pytest.mark.parametrize("target, source", [
    ("InvcHead.XRefInvoiceNum", "invoice.number"),
    ("InvcHead.ContactName", "invoice.customer_name"),
    ("InvcHead.ContactEmailAddr", "invoice.customer_email"),
    ("InvcHead.ContactPhoneNum", "invoice.customer_phone"),
    ("OrderHed.SoldToContactName", "invoice.customer_name"),
])
def test_contact_and_cross_reference_columns(target, source):
    assert first(INVOICE, target) == source


LINE = [Source("line_item.amount", (30000,)), Source("line_item.quantity", (3,)),
        Source("line_item.discount_amounts.0.amount", (1500,)), Source("line_item.taxes[0].amount", (6000,)),
        Source("line_item.pricing.unit_amount_decimal", ("10000",)), Source("line_item.description", ("Pro plan",)),
        Source("line_item.period.start", (1719600000,)), Source("line_item.period.end", (1722200000,))]


@pytest.mark.parametrize("target, source", [
    ("InvcDtl.DocDiscount", "line_item.discount_amounts.0.amount"),  # an index written as .0. too
    ("InvcDtl.DocUnitPrice", "line_item.pricing.unit_amount_decimal"),  # a number written as text
    ("InvcDtl.DocExtPrice", "line_item.amount"),
    ("InvcDtl.DefRevStart", "line_item.period.start"),
    ("InvcDtl.DefRevEndDate", "line_item.period.end"),
])
def test_money_inside_lists_and_numbers_as_text(target, source):
    assert first(LINE, target) == source


def test_journal_and_part_columns_the_dictionary_lacked():
    txn = [Source("balance_transaction.amount", (12050,)), Source("balance_transaction.created", (1721990000,)),
           Source("balance_transaction.description", ("Order 1042",)), Source("balance_transaction.fee", (380,))]
    assert first(txn, "GLJrnDtlMnl.DocTransAmt") == "balance_transaction.amount"
    assert first(txn, "GLJrnHed.JEDate") == "balance_transaction.created"
    product = [Source("product.images.0", ("https://files.stripe.com/links/widget.png",)),
               Source("product.url", ("https://shop.example/widgets",)),
               Source("product.metadata.upc", ("012345678905",)),
               Source("product.name", ("Blue widget",))]
    assert first(product, "Part.ImageFileName") == "product.images.0"
    assert first(product, "Part.UPCCode1") == "product.metadata.upc"


def test_value_detectors_for_urls_numbers_as_text_and_checkout_ids():
    assert "url" in values.profile(["https://files.stripe.com/x.png"]).kinds
    assert "numeric" in values.profile(["1500", "12.5"]).kinds
    assert "numeric" not in values.profile(["PO-1"]).kinds
    session = values.profile(["cs_live_a1B2c3D4e5F6g7H8"])
    assert "stripe_id" in session.kinds and session.id_kind == "payment"


# --- the command's input ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, reason", [
    ("{not json", "not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ('{"a": ' + "9" * 5000 + "}", "not JSON"),
    (" " * (MAX_REQUEST_CHARS + 1), "larger than"),
])
def test_unreadable_input_is_refused_with_its_reason(text, reason):
    with pytest.raises(SuggestRefused, match=reason):
        read_request(io.StringIO(text))


def test_an_unknown_column_is_refused_but_a_sites_own_ud_column_is_not():
    request = {"source": {"object": "charge", "fields": [{"path": "charge.id", "sample": "ch_3Pga1234567"}]},
               "target": {"table": "Customer", "fields": ["Customer.NoSuchThing"]}}
    with pytest.raises(SuggestRefused, match="NoSuchThing is not a column of Customer"):
        suggest_document(request)
    request["target"]["fields"] = ["Customer.LoyaltyTier_c"]
    assert suggest_document(request)["suggestions"][0]["target"] == "Customer.LoyaltyTier_c"


def test_huge_and_nested_samples_are_cut_to_what_the_detectors_need():
    request = {"source": {"object": "customer", "fields": [
        {"path": "customer.email", "samples": ["x" * 10**6] + ["ap@acme.example"] * 5000},
        {"path": "customer.metadata.blob", "sample": {"a": [[[[{}]]]]}}]},
        "target": {"table": "Customer", "fields": ["Customer.EMailAddress"]}}
    found = suggest_document(request)["suggestions"][0]["candidates"]
    assert found[0]["source"] == "customer.email"


def test_the_real_command_exits_2_with_a_reason_on_deeply_nested_input():
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    done = subprocess.run([str(CELERY), "-A", "tasks", "mapping", "suggest", "--json"],
                          input="[" * 100_000 + "]" * 100_000, capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("refused: the request nests too deeply") and "Traceback" not in done.stderr
