"""Stripe invoice (subscriptions and billed orders) → Epicor AR invoice and cash receipt. Pure functions.

Policy, as an accountant would check it:

* **Both invoice shapes.** Before API 2025-03-31 (basil) an invoice names its payment and subscription
  at the top (``charge``, ``payment_intent``, ``paid``, ``subscription``) and each line carries
  ``price`` / ``plan``, ``proration`` and ``type``; from basil on the subscription is under
  ``parent.subscription_details``, payments are InvoicePayments (``payment.payment_intent`` /
  ``payment.charge``), and a line has ``pricing.price_details.price`` and ``parent.*_details.proration``.
  ``invoice_facts`` and ``line_facts`` read either into one form.
* **One Epicor line per Stripe line**, its part from the mapping tables (``epicor_part_num`` on the
  line, the price or the product, then ``parts.yaml``; else the default part). Quantity and unit
  price are the line's quantity and ``amount / quantity``; when that price needs more decimals than
  the currency has, the line becomes ``1 x amount`` with ``"N x text"``. A proration credit (unused
  time) is a line with a **negative unit price** and a positive quantity, so the invoice nets exactly
  as Stripe's does; a credit memo is not used because the customer was not refunded, only billed
  less. Tax, discounts and anything else that makes Stripe's ``total`` differ from the sum of its
  lines becomes one adjustment line on the default part, so the Epicor invoice equals Stripe's total.
* **Two kinds of invoice.** A subscription or one-off Stripe invoice becomes a miscellaneous (``Mis``)
  AR invoice with no sales order. An invoice the integration raised for an Epicor sales order (its
  metadata has ``epicor_order_num``) becomes an advance-billing (``Adv``) invoice against that order,
  lines linked to their order lines where the invoice item names them (``epicor_order_line``).
* **External references.** The AR invoice's ``ExternalID`` is the Stripe invoice id (``in_…``). The
  cash receipt's ``ExternalID`` is the charge that paid it (``ch_…``), the id the payout report
  matches on; an invoice marked paid outside Stripe has no charge and its receipt carries the invoice
  id instead. No receipt is made for an invoice paid with nothing (a zero or credit total).
* **Dates.** The invoice is dated when Stripe finalised it, the receipt when it was paid, both as
  calendar days in the company's zone; the daily groups follow those days.

The documents themselves are built by the mapping engine from ``mappings/documents/stripe_invoice`` (customer,
invoice group, AR invoice) and ``stripe_invoice_receipt`` (cash group and receipt, only when something was
paid); what stays here is reading either invoice shape and the algorithm those files call through their
builders (``tasks.mapping.builders``: ``billed``, ``invoice_payer``). All pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tasks.connectors.stripe_objects import stripe_id
from tasks.errors import MappingError
from tasks.mapping.address import clean_text
from tasks.mapping.currency import minor_to_decimal
from tasks.mapping.customers import as_payer
from tasks.mapping.ids import epicor_refs
from tasks.mapping.order_to_cash import (
    SaleLine,
    distinct_parts,
    format_quantity,
    priced_line,
)
from tasks.mapping.tables import Mappings

ADJUSTMENT_TEXT = "Tax, discounts and other adjustments"


# -- reading either shape ------------------------------------------------------------------------
def invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills: top-level before basil, under ``parent`` from basil on."""
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return stripe_id(invoice.get("subscription")) or stripe_id(details.get("subscription"))


