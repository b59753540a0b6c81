"""The Epicor → Stripe flows' decisions with fakes at the connector boundary (and fakeredis): what is
created once, what is skipped as our own echo, what waits, what is refused, and what is looked up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest

from tasks import store
from tasks.errors import PermanentError, PrerequisiteMissing
from tasks.flows import SkipEvent, epicor_customer, epicor_sales_order
from tasks.mapping.epicor_to_stripe import item_amount
from tasks.mapping.tables import load_mappings
from tasks.settings import REPO_ROOT

MAPPINGS = load_mappings(REPO_ROOT / "mappings")
CUSTOMER = {"CustNum": 214, "CustID": "ACME", "Name": "Acme Trading Ltd", "EMailAddress": "ap@acme.example",
            "PhoneNum": "", "Address1": "1 Market Street", "Address2": "", "Address3": "", "City": "San Francisco",
            "State": "CA", "Zip": "94105", "Country": "USA", "ExternalID": "", "TermsCode": "N30",
            "CurrencyCode": "USD", "SysRevID": 1}
ORDER = {"OrderNum": 5001, "CustNum": 214, "PONum": "", "TermsCode": "N30", "CurrencyCode": "USD",
         "DocOrderAmt": 74.0, "IntExternalKey": "", "OpenOrder": True, "VoidOrder": False, "SysRevID": 3}
LINES = [{"OrderNum": 5001, "OrderLine": 1, "PartNum": "WIDGET-100", "LineDesc": "Widget", "SalesUM": "EA",
          "SellingQuantity": 2.0, "DocUnitPrice": 12.5, "DocExtPriceDtl": 25.0, "DocDiscount": 0.0, "VoidLine": False},
         {"OrderNum": 5001, "OrderLine": 2, "PartNum": "GADGET-200", "LineDesc": "Gadget", "SalesUM": "EA",
          "SellingQuantity": 1.0, "DocUnitPrice": 49.0, "DocExtPriceDtl": 49.0, "DocDiscount": 0.0, "VoidLine": False}]


class FakeEpicor:
    def __init__(self, customers=(), orders=(), lines=()):
        self.rows = {"Customers": {c["CustNum"]: dict(c) for c in customers},
                     "SalesOrders": {o["OrderNum"]: dict(o) for o in orders}}
        self.lines = [dict(line) for line in lines]
        self.updates: list[tuple[str, list[Any], dict[str, Any]]] = []

    def get(self, service, entity_set, *keys):
        row = self.rows[entity_set].get(keys[-1])
        return dict(row) if row else None

    def query(self, service, entity_set, filter):
        return [line for line in self.lines if f"OrderNum eq {line['OrderNum']}" == filter]

    def update(self, service, entity_set, keys, changes):
        self.updates.append((entity_set, list(keys), changes))
        self.rows[entity_set][keys[-1]].update(changes)


class FakeStripe:
    """Stripe customers and invoices in memory; every write recorded with its idempotency key."""

    def __init__(self):
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []

    def _new(self, prefix: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{len(self.objects) + 1}", **body}
        self.objects[obj["id"]] = obj
        return dict(obj)

    def customer(self, customer_id):
        return dict(self.objects[customer_id]) if customer_id in self.objects else None

    def create_customer(self, params, *, idempotency_key):
        self.writes.append(("create_customer", idempotency_key))
        return self._new("cus", {"address": None, "phone": None, **params})

    def update_customer(self, customer_id, params, *, idempotency_key):
        self.writes.append(("update_customer", idempotency_key))
        self.objects[customer_id].update(params)
        return dict(self.objects[customer_id])

    def create_invoice(self, params, *, idempotency_key):
        self.writes.append(("create_invoice", idempotency_key))
        return self._new("in", {**params, "status": "draft", "object": "invoice"})

    def create_invoice_item(self, params, *, idempotency_key):
        self.writes.append(("create_invoice_item", idempotency_key))
        return self._new("ii", {**params, "object": "invoiceitem"})

    def invoice_items_of(self, invoice_id):
        return [o for o in self.objects.values() if o.get("object") == "invoiceitem" and o["invoice"] == invoice_id]

    def retrieve_invoice(self, invoice_id):
        invoice = dict(self.objects[invoice_id])
        items = self.invoice_items_of(invoice_id)
        invoice["subtotal"] = sum(item_amount(item) for item in items)
        return invoice

    def invoices_of_customer(self, customer_id):
        return [dict(o) for o in self.objects.values() if o.get("object") == "invoice" and o["customer"] == customer_id]

    def finalize_invoice(self, invoice_id, *, idempotency_key):
        self.writes.append(("finalize_invoice", idempotency_key))
        self.objects[invoice_id]["status"] = "open"
        return dict(self.objects[invoice_id])

    def send_invoice(self, invoice_id, *, idempotency_key):
        self.writes.append(("send_invoice", idempotency_key))
        return dict(self.objects[invoice_id])


@pytest.fixture(autouse=True)
def fake_redis(monkeypatch):
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)
    return client


def context(epicor: FakeEpicor, stripe: FakeStripe | None = None) -> Any:
    settings = SimpleNamespace(epicor_company="EPIC06", mappings_dir=REPO_ROOT / "mappings")
    return SimpleNamespace(settings=settings, epicor=epicor, stripe=stripe or FakeStripe(), mappings=MAPPINGS, event={})


def run_customer_flow(ctx: Any, event_type: str, cust_num: int = 214) -> dict[str, Any]:
    stage = epicor_customer.fetch(ctx, {"type": event_type, "object_id": str(cust_num)})
    for step in (epicor_customer.transform, epicor_customer.validate, epicor_customer.post):
        stage = step(ctx, stage)
    return stage


def test_customer_missing_in_epicor_is_permanent():
    with pytest.raises(PermanentError) as caught:
        run_customer_flow(context(FakeEpicor()), "Customer.Created", 999)
    assert caught.value.reason == "epicor.record_missing"


def test_new_customer_is_created_once_and_linked_back():
    epicor, stripe = FakeEpicor(customers=[CUSTOMER]), FakeStripe()
    ctx = context(epicor, stripe)
    keys = run_customer_flow(ctx, "Customer.Created")["keys"]
    assert keys["stripe_action"] == "created"
    assert stripe.writes == [("create_customer", "sec-epicor-customer-create-EPIC06-214-r1")]
    assert epicor.updates == [("Customers", [214], {"ExternalID": keys["StripeCustomer"]})]
    with pytest.raises(SkipEvent):  # the Customer.Updated our ExternalID write fires
        run_customer_flow(ctx, "Customer.Updated")
    assert run_customer_flow(ctx, "Customer.Created")["keys"]["stripe_action"] == "unchanged"
    assert len(stripe.writes) == 1 and len(epicor.updates) == 1


def test_a_real_change_goes_through_with_only_the_difference():
    epicor, stripe = FakeEpicor(customers=[CUSTOMER]), FakeStripe()
    ctx = context(epicor, stripe)
    cus = run_customer_flow(ctx, "Customer.Created")["keys"]["StripeCustomer"]
    epicor.rows["Customers"][214].update(City="Oakland", SysRevID=3)
    assert run_customer_flow(ctx, "Customer.Updated")["keys"]["stripe_action"] == "updated"
    assert stripe.objects[cus]["address"]["city"] == "Oakland"
    assert stripe.objects[cus]["metadata"]["epicor_sync_rev"] == "3"
    assert stripe.writes[-1] == ("update_customer", stripe.writes[-1][1]) and "-r3-" in stripe.writes[-1][1]


def test_customer_linked_from_stripe_is_updated_not_created():
    stripe = FakeStripe()
    existing = stripe._new("cus", {"name": "Acme Trading Ltd", "email": "ap@acme.example", "phone": None,
                                   "address": None, "metadata": {}})
    epicor = FakeEpicor(customers=[{**CUSTOMER, "ExternalID": existing["id"]}])
    keys = run_customer_flow(context(epicor, stripe), "Customer.Created")["keys"]
    assert keys["StripeCustomer"] == existing["id"] and keys["stripe_action"] == "updated"
    assert [kind for kind, _ in stripe.writes] == ["update_customer"] and epicor.updates == []


def run_order_flow(ctx: Any, order_num: int = 5001) -> dict[str, Any]:
    stage = epicor_sales_order.fetch(ctx, {"type": "SalesOrder.Created", "object_id": str(order_num)})
    for step in (epicor_sales_order.transform, epicor_sales_order.validate, epicor_sales_order.post):
        stage = step(ctx, stage)
    return stage


@pytest.mark.parametrize(("changes", "lines", "raised"), [
    ({"IntExternalKey": "pi_3Paid"}, LINES, SkipEvent),
    ({"VoidOrder": True}, LINES, SkipEvent),
    ({}, [], PrerequisiteMissing),
])
def test_orders_that_are_not_billed_now(changes, lines, raised):
    epicor = FakeEpicor(customers=[CUSTOMER], orders=[{**ORDER, **changes}], lines=lines)
    with pytest.raises(raised):
        run_order_flow(context(epicor))


def test_order_is_billed_once_and_its_invoice_recorded():
    epicor, stripe = FakeEpicor(customers=[CUSTOMER], orders=[ORDER], lines=LINES), FakeStripe()
    ctx = context(epicor, stripe)
    invoice_id = run_order_flow(ctx)["keys"]["StripeInvoice"]
    assert [kind for kind, _ in stripe.writes] == ["create_customer", "create_invoice", "create_invoice_item",
                                                   "create_invoice_item", "finalize_invoice", "send_invoice"]
    assert epicor.rows["SalesOrders"][5001]["IntExternalKey"] == invoice_id
    writes = len(stripe.writes)
    assert run_order_flow(ctx)["keys"]["StripeInvoice"] == invoice_id
    assert len(stripe.writes) == writes


def test_lost_journal_and_key_still_find_the_invoice_by_its_metadata(fake_redis):
    epicor, stripe = FakeEpicor(customers=[CUSTOMER], orders=[ORDER], lines=LINES), FakeStripe()
    ctx = context(epicor, stripe)
    invoice_id = run_order_flow(ctx)["keys"]["StripeInvoice"]
    fake_redis.flushall()
    epicor.rows["SalesOrders"][5001]["IntExternalKey"] = ""
    assert run_order_flow(ctx)["keys"]["StripeInvoice"] == invoice_id
    assert [kind for kind, _ in stripe.writes].count("create_invoice") == 1


def test_draft_that_does_not_add_up_to_the_order_is_not_finalized():
    epicor, stripe = FakeEpicor(customers=[CUSTOMER], orders=[ORDER], lines=LINES), FakeStripe()
    ctx = context(epicor, stripe)
    customer_id = stripe._new("cus", {"name": "Acme", "email": "ap@acme.example", "metadata": {}})["id"]
    epicor.rows["Customers"][214]["ExternalID"] = customer_id
    draft = stripe._new("in", {"object": "invoice", "status": "draft", "customer": customer_id,
                               "metadata": {"epicor_company": "EPIC06", "epicor_order_num": "5001"}})
    stripe._new("ii", {"object": "invoiceitem", "invoice": draft["id"], "amount": 999, "metadata": {}})
    with pytest.raises(PermanentError) as caught:
        run_order_flow(ctx)
    assert caught.value.reason == "stripe.invoice_total_mismatch"
    assert "finalize_invoice" not in [kind for kind, _ in stripe.writes]
    assert [kind for kind, _ in stripe.writes].count("create_invoice") == 0
