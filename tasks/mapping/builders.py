"""Builders: the parts of a document that are algorithm, not assignment, named so a mapping file can call them.

Policy: a field mapping file says which value lands in which Epicor field; it does not settle order lines
to the cent, decide which Epicor customer a payment belongs to, or parse ``epicor_lines`` metadata. That
logic stays here, in tested Python shared with today's transforms (``order_to_cash.py``), and each
builder returns plain values (``Decimal`` for money) that the file maps field by field. A file lists the
builders it uses (``builders: [sale, payer]``); their results join the fetched objects under the
builder's name, so ``sale.lines[].part`` and ``payer.name`` are ordinary JMESPath sources.

Builders of one flow read that flow's fetched objects: ``sale``, ``payer``, ``order_comment`` a payment;
``refunded`` a refund; ``disputed`` a dispute; ``billed`` and ``invoice_payer`` a paid Stripe invoice;
``declined`` a failed payment; ``customer_payer`` and ``contact`` a Stripe customer; ``epicor_contact`` an Epicor
customer and ``order_invoice`` an Epicor sales order (written to Stripe).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.mapping.address import clean_text
from tasks.mapping.currency import minor_to_decimal
from tasks.mapping.customers import ADDRESS_FIELDS, as_payer, wanted_contact
from tasks.mapping.disputes import dispute_state
from tasks.mapping.epicor_to_stripe import epicor_contact as stripe_contact_of
from tasks.mapping.epicor_to_stripe import order_invoice as invoice_of_order
from tasks.mapping.order_to_cash import (
    amount_paid,
    customer_section,
    payer_contact,
    requested_lines,
    settled_lines,
    stripe_customer_id,
)
from tasks.mapping.refunds import reason_text
from tasks.mapping.tables import Mappings
from tasks.mapping.transforms import builder


@builder("sale", "Order lines settled to the amount paid")
def sale(payment: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """The amount received and the order lines that add up to it exactly in the currency's decimals:
    checkout line items, else ``epicor_lines`` / ``epicor_part_num`` metadata, else one default-part line;
    a difference line for tax and shipping, or one collapsed line when a discount makes the items exceed
    what was paid. Each line: ``number``, ``part``, ``description``, ``quantity``, ``unit_price``."""
    charge = payment["charge"]
    currency, amount = charge["currency"], amount_paid(charge)
    lines = settled_lines(requested_lines(payment, tables, amount, currency), amount, tables, currency)
    return {"amount": amount,
            "lines": [{"number": number, "part": line.part, "description": line.description,
                       "quantity": line.quantity, "unit_price": line.unit_price}
                      for number, line in enumerate(lines, start=1)],
            "parts": list(dict.fromkeys(line.part for line in lines))}


@builder("payer", "The paying customer: how to find or create it")
def payer(payment: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """Who pays: Epicor ids in metadata, then the Stripe customer, then a guest's e-mail, else the
    configured catch-all customer. ``match`` and ``cust_id_alternates`` tell post how to find the customer
    (or which CustID to try after a collision); ``cust_id``, ``name``, ``email``, ``phone``, ``address``
    and ``external_id`` are the values of a customer created new (the catch-all's from defaults.yaml)."""
    section = customer_section(payment, tables, "")
    stripe_id = stripe_customer_id(payment)
    common = {"match": section["match"], "cust_id_alternates": section["cust_id_alternates"],
              "cust_id": section["create"]["CustID"]}
    if section["match"]["catch_all"]:
        return common | {"name": tables.catch_all_name, "email": "", "phone": "", "address": None,
                         "external_id": None}
    contact = payer_contact(payment)
    return common | {"name": contact["name"] or contact["email"] or f"Stripe customer {stripe_id}",
                     "email": contact["email"], "phone": contact["phone"], "address": contact["address"],
                     "external_id": stripe_id}


@builder("order_comment", "Order comment from defaults.yaml's template")
def order_comment(payment: Mapping[str, Any], tables: Mappings) -> str:
    """The sales order comment written by ``order_comment_template`` (defaults.yaml), with the payer's name
    and e-mail as the customer document carries them."""
    charge, customer = payment["charge"], payer(payment, tables)
    return tables.order_comment(payment_key=payment["payment_key"], charge_id=charge["id"],
                                customer_name=str(customer["name"])[:50], email=str(customer["email"]),
                                description=clean_text(charge.get("description")))


@builder("refunded", "A refund's amount, its negative (money paid back) and its reason")
def refunded(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """One succeeded refund as its credit memo needs it: ``amount`` (the memo line's price) and ``paid_back``
    (the receipt's negative amount), exact in the currency's decimals; ``reason_code`` from ``Refund.reason``
    through reasons.yaml (``default`` when none) and ``reason_text`` (``requested by customer``)."""
    refund = fetched["refund"]
    amount = minor_to_decimal(refund["amount"], refund["currency"])
    return {"amount": amount, "paid_back": -amount, "reason_code": tables.refund_reason_code(refund.get("reason")),
            "reason_text": reason_text(refund.get("reason"))}


@builder("disputed", "A dispute's amount, when its funds moved, and its chargeback reason")
def disputed(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """A dispute as its chargeback and reversal need it: ``amount`` (the dispute's own, exact in the
    currency's decimals) and ``withdrawn`` (its negative); ``withdrawn_at`` and ``reinstated_at``, the first
    balance movement each way (the dispute's creation when Stripe lists none), as Unix times; ``reason_code``
    of the chargeback credit memo (``disputes.lost`` of reasons.yaml once lost, else ``disputes.chargeback``)
    and ``reason_text`` (``product not received``)."""
    dispute = fetched["dispute"]
    amount = minor_to_decimal(dispute["amount"], dispute["currency"])
    listed = [txn for txn in dispute.get("balance_transactions") or [] if isinstance(txn, Mapping)]
    lost = dispute_state(dispute)["outcome"] == "lost"
    return {"amount": amount, "withdrawn": -amount,
            "withdrawn_at": _first(listed, -1, dispute["created"]),
            "reinstated_at": _first(listed, 1, dispute["created"]),
            "reason_code": tables.dispute_reason_code("lost" if lost else "chargeback"),
            "reason_text": reason_text(dispute.get("reason"))}


def _first(transactions: list[Mapping[str, Any]], sign: int, otherwise: int) -> int:
    moved = [int(txn["created"]) for txn in transactions if txn["amount"] * sign > 0]
    return min(moved) if moved else otherwise


@builder("billed", "A Stripe invoice's lines, netting to its total, and the Epicor order it bills")
def billed(bill: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """One line per Stripe line (a proration credit is a negative ``unit_price``), plus one for tax, discounts
    and whatever else makes Stripe's total differ from their sum; a price needing more decimals than the
    currency has becomes ``1 x amount``. ``order_num`` (``epicor_order_num`` metadata) makes the invoice an
    advance billing (``invoice_type`` ``Adv``, no ``own_currency``: the order's); a line whose item names one of
    that order's lines carries ``order_line`` and ``order_num``. Each line: ``number``, ``part``,
    ``description``, ``quantity``, ``unit_price``, ``order_line``, ``order_num``."""
    from tasks.mapping import invoices  # on first use: it reads Stripe ids with a connector's helper, and the
    # web process loads this registry (preview, check) without loading any connector

    return invoices.billed_lines(bill, tables)


@builder("invoice_payer", "The invoice's customer: how to find or create it")
def invoice_payer(bill: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """As ``payer`` for a payment, for the invoice's Stripe customer (or the invoice's own contact when it has
    none), with the invoice's ``epicor_cust_num`` metadata first in ``match``. An invoice of an Epicor order is
    posted to that order's customer whatever this says: post reads the order."""
    from tasks.mapping import invoices  # on first use, as in ``billed``

    found = payer(invoices.payer_of(bill), tables)
    cust_num = invoices.invoice_cust_num(bill)
    if cust_num:
        found["match"] = {**found["match"], "cust_num": cust_num}
    return found


@builder("declined", "Why a payment failed: its codes and Stripe's message")
def declined(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """A failed payment's ``details``: the error and decline codes and Stripe's message, on one line
    (``card_declined / insufficient_funds: Your card has insufficient funds.``), or ``no reason given``."""
    failure = fetched.get("failure") or {}
    codes = " / ".join(str(code) for code in (failure.get("code"), failure.get("decline_code")) if code)
    message = " ".join(str(failure.get("message") or "").split())
    return {"details": ": ".join(part for part in (codes, message) if part) or "no reason given"}


@builder("customer_payer", "A Stripe customer: how to find or create it in Epicor")
def customer_payer(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """As ``payer`` for a payment, for the Stripe customer alone (customer sync, standing): found by its
    ``epicor_cust_num`` / ``epicor_cust_id`` metadata, else its ``cus_`` id, with the same proposed CustID, so a
    payment and a customer event racing each other find or make the same Epicor customer."""
    return payer(as_payer(fetched["customer"]), tables)


@builder("contact", "A Stripe customer's contact values Epicor should hold")
def contact(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """The contact fields Stripe has an opinion on, each None when Stripe's is blank (a blank never wipes what
    someone typed in Epicor): ``name`` (the name, else the e-mail), ``email``, ``phone`` and ``address``, the
    Stripe address split into Epicor's ``Address1`` … ``Country`` (None without an address)."""
    wanted = wanted_contact(fetched["customer"], tables)
    address = {name: wanted[name] for name in ADDRESS_FIELDS if name in wanted}
    return {"name": wanted.get("Name"), "email": wanted.get("EMailAddress"), "phone": wanted.get("PhoneNum"),
            "address": address or None}


@builder("epicor_contact", "An Epicor customer's e-mail and address as Stripe takes them")
def epicor_contact(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """``email``: the first of the addresses Epicor's ``EMailAddress`` may hold (Stripe takes one); ``address``:
    Stripe's ``line1`` (Address1), ``line2`` (Address2 and Address3), ``city``, ``state``, ``postal_code`` and
    ``country`` (the ISO code, through countries.yaml read backwards; blank when unknown)."""
    return stripe_contact_of(fetched["customer"], tables)


@builder("order_invoice", "An Epicor sales order as a Stripe invoice: currency, terms, items")
def order_invoice(fetched: Mapping[str, Any], tables: Mappings) -> dict[str, Any]:
    """``currency`` (Stripe's, from the order's CurrencyCode through currencies.yaml read backwards),
    ``days_until_due`` (terms.yaml, by the order's terms, else the customer's), ``your_po`` (``, your PO …`` or
    blank) and one of ``items`` per live order line: ``quantity`` x ``unit_amount_decimal`` (minor units) for a
    whole quantity without discount, else ``amount``, the net, with quantity and price in its ``description``."""
    return invoice_of_order(fetched, tables)
