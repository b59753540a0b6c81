"""Subscriptions and other Stripe invoices: a paid invoice becomes an Epicor AR invoice and receipt,
and the customer's standing (credit hold) follows its subscriptions and payment failures.

Flow ``stripe_invoice`` (``invoice.paid``, ``invoice.payment_succeeded``): both events of one
payment describe the same invoice and resolve to the same documents, keyed by the invoice id: an AR
invoice (``ExternalID`` = ``in_…``; ``Mis``, or ``Adv`` against the sales order named by
``epicor_order_num`` metadata) with a line per Stripe line, and a cash receipt (``ExternalID`` = the
charge) applied to it. Each document is looked up before it is created and a journal per invoice
remembers what is posted, exactly as for order-to-cash, whose helpers this flow uses. The invoice's
charge and PaymentIntent are left alone by order-to-cash (see ``order_to_cash._ensure_postable``).

Flow ``customer_standing`` (``customer.subscription.*``, ``invoice.payment_failed``): the event is
only a trigger. The worker re-reads the customer and all its subscriptions from Stripe, so a
``customer.subscription.updated`` that arrives before ``.created``, or a stale retry, still applies
the current state; of two readings applied concurrently the older is discarded. The customer is put
on credit hold while Stripe says it is behind (``tasks.mapping.customers``), and released only from
a hold the integration placed.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from tasks import store
from tasks.connectors.stripe_api import StripeRejected
from tasks.context import Context
from tasks.errors import PermanentError, ValidationFailed
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.flows import order_to_cash_epicor as epicor_docs
from tasks.flows.order_to_cash import _check_parts
from tasks.mapping.currency import epicor_currency_code
from tasks.mapping.customers import (
    customer_match,
    should_hold,
    standing_changes,
    subscription_line,
)
from tasks.mapping.invoices import (
    build_invoice_documents,
    invoice_facts,
    invoice_payment_refs,
    line_facts,
    line_price_refs,
)
from tasks.schemas import to_wire, validate_document

log = logging.getLogger(__name__)

CUSTOMER_FIELDS = ("id", "name", "email", "phone", "address", "metadata", "currency", "delinquent")
SUBSCRIPTION_FIELDS = ("id", "status", "created", "customer")
WRITEBACK_KEYS = ("epicor_cust_num", "epicor_invoice_num")


def _pick(source: dict[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any] | None:
    return {name: source.get(name) for name in names} if source else None


def _id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


# == invoice.paid ================================================================================
def fetch_invoice(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the invoice, its lines, prices, products, payment and customer from Stripe."""
    invoice = ctx.stripe.retrieve_invoice(envelope["object_id"])
    facts = invoice_facts(invoice)
    if not facts["paid"]:
        raise SkipEvent(f"invoice is {facts['status']}, not paid")
    lines = _all_lines(ctx, invoice)
    customer = ctx.stripe.customer(facts["customer"]) if facts["customer"] else None
    return {"invoice": facts, "lines": _priced_lines(ctx, lines), "payment": _payment(ctx, invoice),
            "customer": _pick(customer, CUSTOMER_FIELDS), "standing": _standing(ctx, customer),
            "fetched_at": time.time()}


