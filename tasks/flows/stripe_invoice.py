"""Flow ``stripe_invoice``: a paid Stripe invoice (subscriptions and others) becomes an Epicor AR invoice
and receipt; the customer's standing is brought up to date with it (``customer_standing``'s rule).

Flow ``stripe_invoice`` (``invoice.paid``, ``invoice.payment_succeeded``): both events of one
payment describe the same invoice and resolve to the same documents, keyed by the invoice id: an AR
invoice (``ExternalID`` = ``in_…``; ``Mis``, or ``Adv`` against the sales order named by
``epicor_order_num`` metadata) with a line per Stripe line, and a cash receipt (``ExternalID`` = the
charge) applied to it. Each document is looked up before it is created and a journal per invoice
remembers what is posted, exactly as for order-to-cash, whose helpers this flow uses. The invoice's
charge and PaymentIntent are left alone by order-to-cash (see ``order_to_cash._ensure_postable``).

"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from tasks import store
from tasks.connectors.stripe_api import StripeRejected
from tasks.connectors.stripe_objects import fields_of, stripe_id
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import to_wire, validate_document
from tasks.errors import PermanentError, ValidationFailed
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.flows.customer_standing import CUSTOMER_FIELDS, apply_standing, current_standing, standing_documents
from tasks.mapping.invoices import (
    build_invoice_documents,
    invoice_facts,
    invoice_payment_refs,
    line_facts,
    line_price_refs,
)

log = logging.getLogger(__name__)

WRITEBACK_KEYS = ("epicor_cust_num", "epicor_invoice_num")


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
            "customer": fields_of(customer, CUSTOMER_FIELDS), "standing": current_standing(ctx, customer),
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
        product_id = refs["product_id"] or stripe_id((price or {}).get("product"))
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
        refs["charge"] = stripe_id(intent.get("latest_charge")) or _latest_of_list(intent)
    return refs


def _latest_of_list(intent: dict[str, Any]) -> str | None:
    charges = (intent.get("charges") or {}).get("data") or []  # API versions before 2022-11-15
    return charges[-1]["id"] if charges else None


def transform_invoice(ctx: Context, bill: dict[str, Any]) -> dict[str, Any]:
    documents = build_invoice_documents(bill, ctx.mappings)
    standing = bill.get("standing")
    if standing and bill.get("customer"):
        documents["standing"] = standing_documents(bill["customer"], standing["subscriptions"])
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
    epicor_docs.check_parts(ctx, documents["parts"])
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
            apply_standing(ctx, keys["CustNum"], documents["standing"], documents["fetched_at"])
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


FLOW = Flow(name="stripe_invoice", fetch=fetch_invoice, transform=transform_invoice,
                    validate=validate_invoice, post=post_invoice, status_update=status_update_invoice,
                    retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
