"""Flow ``stripe_invoice``: a paid Stripe invoice (subscriptions and others) becomes an Epicor AR invoice
and receipt; the customer's standing is brought up to date with it (``customer_standing``'s rule).

Flow ``stripe_invoice`` (``invoice.paid``, ``invoice.payment_succeeded``): both events of one
payment describe the same invoice and resolve to the same documents, keyed by the invoice id: an AR
invoice (``ExternalID`` = ``in_…``; ``Mis``, or ``Adv`` against the sales order named by
``epicor_order_num`` metadata) with a line per Stripe line, and a cash receipt (``ExternalID`` = the
charge) applied to it. Each document is looked up before it is created and a journal per invoice
remembers what is posted, exactly as for order-to-cash, whose helpers this flow uses. The invoice's
charge and PaymentIntent are left alone by order-to-cash (see ``order_to_cash._ensure_postable``).

Documents: transform builds them in the one shape (``tasks.documents``) with the mapping engine, from
``mappings/documents/stripe_invoice`` (customer, invoice group, AR invoice) and, only when something was paid,
``stripe_invoice_receipt`` (cash group, receipt with its line), the way disputes build a reversal. Validate
checks them generically, the AR invoice's lines as billed lines (a proration credit is a negative price);
post only fills the keys Epicor assigns. An invoice raised for an Epicor order goes to that order's customer,
read from the order at post (``_customer_of``), whatever the customer document says.
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
from tasks.documents import Document
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import validate_documents
from tasks.errors import PermanentError, ValidationFailed
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.flows.customer_standing import CUSTOMER_FIELDS, apply_standing, current_standing, standing_documents
from tasks.mapping.building import documents_for
from tasks.mapping.currency import format_amount, minor_to_decimal
from tasks.mapping.invoices import invoice_facts, invoice_payment_refs, line_facts, line_price_refs

log = logging.getLogger(__name__)

FLOW_NAME = "stripe_invoice"
RECEIPT_DOCUMENTS = "stripe_invoice_receipt"  # the receipt's mapping directory, built only when something was paid
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
    """The invoice's documents from the mapping files: customer, invoice group and AR invoice
    (``mappings/documents/stripe_invoice``), then the cash group and receipt (``stripe_invoice_receipt``) only
    when something was paid; beside them the facts validate and post read."""
    invoice = bill["invoice"]
    documents = documents_for(ctx, FLOW_NAME, bill)
    if invoice["amount_paid"] > 0:
        documents += documents_for(ctx, RECEIPT_DOCUMENTS, bill)
    ar_invoice = _of_kind(documents, "ar_invoice")
    standing = bill.get("standing")
    return {"documents": documents, "payment_key": invoice["id"], "order_num": ar_invoice["header"].get("OrderNum"),
            "total": format_amount(minor_to_decimal(invoice["total"], invoice["currency"]), invoice["currency"]),
            "standing": standing_documents(bill["customer"], standing["subscriptions"])
            if standing and bill.get("customer") else None,
            "fetched_at": bill["fetched_at"],
            "writeback": {"id": invoice["id"], "metadata": {
                key: value for key, value in invoice["metadata"].items() if key in WRITEBACK_KEYS}}}


def _of_kind(documents: list[Document], kind: str) -> Document:
    return next(doc for doc in documents if doc["kind"] == kind)


# The AR invoice's lines are an invoice Stripe billed: a proration credit is a negative unit price (its mapping
# file's ``lines: schema: billed_line``); an order's or a sale's invoice line could not be.
LINE_KINDS = {"ar_invoice": "billed_line"}


def validate_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Every document against its Epicor schema, no more paid than billed, and the parts its lines name exist."""
    documents = stage_input["documents"]
    validate_documents(documents, LINE_KINDS)
    _check_paid_within_total(stage_input)
    epicor_docs.check_parts(ctx, epicor_docs.parts_of(documents))
    return stage_input


