"""Posting changes to a sale already in Epicor: credit memos, debit invoices, their receipts, order holds.

Refunds and disputes adjust a sale that order-to-cash (or the invoice flow) posted. They share its
rules, and its helpers (``tasks.epicor.posting``):

- the sale is found by its invoice's ``ExternalID`` (the charge id, or the Stripe invoice id for a
  subscription payment) at fetch; until it exists the adjustment waits (``PrerequisiteMissing``, retried
  with backoff), because a credit memo needs the invoice it credits (``InvoiceRef``) and its customer,
  type and order, which transform writes into the documents;
- each adjustment is one AR document and one receipt applied to it, built by transform in the one
  document shape (``tasks.documents``), both carrying the same external reference (``re_…``, ``dp_…``,
  ``dp_…-R``) that is looked up before anything is created; post only fills in the keys Epicor assigns;
  a journal per reference lets a repeated event skip the look-ups, and lines of a document found by
  look-up are listed so only missing ones are created;
- order holds are changed only when the order is not already in the wanted state with the wanted
  comment lines, so a repeated event writes nothing.

Reason codes are required reference data (``tasks.mapping.reference``), checked against Epicor's
``Reasons`` (cached), so a code missing in Epicor stops the event at validation with a message naming
the code, its reason type, Reason Maintenance and the reasons.yaml key, not at the first write; Epicor's
own refusal of a reference code at a write is explained the same way.

Locks: an adjustment posts under its payment's lock (``lock_name``), the one the sale itself is posted
under, so a refund, a dispute and the sale of one payment never write at the same time, while other
payments of the same customer (or the many guests of the catch-all customer) are not held up.
"""

from __future__ import annotations

from typing import Any

from tasks import store
from tasks.connectors.stripe_objects import stripe_id
from tasks.context import Context
from tasks.documents import Document
from tasks.epicor import posting as sale_docs
from tasks.epicor.schemas import to_wire, validate_document
from tasks.errors import PrerequisiteMissing, ValidationFailed
from tasks.mapping import reference as reference_data

REASONS = ("Erp.BO.ReasonSvc", "Reasons")
SALE_FIELDS = ("InvoiceNum", "CustNum", "CurrencyCode", "InvoiceType", "OrderNum")


# -- the payment behind an adjustment ------------------------------------------------------------
def charge_summary(charge: dict[str, Any]) -> dict[str, Any]:
    """What an adjustment needs of the charge: the ids that find the sale and its order, and the payer."""
    billing = charge.get("billing_details") or {}
    intent_id = stripe_id(charge.get("payment_intent"))
    return {"id": charge["id"], "currency": charge["currency"], "customer": stripe_id(charge.get("customer")),
            "payment_intent": intent_id, "payment_key": intent_id or charge["id"],
            "invoice": stripe_id(charge.get("invoice")), "captured": charge.get("captured"),
            "guest_email": (billing.get("email") or "").strip().lower() or None}


def lock_name(charge: dict[str, Any]) -> str:
    """The posting lock of the payment the charge belongs to, the one its sale is posted under: an
    adjustment's documents are its own (by external reference), so only events of the same payment
    need to wait for each other, never other payments of the same customer."""
    return sale_docs.payment_lock_name(charge.get("payment_key") or charge["id"])


# -- the sale ------------------------------------------------------------------------------------
def sale_invoice(ctx: Context, reference: str) -> dict[str, Any] | None:
    """The sale's AR invoice (never a credit memo) carrying this external reference."""
    row = ctx.epicor.find_one(*sale_docs.INVOICES, ExternalID=reference)
    if not row or row.get("CreditMemo"):
        return None
    sale = {name: row.get(name) for name in SALE_FIELDS}
    return sale | {"InvoiceNum": int(row["InvoiceNum"]), "CustNum": int(row["CustNum"]),
                   "OrderNum": int(row["OrderNum"]) if row.get("OrderNum") else None}


def require_sale(ctx: Context, charge: dict[str, Any], what: str) -> dict[str, Any]:
    """The sale's invoice (by charge id, else by the Stripe invoice the charge paid), or
    ``PrerequisiteMissing`` so the event waits for the sale to be posted."""
    sale = sale_invoice(ctx, charge["id"])
    invoice_id = None
    if sale is None:
        invoice_id = charge.get("invoice") or ctx.stripe.invoice_paid_by(payment_intent=charge["payment_intent"],
                                                                          charge=charge["id"])
        sale = sale_invoice(ctx, invoice_id) if invoice_id else None
    if sale is None:
        raise PrerequisiteMissing(f"{what}: the sale (Stripe payment {charge['id']}"
                                  f"{', invoice ' + invoice_id if invoice_id else ''}) is not in Epicor yet; "
                                  "waiting for it to be posted")
    return sale


