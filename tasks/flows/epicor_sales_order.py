"""Epicor ``SalesOrder.Created`` → a finalized, sent Stripe invoice, its id recorded on the order.

For sellers whose orders start in Epicor (phone, EDI, sales reps) and who collect with Stripe
invoices. When the invoice is paid, the ``invoice.paid`` flow finds ``epicor_order_num`` in the
invoice's metadata and posts the AR invoice and receipt against this same order (no second order).

Policy:

- The order, its lines and its customer are read from Epicor; the event body is never trusted. An
  ``OrderNum`` Epicor does not have is permanent (dead-lettered at once). An order with no lines yet
  (the header is saved before the lines are keyed) waits and retries, within the flow's bounded
  retries. Orders the integration itself created from a Stripe payment (``IntExternalKey`` holding a
  ``pi_``/``ch_`` id) are already paid and are ``ignored``; so are void orders.
- Exactly one invoice per order: it is looked up before it is created (this event's journal in Redis,
  then the order's ``IntExternalKey`` = ``in_…``, then the customer's Stripe invoices carrying this
  order's ``epicor_order_num``), and every Stripe write has an idempotency key derived from the
  company, ``OrderNum``, the order line and the parameters. Items already on the draft are not added
  again; finalize and send happen once (the journal remembers ``sent``).
- The invoice's total must equal the order's ``DocOrderAmt`` before it is finalized; a difference is
  a permanent error for a person to look at, never a wrong invoice sent to a customer.
- Stripe writes for one order are serialised by a per-order lock.
"""

from __future__ import annotations

import logging
from typing import Any

from tasks import store
from tasks.connectors.epicor import eq_filter
from tasks.connectors.stripe_api import StripeNotFound
from tasks.context import Context
from tasks.epicor.posting import ORDER_LINES, ORDERS
from tasks.errors import PermanentError, PrerequisiteMissing, ValidationFailed
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.flows import epicor_customer as customers
from tasks.mapping import epicor_to_stripe as mapping
from tasks.mapping.building import documents_for

log = logging.getLogger(__name__)

FLOW_NAME = "epicor_sales_order"
ORDER_COLUMNS = ("OrderNum", "CustNum", "OrderDate", "PONum", "TermsCode", "CurrencyCode", "DocOrderAmt",
                 "IntExternalKey", "OpenOrder", "VoidOrder", "SysRevID")
LINE_COLUMNS = ("OrderNum", "OrderLine", "PartNum", "LineDesc", "SalesUM", "SellingQuantity", "DocUnitPrice",
                "DocExtPriceDtl", "DocDiscount", "VoidLine")
PAYMENT_PREFIXES = ("pi_", "ch_", "py_")


# -- fetch ---------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    order = read_order(ctx, customers.event_number(envelope))
    _ensure_billable(order)
    lines = [{name: line.get(name) for name in LINE_COLUMNS}
             for line in ctx.epicor.query(*ORDER_LINES, eq_filter(OrderNum=int(order["OrderNum"])))]
    if not mapping.live_lines(lines):
        raise PrerequisiteMissing(f"Sales order {order['OrderNum']} has no lines yet; waiting for them",
                                  reason="epicor.order_without_lines")
    return {"order": order, "lines": lines, "customer": customers.read_customer(ctx, int(order["CustNum"]))}


def read_order(ctx: Context, order_num: int) -> dict[str, Any]:
    row = ctx.epicor.get(*ORDERS, order_num)
    if row is None:
        raise PermanentError(f"Sales order {order_num} is not in Epicor company {ctx.settings.epicor_company}",
                             reason="epicor.record_missing")
    return {name: row.get(name) for name in ORDER_COLUMNS}


def _ensure_billable(order: dict[str, Any]) -> None:
    key = str(order.get("IntExternalKey") or "")
    if key.startswith(PAYMENT_PREFIXES):
        raise SkipEvent(f"sales order came from Stripe payment {key} and is already paid")
    if order.get("VoidOrder"):
        raise SkipEvent("sales order is void")


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    """The Stripe invoice and its items from their mapping file (``mappings/documents/epicor_sales_order``) and
    the order's customer from ``epicor_customer``'s; beside them, as the Stripe parameters they give with the
    metadata naming the order and its lines, what validate and post send."""
    order, customer = fetched["order"], fetched["customer"]
    company = ctx.settings.epicor_company
    [invoice_document] = documents_for(ctx, FLOW_NAME, fetched)
    customer_documents = customers.customer_documents(ctx, customer)
    invoice = mapping.invoice_params(invoice_document, order, company)
    return {**fetched, "documents": customer_documents + [invoice_document], "currency": invoice["currency"],
            "invoice": invoice, "items": mapping.invoice_items(invoice_document, fetched["lines"]),
            "customer_wanted": mapping.customer_params(customer_documents[0], customer, company)}


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    customer, order = stage_input["customer"], stage_input["order"]
    customers.check_customer(customer, stage_input["customer_wanted"])
    if not stage_input["customer_wanted"]["email"]:
        raise ValidationFailed(f"Sales order {order['OrderNum']}: customer {customer['CustNum']} "
                               f"({customer.get('CustID')}) has no EMailAddress to send the Stripe invoice to",
                               reason="validation.no_email")
    problem = mapping.invoice_total_problem(stage_input["items"], order, stage_input["currency"])
    if problem:
        raise ValidationFailed(problem, reason="validation.order_total")
    return stage_input


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    order, company = stage_input["order"], ctx.settings.epicor_company
    customer_id, _ = customers.sync_customer(ctx, stage_input["customer"], stage_input["customer_wanted"])
    with store.locked(f"epicor-order:{company}:{int(order['OrderNum'])}"):
        invoice = bill_order(ctx, stage_input, customer_id)
        _record_on_order(ctx, order, invoice["id"])
    return {"keys": {"OrderNum": int(order["OrderNum"]), "CustNum": int(order["CustNum"]),
                     "StripeCustomer": customer_id, "StripeInvoice": invoice["id"]}}