def invoice_payment_refs(invoice: Mapping[str, Any], payments: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """The charge and PaymentIntent that paid the invoice, from either shape.

    ``payments`` are InvoicePayments (fetched, or ``invoice.payments.data``); the paid one wins,
    the default one breaks a tie.
    """
    charge, intent = stripe_id(invoice.get("charge")), stripe_id(invoice.get("payment_intent"))
    if charge or intent:
        return {"charge": charge, "payment_intent": intent}
    listed = list(payments) or list(((invoice.get("payments") or {}).get("data")) or [])
    paid = sorted((p for p in listed if p.get("status") in ("paid", None)),
                  key=lambda p: (not p.get("is_default"), -(p.get("amount_paid") or 0)))
    payment = (paid[0].get("payment") or {}) if paid else {}
    return {"charge": stripe_id(payment.get("charge")), "payment_intent": stripe_id(payment.get("payment_intent"))}


def line_price_refs(line: Mapping[str, Any]) -> dict[str, Any]:
    """Price id, product id and the price object when the line embeds it, from either shape."""
    details = (line.get("pricing") or {}).get("price_details") or {}
    price = line.get("price") or details.get("price") or line.get("plan")
    product = details.get("product") or (price.get("product") if isinstance(price, Mapping) else None)
    return {"price_id": stripe_id(price), "product_id": stripe_id(product),
            "price": price if isinstance(price, Mapping) else None}


def line_is_proration(line: Mapping[str, Any]) -> bool:
    """A proration line: ``proration`` before basil, ``parent.*_details.proration`` after."""
    if line.get("proration"):
        return True
    parent = line.get("parent") or {}
    return any((parent.get(kind) or {}).get("proration")
               for kind in ("subscription_item_details", "invoice_item_details"))


def invoice_facts(invoice: Mapping[str, Any]) -> dict[str, Any]:
    """What the documents need from an invoice of either shape."""
    transitions = invoice.get("status_transitions") or {}
    return {
        "id": invoice["id"], "number": invoice.get("number"), "currency": invoice["currency"],
        "customer": stripe_id(invoice.get("customer")), "status": invoice.get("status"),
        "total": invoice.get("total") or 0, "amount_paid": invoice.get("amount_paid") or 0,
        "paid": bool(invoice.get("paid")) or invoice.get("status") == "paid",
        "billing_reason": invoice.get("billing_reason"), "subscription": invoice_subscription(invoice),
        "metadata": dict(invoice.get("metadata") or {}), "description": invoice.get("description"),
        "issued_at": transitions.get("finalized_at") or invoice.get("effective_at") or invoice.get("created"),
        "paid_at": transitions.get("paid_at") or invoice.get("created"),
        "customer_name": invoice.get("customer_name"), "customer_email": invoice.get("customer_email"),
        "customer_address": invoice.get("customer_address"), "customer_phone": invoice.get("customer_phone"),
    }


def line_facts(line: Mapping[str, Any], price: Mapping[str, Any] | None,
               product: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the documents need from one line, its price and product already fetched (or ``None``)."""
    refs = line_price_refs(line)
    return {
        "id": line.get("id"), "description": line.get("description"), "amount": line.get("amount") or 0,
        "currency": line.get("currency"), "quantity": line.get("quantity"), "proration": line_is_proration(line),
        "price_id": refs["price_id"], "product_id": refs["product_id"] or (price or {}).get("product"),
        "metadata": dict(line.get("metadata") or {}), "price_metadata": dict((price or {}).get("metadata") or {}),
        "product_metadata": dict((product or {}).get("metadata") or {}), "product_name": (product or {}).get("name"),
    }


# -- lines and payer -------------------------------------------------------------------------------
def line_part(line: Mapping[str, Any], mappings: Mappings) -> str:
    """The line's PartNum: line metadata, price, product, tables, else the default part."""
    own = clean_text(line["metadata"].get("epicor_part_num"))
    return own or mappings.part_for(line["price_id"], line["product_id"], line["price_metadata"],
                                    line["product_metadata"]) or mappings.default_part


def line_text(line: Mapping[str, Any]) -> str:
    return clean_text(line["description"]) or clean_text(line["product_name"]) or f"Stripe invoice line {line['id']}"


def sale_line(line: Mapping[str, Any], mappings: Mappings, currency: str) -> SaleLine:
    """One Stripe line as quantity x unit price (a credit has a negative price)."""
    if (line.get("currency") or currency).lower() != currency.lower():
        raise MappingError(f"invoice line '{line_text(line)}' is in {str(line['currency']).upper()}, "
                           f"the invoice in {currency.upper()}", reason="mapping.currency")
    quantity = Decimal(line["quantity"] or 0)
    total = minor_to_decimal(line["amount"], currency)
    text = line_text(line)
    if quantity <= 0:
        return SaleLine(line_part(line, mappings), f"{format_quantity(quantity)} x {text}", Decimal(1), total)
    return priced_line(line_part(line, mappings), text, quantity, total, currency)


def with_adjustment(lines: list[SaleLine], total: Decimal, mappings: Mappings) -> list[SaleLine]:
    """The lines plus one line for whatever makes Stripe's total differ from their sum."""
    difference = total - sum((line.extension for line in lines), Decimal(0))
    if difference == 0 and lines:
        return lines
    return lines + [SaleLine(mappings.default_part, ADJUSTMENT_TEXT, Decimal(1), difference)]


def order_line_of(line: Mapping[str, Any], order_num: int | None) -> int | None:
    """The Epicor order line an invoice item was raised for, when it names this order."""
    metadata = line["metadata"]
    if order_num is None or str(metadata.get("epicor_order_num") or "").strip() != str(order_num):
        return None
    text = str(metadata.get("epicor_order_line") or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def order_num_of(metadata: Mapping[str, Any]) -> int | None:
    """The Epicor sales order an invoice was raised for (``epicor_order_num``), if any."""
    order_num = epicor_refs(metadata)["order_num"]
    return int(str(order_num)) if order_num is not None else None


def billed_lines(bill: Mapping[str, Any], mappings: Mappings) -> dict[str, Any]:
    """The invoice's lines as the AR invoice file maps them, netting to Stripe's total, and whether it bills
    an Epicor order: ``order_num`` (or None), ``invoice_type`` (``Adv`` against an order, else ``Mis``),
    ``own_currency`` (None against an order: the invoice takes the order's currency), ``lines`` (``number``,
    ``part``, ``description``, ``quantity``, ``unit_price``; ``order_line`` and ``order_num`` when the item
    names a line of that order) and the distinct ``parts``."""
    invoice = bill["invoice"]
    currency = invoice["currency"]
    order_num = order_num_of(invoice["metadata"])
    sale_lines = [sale_line(line, mappings, currency) for line in bill["lines"]]
    settled = with_adjustment(sale_lines, minor_to_decimal(invoice["total"], currency), mappings)
    links = [order_line_of(line, order_num) for line in bill["lines"]] + [None]
    lines = [{"number": number, "part": line.part, "description": line.description, "quantity": line.quantity,
              "unit_price": line.unit_price, "order_line": link, "order_num": order_num if link else None}
             for number, (line, link) in enumerate(zip(settled, links), start=1)]
    return {"order_num": order_num, "invoice_type": "Adv" if order_num else "Mis",
            "own_currency": None if order_num else currency, "lines": lines, "parts": distinct_parts(settled)}


def payer_of(bill: Mapping[str, Any]) -> dict[str, Any]:
    """The invoice's payer in the shape the payment flow's customer matching reads: the Stripe customer, or
    the invoice's own contact when Stripe has no customer (then the invoice id stands for the charge)."""
    customer, invoice = bill.get("customer"), bill["invoice"]
    if customer:
        return as_payer(customer)
    billing = {"name": invoice["customer_name"], "email": invoice["customer_email"],
               "phone": invoice["customer_phone"], "address": invoice["customer_address"]}
    return {"charge": {"id": invoice["id"], "metadata": {}, "billing_details": billing}}


def invoice_cust_num(bill: Mapping[str, Any]) -> int | None:
    """The Epicor customer the invoice's ``epicor_cust_num`` metadata names, if any."""
    cust_num = epicor_refs(bill["invoice"]["metadata"])["cust_num"]
    return int(str(cust_num)) if cust_num is not None else None