def _all_lines(ctx: Context, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    embedded = invoice.get("lines") or {}
    if embedded.get("has_more") or "data" not in embedded:
        return ctx.stripe.invoice_lines(invoice["id"])
    return list(embedded["data"])


def _priced_lines(ctx: Context, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each line with its price and product (fetched once per id) for the part mapping."""
    fetched: dict[str, dict[str, Any] | None] = {}

    def once(object_id: str | None, read: Any) -> dict[str, Any] | None:
        if object_id and object_id not in fetched:
            fetched[object_id] = _optional(read, object_id)
        return fetched.get(object_id) if object_id else None

    priced = []
    for line in lines:
        refs = line_price_refs(line)
        price = refs["price"] or once(refs["price_id"], ctx.stripe.price)
        product_id = refs["product_id"] or _id((price or {}).get("product"))
        priced.append(line_facts(line, price, once(product_id, ctx.stripe.product)))
    return priced


def _optional(read: Any, object_id: str) -> dict[str, Any] | None:
    """A price or product for the part mapping; one Stripe will not give means no metadata to map by."""
    try:
        return read(object_id)
    except StripeRejected:
        log.info("price or product not readable; the line maps through the tables or the default part")
        return None


def _payment(ctx: Context, invoice: dict[str, Any]) -> dict[str, Any]:
    """The charge and PaymentIntent that paid the invoice (InvoicePayments from basil on)."""
    refs = invoice_payment_refs(invoice, [])
    if not (refs["charge"] or refs["payment_intent"]):
        refs = invoice_payment_refs(invoice, ctx.stripe.invoice_payments(invoice["id"]))
    if refs["payment_intent"] and not refs["charge"]:
        intent = ctx.stripe.payment_intent(refs["payment_intent"])
        refs["charge"] = _id(intent.get("latest_charge")) or _latest_of_list(intent)
    return refs


def _latest_of_list(intent: dict[str, Any]) -> str | None:
    charges = (intent.get("charges") or {}).get("data") or []  # API versions before 2022-11-15
    return charges[-1]["id"] if charges else None


def _standing(ctx: Context, customer: dict[str, Any] | None) -> dict[str, Any] | None:
    """The customer's standing after this payment; None (left alone) when Stripe cannot list subscriptions."""
    if not customer:
        return None
    try:
        subscriptions = ctx.stripe.subscriptions_of(customer["id"])
    except StripeRejected:
        log.info("subscriptions not listable; the customer's standing is left as it is")
        return None
    return {"delinquent": bool(customer.get("delinquent")),
            "subscriptions": [_pick(sub, SUBSCRIPTION_FIELDS) for sub in subscriptions]}


def transform_invoice(ctx: Context, bill: dict[str, Any]) -> dict[str, Any]:
    documents = build_invoice_documents(bill, ctx.mappings)
    standing = bill.get("standing")
    if standing and bill.get("customer"):
        documents["standing"] = _standing_documents(bill["customer"], standing["subscriptions"])
    documents["fetched_at"] = bill["fetched_at"]
    return {"documents": documents, "writeback": {"id": bill["invoice"]["id"], "metadata": {
        key: value for key, value in bill["invoice"]["metadata"].items() if key in WRITEBACK_KEYS}}}


def validate_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    documents = stage_input["documents"]
    currency = documents["currency"]
    validate_document("customer", documents["customer"]["create"], currency)
    validate_document("invoice_group", documents["invoice_group"], currency)
    validate_document("invoice_header", documents["invoice"]["header"], currency)
    for line in documents["invoice"]["lines"]:
        validate_document("billed_line", line, currency)
    if documents["receipt"]:
        validate_document("cash_group", documents["cash_group"], currency)
        validate_document("receipt_header", documents["receipt"]["header"], currency)
        _check_paid_within_total(documents)
    _check_parts(ctx, documents["parts"])
    return stage_input


def _check_paid_within_total(documents: dict[str, Any]) -> None:
    paid, total = Decimal(documents["receipt"]["header"]["DocTranAmt"]), Decimal(documents["total"])
    if paid > total:
        raise ValidationFailed(f"Stripe invoice {documents['payment_key']} was paid {paid}, more than its total "
                               f"{total}: apply the overpayment in Epicor by hand", reason="validation.overpaid")


def post_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    documents = stage_input["documents"]
    with store.locked(epicor_docs.customer_lock_name(documents["customer"]["match"])):
        keys = _post_invoice_documents(ctx, documents)
        if documents.get("standing"):
            _apply_standing(ctx, keys["CustNum"], documents["standing"], documents["fetched_at"])
    return {"keys": keys, "writeback": stage_input["writeback"]}


def _post_invoice_documents(ctx: Context, documents: dict[str, Any]) -> dict[str, Any]:
    journal_key = documents["payment_key"]
    journal = store.journal(journal_key)
    if journal.get("complete"):
        return _keys_from(journal)
    cust_num = int(journal.get("CustNum") or _customer_of(ctx, documents))
    store.journal_set(journal_key, CustNum=cust_num)
    invoice_num, fresh = _ensure_invoice(ctx, documents, journal, cust_num)
    keys: dict[str, Any] = {"CustNum": cust_num, "InvoiceNum": invoice_num}
    if documents["order_num"]:
        keys["OrderNum"] = documents["order_num"]
    if documents["receipt"]:
        group_id, head_num = epicor_docs.ensure_receipt(ctx, documents, journal_key, cust_num, invoice_num,
                                                        parent_fresh=fresh)
        keys |= {"CashGroupID": group_id, "HeadNum": head_num}
    store.journal_set(journal_key, complete=1, **{k: v for k, v in keys.items() if k != "CustNum"})
    return keys


def _keys_from(journal: dict[str, str]) -> dict[str, Any]:
    keys: dict[str, Any] = {"CustNum": int(journal["CustNum"]), "InvoiceNum": int(journal["InvoiceNum"])}
    for name in ("OrderNum", "HeadNum"):
        if journal.get(name):
            keys[name] = int(journal[name])
    if journal.get("CashGroupID"):
        keys["CashGroupID"] = journal["CashGroupID"]
    return keys


def _customer_of(ctx: Context, documents: dict[str, Any]) -> int:
    """The order's customer for an invoice of an Epicor order, else the Stripe customer's."""
    order_num = documents["order_num"]
    if not order_num:
        return epicor_docs.resolve_customer(ctx, documents["customer"])
    order = ctx.epicor.get(*epicor_docs.ORDERS, order_num)
    if not order:
        raise PermanentError(f"Sales order {order_num} named by the Stripe invoice's epicor_order_num is not in "
                             "Epicor", reason="mapping.unknown_order")
    return int(order["CustNum"])


def _ensure_invoice(ctx: Context, documents: dict[str, Any], journal: dict[str, str],
                    cust_num: int) -> tuple[int, bool]:
    invoice = documents["invoice"]
    if journal.get("InvoiceNum") and journal.get("invoice_lines"):
        return int(journal["InvoiceNum"]), False
    row, fresh = epicor_docs.ensure_in_group(
        ctx, epicor_docs.INVOICE_GROUPS, "invoice_group", documents["invoice_group"], epicor_docs.INVOICES,
        {"ExternalID": invoice["header"]["ExternalID"]},
        lambda group_id: to_wire("invoice_header", {**invoice["header"], "GroupID": group_id, "CustNum": cust_num}))
    invoice_num = int(row["InvoiceNum"])
    store.journal_set(documents["payment_key"], InvoiceNum=invoice_num)
    order_num = documents["order_num"]
    lines = [to_wire("billed_line", {**line, "InvoiceNum": invoice_num,
                                     **({"OrderNum": order_num} if order_num and line.get("OrderLine") else {})})
             for line in invoice["lines"]]
    epicor_docs.ensure_lines(ctx, epicor_docs.INVOICE_LINES, "InvoiceLine", {"InvoiceNum": invoice_num}, lines,
                             parent_fresh=fresh)
    store.journal_set(documents["payment_key"], invoice_lines=1)
    return invoice_num, fresh


def status_update_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write the Epicor numbers onto the Stripe invoice (once; a repeat finds them there)."""
    keys, target = stage_input["keys"], stage_input["writeback"]
    wanted = {"epicor_cust_num": str(keys["CustNum"]), "epicor_invoice_num": str(keys["InvoiceNum"])}
    if target["metadata"] != wanted:
        ctx.stripe.update_metadata(target["id"], wanted, idempotency_key=(
            f"epicor-writeback-{target['id']}-{wanted['epicor_cust_num']}-{wanted['epicor_invoice_num']}"))
    return {"keys": keys}


# == customer standing ===========================================================================
def fetch_standing(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the customer and all its subscriptions; the event only says which customer."""
    customer_id = _customer_behind(ctx, envelope)
    customer = ctx.stripe.customer(customer_id) if customer_id else None
    if not customer:
        raise SkipEvent("the Stripe customer no longer exists")
    subscriptions = _subscriptions_of(ctx, customer["id"], envelope)
    return {"customer": _pick(customer, CUSTOMER_FIELDS),
            "subscriptions": [_pick(sub, SUBSCRIPTION_FIELDS) for sub in subscriptions],
            "fetched_at": time.time()}


def _subscriptions_of(ctx: Context, customer_id: str, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """All the customer's subscriptions; the event's own one when Stripe cannot list them."""
    try:
        return ctx.stripe.subscriptions_of(customer_id)
    except StripeRejected:
        if envelope["type"].startswith("customer.subscription."):
            return [ctx.stripe.subscription(envelope["object_id"])]
        return []


def _customer_behind(ctx: Context, envelope: dict[str, Any]) -> str | None:
    if envelope["type"].startswith("invoice."):
        return _id(ctx.stripe.retrieve_invoice(envelope["object_id"]).get("customer"))
    return _id(ctx.stripe.subscription(envelope["object_id"]).get("customer"))


def _standing_documents(customer: dict[str, Any], subscriptions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hold": should_hold(customer, subscriptions), "comment_line": subscription_line(subscriptions)}


def transform_standing(ctx: Context, snapshot: dict[str, Any]) -> dict[str, Any]:
    customer = snapshot["customer"]
    currency = epicor_currency_code(customer["currency"], ctx.mappings) if customer.get("currency") else ""
    return {"customer": customer_match(customer, ctx.mappings, currency), "fetched_at": snapshot["fetched_at"],
            "standing": _standing_documents(customer, snapshot["subscriptions"])}


def validate_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    create = stage_input["customer"]["create"]
    validate_document("customer", create, create.get("CurrencyCode") or "USD")
    return stage_input


def post_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    with store.locked(epicor_docs.customer_lock_name(stage_input["customer"]["match"])):
        cust_num = epicor_docs.resolve_customer(ctx, stage_input["customer"])
        hold = _apply_standing(ctx, cust_num, stage_input["standing"], stage_input["fetched_at"])
    return {"keys": {"CustNum": cust_num, "CreditHold": hold}}


def _apply_standing(ctx: Context, cust_num: int, standing: dict[str, Any], fetched_at: float) -> bool:
    """PATCH CreditHold / Comment when they differ; a reading older than one applied is dropped."""
    marks = store.key("standing", ctx.epicor.company, str(cust_num))
    client = store.client()
    applied_at = float(client.hget(marks, "fetched_at") or 0)
    if fetched_at < applied_at:
        return client.hget(marks, "hold") == "1"
    row = ctx.epicor.get(*epicor_docs.CUSTOMERS, cust_num) or {}
    ours = client.hget(marks, "placed_hold") == "1"
    changes = standing_changes(row, standing["hold"], ours, standing["comment_line"])
    if changes:
        ctx.epicor.update(*epicor_docs.CUSTOMERS, [cust_num], to_wire("customer_standing", changes))
    if "CreditHold" in changes:
        client.hset(marks, "placed_hold", "1" if changes["CreditHold"] else "0")
    client.hset(marks, mapping={"fetched_at": str(fetched_at), "hold": "1" if standing["hold"] else "0"})
    return bool(changes.get("CreditHold", row.get("CreditHold")))


def status_update_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    return {"keys": stage_input["keys"]}


INVOICE_FLOW = Flow(name="stripe_invoice", fetch=fetch_invoice, transform=transform_invoice,
                    validate=validate_invoice, post=post_invoice, status_update=status_update_invoice,
                    retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
STANDING_FLOW = Flow(name="customer_standing", fetch=fetch_standing, transform=transform_standing,
                     validate=validate_standing, post=post_standing, status_update=status_update_standing,
                     retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