def _check_paid_within_total(stage_input: dict[str, Any]) -> None:
    receipts = [doc for doc in stage_input["documents"] if doc["kind"] == "cash_receipt"]
    if not receipts:
        return
    paid, total = Decimal(receipts[0]["header"]["DocTranAmt"]), Decimal(stage_input["total"])
    if paid > total:
        raise ValidationFailed(f"Stripe invoice {stage_input['payment_key']} was paid {paid}, more than its total "
                               f"{total}: apply the overpayment in Epicor by hand", reason="validation.overpaid")


def post_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    documents = {doc["kind"]: doc for doc in stage_input["documents"]}
    with store.locked(epicor_docs.customer_lock_name(documents["customer"]["reference"]["match"])):
        keys = _post_invoice_documents(ctx, stage_input["payment_key"], documents, stage_input["order_num"])
        if stage_input.get("standing"):
            apply_standing(ctx, keys["CustNum"], stage_input["standing"], stage_input["fetched_at"])
    return {"keys": keys, "writeback": stage_input["writeback"]}


def _post_invoice_documents(ctx: Context, journal_key: str, documents: dict[str, Document],
                            order_num: int | None) -> dict[str, Any]:
    """Customer (or the order's), AR invoice with its lines, then the receipt applying it, each once."""
    journal = store.journal(journal_key)
    if journal.get("complete"):
        return _keys_from(journal)
    cust_num = int(journal.get("CustNum") or _customer_of(ctx, documents["customer"], order_num))
    store.journal_set(journal_key, CustNum=cust_num)
    keys: dict[str, Any] = {"CustNum": cust_num}
    keys["InvoiceNum"], fresh = _ensure_invoice(ctx, journal_key, documents, journal, keys)
    if order_num:
        keys["OrderNum"] = order_num
    if "cash_receipt" in documents:
        group_id, head_num = epicor_docs.ensure_cash_receipt(ctx, documents["cash_group"], documents["cash_receipt"],
                                                             journal_key, keys, parent_fresh=fresh)
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


def _customer_of(ctx: Context, customer: Document, order_num: int | None) -> int:
    """The order's customer for an invoice of an Epicor order, else the Stripe customer's."""
    if not order_num:
        return epicor_docs.resolve_customer(ctx, epicor_docs.customer_of(customer))
    order = ctx.epicor.get(*epicor_docs.ORDERS, order_num)
    if not order:
        raise PermanentError(f"Sales order {order_num} named by the Stripe invoice's epicor_order_num is not in "
                             "Epicor", reason="mapping.unknown_order")
    return int(order["CustNum"])


def _ensure_invoice(ctx: Context, journal_key: str, documents: dict[str, Document], journal: dict[str, str],
                    keys: dict[str, Any]) -> tuple[int, bool]:
    """The AR invoice and its lines as transform built them; its number is journalled once the header exists."""
    if journal.get("InvoiceNum") and journal.get("invoice_lines"):
        return int(journal["InvoiceNum"]), False
    invoice_num, fresh = epicor_docs.ensure_ar_document(ctx, documents["invoice_group"], documents["ar_invoice"],
                                                        keys, journal_key=journal_key)
    store.journal_set(journal_key, invoice_lines=1)
    return invoice_num, fresh


def status_update_invoice(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write the Epicor numbers onto the Stripe invoice (once; a repeat finds them there)."""
    keys, target = stage_input["keys"], stage_input["writeback"]
    wanted = {"epicor_cust_num": str(keys["CustNum"]), "epicor_invoice_num": str(keys["InvoiceNum"])}
    if target["metadata"] != wanted:
        ctx.stripe.update_metadata(target["id"], wanted, idempotency_key=(
            f"epicor-writeback-{target['id']}-{wanted['epicor_cust_num']}-{wanted['epicor_invoice_num']}"))
    return {"keys": keys}


FLOW = Flow(name=FLOW_NAME, fetch=fetch_invoice, transform=transform_invoice, validate=validate_invoice,
            post=post_invoice, status_update=status_update_invoice,
            retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
