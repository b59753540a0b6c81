"""Assisted mapping's ranker: names, values, types, address roles and learning each move a candidate the
way a person would expect, and the proposed transforms are the registry's."""

from __future__ import annotations

import fakeredis
import pytest

from tasks.assist import names, values
from tasks.assist.learning import RedisLearned, remember
from tasks.assist.rank import Source, Target, level_of, rank
from tasks.mapping.transforms import TRANSFORMS

CHARGE = [
    Source("charge.billing_details.address.postal_code", ("94107",)),
    Source("charge.shipping.address.postal_code", ("10001",)),
    Source("charge.billing_details.email", ("jenny@example.com",)),
    Source("charge.receipt_email", ("jenny@example.com",)),
    Source("charge.billing_details.name", ("Jenny Rosen",)),
    Source("charge.shipping.name", ("Jenny Rosen",)),
    Source("charge.created", (1772649000,)),
    Source("charge.amount", (2500,)),
    Source("charge.currency", ("usd",)),
    Source("charge.id", ("ch_3QxUsdCustomer0001Ab",)),
    Source("charge.customer", ("cus_QXg1o8vcGmoR32",)),
    Source("charge.description", ("Order 1042 from the web shop",)),
    Source("charge.metadata.po_number", ("PO-7731",)),
]


def best(target: Target, sources=CHARGE, **options):
    found = rank(sources, [target], **options)[0].candidates
    return found[0] if found else None


@pytest.mark.parametrize("target, source", [
    ("Customer.Zip", "charge.billing_details.address.postal_code"),
    ("Customer.EMailAddress", "charge.billing_details.email"),
    ("Customer.Name", "charge.billing_details.name"),
    ("Customer.ExternalID", "charge.customer"),
    ("OrderHed.OTSZIP", "charge.shipping.address.postal_code"),
    ("OrderHed.OTSName", "charge.shipping.name"),
    ("OrderHed.PONum", "charge.metadata.po_number"),
    ("OrderHed.OrderComment", "charge.description"),
    ("InvcHead.ExternalID", "charge.id"),
    ("CashHead.CheckRef", "charge.id"),
])
def test_the_right_source_comes_first(target, source):
    assert best(Target(target)).source == source


def test_billing_beats_shipping_for_the_customer_and_shipping_wins_for_the_one_time_ship_to():
    customer = rank(CHARGE, [Target("Customer.Zip")])[0].candidates
    assert [c.source for c in customer[:2]] == ["charge.billing_details.address.postal_code",
                                                "charge.shipping.address.postal_code"]
    assert "billing address" in customer[0].reasons and customer[0].confidence > customer[1].confidence


def test_reasons_name_the_names_and_the_values():
    found = best(Target("Customer.Zip"))
    assert "name: postal_code ≈ Zip" in found.reasons and "values look like postal codes" in found.reasons
    assert found.level == "high"


def test_transforms_are_proposed_from_the_registry():
    assert best(Target("OrderHed.OrderDate", "date")).transform == "company_date"
    assert best(Target("OrderHed.DocOrderAmt", "number")).transform == "minor_to_decimal"
    assert best(Target("OrderHed.CurrencyCode", "string")).transform == "currency_code"
    proposed = {c.transform for s in rank(CHARGE, [Target("OrderHed.OrderDate", "date"),
                                                   Target("OrderHed.DocOrderAmt", "number")]) for c in s.candidates}
    assert proposed - {None} <= set(TRANSFORMS)


def test_values_that_contradict_the_name_lower_the_candidate():
    right = best(Target("Customer.EMailAddress"), [Source("charge.customer_email", ("jenny@example.com",))])
    wrong = best(Target("Customer.EMailAddress"), [Source("charge.customer_email", ("cus_QXg1o8vcGmoR32",))])
    assert right.confidence > (wrong.confidence if wrong else 0) + 0.2


def test_values_alone_find_an_oddly_named_field():
    found = best(Target("Customer.EMailAddress"), [Source("charge.metadata.contact", ("ap@rosen.example",)),
                                                  Source("charge.metadata.region", ("west",))])
    assert found.source == "charge.metadata.contact" and "values look like e-mail addresses" in found.reasons


def test_a_type_that_cannot_fit_is_said():
    found = best(Target("OrderHed.OrderDate", "date"), [Source("charge.created", ("yesterday",))])
    assert found is None or found.confidence < 0.75