def check_currency(documents: list[Document], sale: dict[str, Any]) -> None:
    """An adjustment is in its sale's currency: a credit in another one would not net against the invoice."""
    for doc in documents:
        if doc["currency"] and doc["currency"] != sale["CurrencyCode"]:
            raise ValidationFailed(f"{doc['reference'].get('ExternalID')} is in {doc['currency']} but the sale's "
                                   f"invoice {sale['InvoiceNum']} is in {sale['CurrencyCode']}",
                                   reason="validation.currency")


def check_reasons(ctx: Context, reason_type: str, codes: list[str]) -> None:
    """Every reason code exists in Epicor (ReasonType ``reason_type``), or ``MissingReference`` naming
    Reason Maintenance, the reason type and the reasons.yaml key of each missing code."""
    missing = [code for code in dict.fromkeys(codes) if not _reason_exists(ctx, reason_type, code)]
    if missing:
        raise reference_data.missing("reason", missing, ctx.mappings)


def _reason_exists(ctx: Context, reason_type: str, code: str) -> bool:
    if store.cache_get("reason", reason_type, code):
        return True
    found = ctx.epicor.get(*REASONS, reason_type, code) is not None
    if found:
        store.cache_set(1, "reason", reason_type, code)
    return found


# -- one adjustment: an AR document and the receipt that settles it --------------------------------
def post_documents(ctx: Context, reference: str, documents: list[Document]) -> dict[str, Any]:
    """Post one adjustment built in the one shape (``tasks.documents``): its AR document (credit memo or
    debit invoice) with its lines, then its receipt and the line applying it, each once, filling only the
    keys Epicor assigns; the journal of ``reference`` and the look-ups by external reference as ever."""
    journal = store.journal(reference)
    if journal.get("complete"):
        return {"InvoiceNum": int(journal["InvoiceNum"]), "CashGroupID": journal["CashGroupID"],
                "HeadNum": int(journal["HeadNum"])}
    docs = {doc["kind"]: doc for doc in documents}
    memo = docs.get("credit_memo") or docs["ar_invoice"]
    with sale_docs.reference_refusals(ctx, documents):
        invoice_num, fresh = _ensure_memo(ctx, reference, docs["invoice_group"], memo, journal)
        group_id, head_num = sale_docs.ensure_cash_receipt(ctx, docs["cash_group"], docs["cash_receipt"], reference,
                                                           {"InvoiceNum": invoice_num}, parent_fresh=fresh)
    store.journal_set(reference, complete=1)
    return {"InvoiceNum": invoice_num, "CashGroupID": group_id, "HeadNum": head_num}


def _ensure_memo(ctx: Context, reference: str, group: Document, memo: Document,
                 journal: dict[str, str]) -> tuple[int, bool]:
    if journal.get("InvoiceNum") and journal.get("invoice_lines"):
        return int(journal["InvoiceNum"]), False
    invoice_num, fresh = sale_docs.ensure_ar_document(ctx, group, memo, {}, journal_key=reference)
    store.journal_set(reference, invoice_lines=1)
    return invoice_num, fresh


def posted_reference(ctx: Context, reference: str) -> dict[str, Any] | None:
    """The AR document carrying an external reference, if one was ever posted."""
    return ctx.epicor.find_one(*sale_docs.INVOICES, ExternalID=reference)


def record_outcome(ctx: Context, invoice_num: int, outcome: dict[str, Any]) -> bool:
    """Set an unposted credit memo's reason and note; False when posted already (left as it is)."""
    memo = ctx.epicor.get(*sale_docs.INVOICES, invoice_num)
    if memo is None or memo.get("Posted") or memo.get("CMReason") == outcome["CMReason"]:
        return False
    ctx.epicor.update(*sale_docs.INVOICES, [invoice_num], to_wire("credit_memo_outcome", outcome))
    return True


# -- the order ------------------------------------------------------------------------------------
def sale_order(ctx: Context, payment_key: str) -> dict[str, Any] | None:
    """The sales order of a payment (``IntExternalKey`` = PaymentIntent id, or charge id)."""
    return ctx.epicor.find_one(*sale_docs.ORDERS, IntExternalKey=payment_key)


def set_order_hold(ctx: Context, order: dict[str, Any], *, held: bool, notes: list[str]) -> bool:
    """Put the order on (or off) hold, appending the comment lines it lacks; False when nothing changed."""
    comment = order.get("OrderComment") or ""
    missing = [note for note in dict.fromkeys(notes) if note and note not in comment]
    if bool(order.get("OrderHeld")) == held and not missing:
        return False
    change = {"OrderHeld": held, "OrderComment": "\n".join(part for part in (comment, *missing) if part)}
    validate_document("order_hold", change, "USD")
    ctx.epicor.update(*sale_docs.ORDERS, [int(order["OrderNum"])], to_wire("order_hold", change))
    return True
