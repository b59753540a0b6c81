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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tasks.connectors.stripe_objects import stripe_id
from tasks.errors import MappingError
from tasks.mapping.address import clean_text
from tasks.mapping.currency import epicor_currency_code, format_amount, minor_to_decimal
from tasks.mapping.customers import customer_match
from tasks.mapping.dates import epicor_date, group_id
from tasks.mapping.ids import epicor_refs
from tasks.mapping.order_to_cash import (
    LINE_DESC_LENGTH,
    SaleLine,
    customer_section,
    distinct_parts,
    format_quantity,
    priced_line,
)
from tasks.mapping.tables import Mappings

ADJUSTMENT_TEXT = "Tax, discounts and other adjustments"
DESCRIPTION_LENGTH = 30
REFERENCE_LENGTH = 50


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


# -- documents -----------------------------------------------------------------------------------
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


def invoice_lines(bill: Mapping[str, Any], mappings: Mappings, order_num: int | None) -> tuple[list[dict], list[str]]:
    """Epicor invoice line documents and their distinct parts."""
    currency = bill["invoice"]["currency"]
    sale_lines = [sale_line(line, mappings, currency) for line in bill["lines"]]
    total = minor_to_decimal(bill["invoice"]["total"], currency)
    settled = with_adjustment(sale_lines, total, mappings)
    links = [order_line_of(line, order_num) for line in bill["lines"]] + [None]
    documents = []
    for number, (line, order_line) in enumerate(zip(settled, links), start=1):
        document = {"InvoiceLine": number, "PartNum": line.part, "LineDesc": line.description[:LINE_DESC_LENGTH],
                    "SellingShipQty": format_quantity(line.quantity),
                    "DocUnitPrice": format_amount(line.unit_price, currency), "SalesUM": mappings.sales_um}
        if order_line:
            document["OrderLine"] = order_line
        documents.append(document)
    return documents, distinct_parts(settled)


def invoice_header(bill: Mapping[str, Any], order_num: int | None, document_date: str,
                   currency_code: str) -> dict[str, Any]:
    invoice = bill["invoice"]
    label = f"Stripe {invoice['number']}" if invoice.get("number") else "Stripe invoice"
    header: dict[str, Any] = {"InvoiceType": "Adv" if order_num else "Mis", "InvoiceDate": document_date,
                              "ExternalID": invoice["id"], "Description": label[:DESCRIPTION_LENGTH]}
    if order_num:
        header["OrderNum"] = order_num
    else:
        header["CurrencyCode"] = currency_code
    return header


def receipt_reference(bill: Mapping[str, Any]) -> str:
    """The receipt's external reference: the paying charge (its PaymentIntent when Stripe shows no
    charge), else the invoice (paid outside Stripe)."""
    payment = bill["payment"]
    return payment.get("charge") or payment.get("payment_intent") or bill["invoice"]["id"]


def receipt_documents(bill: Mapping[str, Any], mappings: Mappings, currency_code: str) -> dict[str, Any]:
    """The day's cash group and the receipt of what was paid, or no receipt when nothing was."""
    invoice = bill["invoice"]
    if invoice["amount_paid"] <= 0:
        return {"cash_group": None, "receipt": None}
    date = epicor_date(invoice["paid_at"], mappings.timezone)
    reference = receipt_reference(bill)
    amount = format_amount(minor_to_decimal(invoice["amount_paid"], invoice["currency"]), invoice["currency"])
    header = {"TranType": "PayInv", "TranDate": date, "DocTranAmt": amount, "CurrencyCode": currency_code,
              "ExternalID": reference, "CheckRef": reference, "BankAcctID": mappings.bank_account,
              "Reference": f"Stripe invoice {invoice['number'] or invoice['id']}"[:REFERENCE_LENGTH]}
    return {"cash_group": {"GroupID": group_id(mappings.cash_group_prefix, date), "TranDate": date,
                           "BankAcctID": mappings.bank_account},
            "receipt": {"header": header, "lines": [{"TranType": "PayInv", "DocTranAmt": amount}]}}


def invoice_customer(bill: Mapping[str, Any], mappings: Mappings, currency_code: str) -> dict[str, Any]:
    """How to find or create the invoice's customer (the invoice's own contact when Stripe has no customer)."""
    customer, invoice = bill.get("customer"), bill["invoice"]
    if customer:
        section = customer_match(customer, mappings, currency_code)
    else:
        billing = {"name": invoice["customer_name"], "email": invoice["customer_email"],
                   "phone": invoice["customer_phone"], "address": invoice["customer_address"]}
        section = customer_section({"charge": {"id": invoice["id"], "metadata": {}, "billing_details": billing}},
                                   mappings, currency_code)
    refs = epicor_refs(invoice["metadata"])
    if refs["cust_num"]:
        section["match"] = {**section["match"], "cust_num": refs["cust_num"]}
    return section


def _order_num(metadata: Mapping[str, Any]) -> int | None:
    """The Epicor sales order an invoice was raised for (``epicor_order_num``), if any."""
    order_num = epicor_refs(metadata)["order_num"]
    return int(str(order_num)) if order_num is not None else None


def build_invoice_documents(bill: Mapping[str, Any], mappings: Mappings) -> dict[str, Any]:
    """Every Epicor document of one paid Stripe invoice, JSON-ready."""
    invoice = bill["invoice"]
    currency = invoice["currency"]
    currency_code = epicor_currency_code(currency, mappings)
    order_num = _order_num(invoice["metadata"])
    document_date = epicor_date(invoice["issued_at"], mappings.timezone)
    lines, parts = invoice_lines(bill, mappings, order_num)
    return {
        "payment_key": invoice["id"], "currency": currency_code, "order_num": order_num,
        "total": format_amount(minor_to_decimal(invoice["total"], currency), currency),
        "customer": invoice_customer(bill, mappings, currency_code),
        "invoice_group": {"GroupID": group_id(mappings.invoice_group_prefix, document_date),
                          "InvoiceDate": document_date},
        "invoice": {"header": invoice_header(bill, order_num, document_date, currency_code), "lines": lines},
        **receipt_documents(bill, mappings, currency_code),
        "parts": parts,
    }