def test_an_unknown_metadata_key_is_matched_by_its_words():
    found = best(Target("OrderHed.PONum"), [Source("charge.metadata.purchase_order_ref", ("4711",)),
                                           Source("charge.description", ("Order 1042",))])
    assert found.source == "charge.metadata.purchase_order_ref"


def test_epicor_to_stripe_reads_the_epicor_side_as_the_source():
    found = rank([Source("Customer.EMailAddress", ("ap@rosen.example",)), Source("Customer.Name", ("Rosen",)),
                  Source("Customer.Zip", ("94105",))], [Target("customer.address.postal_code"),
                                                        Target("customer.email")], source_side="epicor")
    assert [s.candidates[0].source for s in found] == ["Customer.Zip", "Customer.EMailAddress"]


def test_levels():
    assert (level_of(0.9), level_of(0.6), level_of(0.2)) == ("high", "medium", "low")


# --- detectors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, kind", [
    ("jenny@example.com", "email"), ("+1 415 555 0142", "phone"), ("94107", "postal"), ("SW1A 1AA", "postal"),
    ("K1A 0B1", "postal"), ("US", "country"), ("usd", "currency"), (1772649000, "epoch"), (2500, "minor_amount"),
    ("ch_3QxUsdCustomer0001Ab", "stripe_id"), ("2026-03-04", "date"), (True, "boolean"),
])
def test_detectors(value, kind):
    assert kind in values.kinds_of(value)


def test_a_profile_keeps_what_most_samples_share_and_the_id_kind():
    assert values.profile(["a@b.io", "c@d.io", "not one"]).kinds >= {"email"}
    assert values.profile(["cus_QXg1o8vcGmoR32"]).id_kind == "customer"
    assert not values.profile([None, ""]).known
    assert "epoch" not in values.kinds_of(2500) and "email" not in values.kinds_of("ch_3QxUsdCustomer0001Ab")


# --- names -----------------------------------------------------------------------------------------------

def test_epicor_names_are_read_with_their_prefixes():
    bill = names.epicor_name("Customer.BTZip")
    assert bill.concepts == {"postal": 1} and bill.role == "bill"
    assert names.epicor_name("OrderHed.OTSZIP").role == "ship"
    assert names.epicor_name("CashHead.DocTranAmt").variant == "doc"
    assert names.epicor_name("CashHead.Rpt1TranAmt").variant == "report"
    assert names.split_words("SellingShipQty") == ["selling", "ship", "qty"]
    assert names.expand(["po", "num"]) == ("purchase", "order", "number")


def test_stripe_names_know_their_address_and_ids():
    assert names.stripe_name("charge.shipping.address.line1").role == "ship"
    assert names.stripe_name("invoice.customer_address.city").role == "bill"
    # an id is of its kind (payment) and of its exact object (for a column like StripeChargeID_c)
    assert names.stripe_name("charge.id").concepts == {"id:payment": 1.0, "stripe:charge": 1.0}
    assert names.stripe_name("charge.customer").concepts == {"ref:customer": 1, "stripe:customer": 1.0}


# --- learning --------------------------------------------------------------------------------------------

def test_accepted_before_raises_and_rejected_before_lowers():
    client = fakeredis.FakeRedis(decode_responses=True)
    sources = [Source("charge.billing_details.name", ("Jenny Rosen",)), Source("charge.shipping.name", ("J R",))]
    target = Target("Customer.Name")
    assert best(target, sources).source == "charge.billing_details.name"
    remember("Customer.Name", "charge.shipping.name", True, client)
    remember("Customer.Name", "charge.billing_details.name", False, client)
    learned = best(target, sources, learned=RedisLearned(client))
    assert learned.source == "charge.shipping.name" and "accepted at this site before" in learned.reasons
    others = rank(sources, [target], learned=RedisLearned(client))[0].candidates
    assert all("rejected at this site before" in c.reasons for c in others if c.source.endswith("details.name"))


def test_learning_away_changes_nothing():
    class Away:
        def hgetall(self, key):
            raise ConnectionError("down")

    found = best(Target("Customer.Zip"), learned=RedisLearned(Away()))
    assert found.source.endswith("billing_details.address.postal_code")