def journal_key(company: str, order_num: int) -> str:
    return f"epicor-order:{company}:{order_num}"


def bill_order(ctx: Context, stage_input: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The order's one Stripe invoice, with its items, finalized and sent."""
    order, company = stage_input["order"], ctx.settings.epicor_company
    journal = journal_key(company, int(order["OrderNum"]))
    invoice = find_invoice(ctx, order, customer_id) or _create_invoice(ctx, stage_input, customer_id)
    store.journal_set(journal, invoice=invoice["id"])
    invoice_id = invoice["id"]
    if invoice.get("status") == "draft":
        _add_missing_items(ctx, invoice_id, stage_input["items"], customer_id)
        _check_invoice_total(ctx, invoice_id, stage_input)
        key = mapping.invoice_step_key("finalize", invoice_id)
        invoice = ctx.stripe.finalize_invoice(invoice_id, idempotency_key=key)
    if invoice.get("status") == "open" and not store.journal(journal).get("sent"):
        invoice = ctx.stripe.send_invoice(invoice_id, idempotency_key=mapping.invoice_step_key("send", invoice_id))
    store.journal_set(journal, sent=1)
    return invoice


def find_invoice(ctx: Context, order: dict[str, Any], customer_id: str) -> dict[str, Any] | None:
    """The invoice already made for this order, if any: journal, then IntExternalKey, then Stripe's list."""
    company = ctx.settings.epicor_company
    recorded = store.journal(journal_key(company, int(order["OrderNum"]))).get("invoice")
    key = str(order.get("IntExternalKey") or "")
    for invoice_id in (recorded, key if key.startswith("in_") else None):
        invoice = _live_invoice(ctx, invoice_id)
        if invoice:
            return invoice
    return next((invoice for invoice in ctx.stripe.invoices_of_customer(customer_id)
                 if _is_for_order(invoice, company, int(order["OrderNum"]))), None)


def _live_invoice(ctx: Context, invoice_id: str | None) -> dict[str, Any] | None:
    if not invoice_id:
        return None
    try:
        invoice = ctx.stripe.retrieve_invoice(invoice_id)
    except StripeNotFound:
        return None
    return invoice if invoice.get("status") not in ("void", "deleted") else None


def _is_for_order(invoice: dict[str, Any], company: str, order_num: int) -> bool:
    metadata = invoice.get("metadata") or {}
    return (metadata.get("epicor_order_num") == str(order_num) and metadata.get("epicor_company") == company
            and invoice.get("status") not in ("void", "deleted"))


def _create_invoice(ctx: Context, stage_input: dict[str, Any], customer_id: str) -> dict[str, Any]:
    order, company = stage_input["order"], ctx.settings.epicor_company
    params = {**stage_input["invoice"], "customer": customer_id}
    key = mapping.invoice_key(company, int(order["OrderNum"]), params)
    invoice = ctx.stripe.create_invoice(params, idempotency_key=key)
    log.info("stripe invoice created for epicor sales order")
    return invoice


def _add_missing_items(ctx: Context, invoice_id: str, items: list[dict[str, Any]], customer_id: str) -> None:
    """Create the items of order lines that are not on the draft yet."""
    on_draft = ctx.stripe.invoice_items_of(invoice_id)
    present = {(item.get("metadata") or {}).get("epicor_order_line") for item in on_draft}
    company = ctx.settings.epicor_company
    for item in items:
        if item["metadata"]["epicor_order_line"] in present:
            continue
        params = {**item, "customer": customer_id, "invoice": invoice_id}
        ctx.stripe.create_invoice_item(params, idempotency_key=mapping.invoice_item_key(company, invoice_id, item))


def _check_invoice_total(ctx: Context, invoice_id: str, stage_input: dict[str, Any]) -> None:
    invoice = ctx.stripe.retrieve_invoice(invoice_id)
    expected = sum(mapping.item_amount(item) for item in stage_input["items"])
    billed = invoice.get("subtotal", invoice.get("total"))
    if billed != expected:
        raise PermanentError(f"Stripe invoice {invoice_id} for sales order {stage_input['order']['OrderNum']} "
                             f"totals {billed}, the order {expected} (minor units); it was left as a draft",
                             reason="stripe.invoice_total_mismatch")


def _record_on_order(ctx: Context, order: dict[str, Any], invoice_id: str) -> None:
    """``IntExternalKey`` = the invoice id, unless it already says so or holds a site's own value."""
    current = str(order.get("IntExternalKey") or "").strip()
    if current == invoice_id:
        return
    if current and not current.startswith("in_"):
        log.warning("sales order IntExternalKey holds a non-Stripe value; left unchanged")
        return
    ctx.epicor.update(*ORDERS, [int(order["OrderNum"])], {"IntExternalKey": invoice_id})


# -- status-update -------------------------------------------------------------------------------
def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    return {"keys": stage_input["keys"]}


FLOW = Flow(name=FLOW_NAME, fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=8, backoff_base=5, backoff_max=600))
