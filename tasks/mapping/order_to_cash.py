"""Order-to-cash transform: one Stripe payment → customer, sales order, AR invoice, cash receipt.

Policy, in the order an accountant would check it:

* **One amount.** The money received (``amount_captured``, or ``amount`` before capture is reported)
  is the receipt amount, and the order and invoice lines are built to add up to exactly that amount in
  the currency's Epicor decimals, so the receipt always clears the invoice to the cent.
* **Lines.** Checkout line items when Stripe has them (part from the mapping tables, unmapped products
  on the default part with their own text); else ``epicor_lines`` metadata; else ``epicor_part_num``
  metadata for the whole amount; else one default-part line. A quantity whose unit price would need
  more decimals than the currency has becomes ``1 x total`` with ``"N x item"`` as text, rather than a
  rounded price. Lines below the amount paid get an ``Other charges (tax, shipping)`` line for the
  difference; lines above it (a payment-level discount) collapse into one line of the amount paid that
  lists the items, because Epicor must never invoice more than was paid.
* **Customer.** Explicit Epicor ids in metadata win, then the Stripe customer id (``ExternalID``), then
  a guest's e-mail, then the configured catch-all customer. The post stage tries the ``match`` keys in
  that order and creates ``create`` (with ``cust_id_alternates`` after a CustID collision) when none
  is found.
* **Dates.** The charge's creation time as a calendar day in the company's zone; the daily invoice and
  cash groups are named after that day, so a replay next week still lands in the same groups.

The documents themselves are built by the mapping engine from ``mappings/documents/order_to_cash``; what
stays here is the algorithm those files call through their builders (``tasks.mapping.builders``: the
settled lines, the payer) and the subscription invoices share (``tasks.mapping.invoices``). All pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tasks.errors import MappingError
from tasks.mapping.address import clean_text, has_address, split_address
from tasks.mapping.currency import fits_currency, minor_to_decimal
from tasks.mapping.ids import cust_id_candidates, epicor_refs
from tasks.mapping.tables import Mappings

LINE_DESC_LENGTH = 1000
NAME_LENGTH = 50
PHONE_LENGTH = 20
DIFFERENCE_LINE_TEXT = "Other charges (tax, shipping)"


@dataclass(frozen=True)
class SaleLine:
    """One order line before numbering: what was sold, how many, at what unit price."""

    part: str
    description: str
    quantity: Decimal
    unit_price: Decimal

    @property
    def extension(self) -> Decimal:
        return self.quantity * self.unit_price


def format_quantity(quantity: Decimal) -> str:
    """``2`` rather than ``2.00`` or ``2E+0``; fractions kept as written."""
    return f"{quantity.normalize():f}" if quantity == quantity.to_integral_value() else f"{quantity:f}"


def amount_paid(charge: Mapping) -> Decimal:
    """The money received for the charge, as an exact Decimal."""
    minor = charge.get("amount_captured") or 0
    return minor_to_decimal(minor if minor > 0 else charge["amount"], charge["currency"])


def _metadata(payment: Mapping, *names: str) -> tuple[Mapping | None, ...]:
    return tuple((payment.get(name) or {}).get("metadata") for name in names)


def payment_refs(payment: Mapping) -> dict:
    """``epicor_*`` metadata describing the sale: charge, then PaymentIntent, then checkout session."""
    return epicor_refs(*_metadata(payment, "charge", "payment_intent", "checkout_session"))


def customer_refs(payment: Mapping) -> dict:
    """``epicor_*`` metadata naming the customer: the payment's objects, then the Stripe customer."""
    return epicor_refs(*_metadata(payment, "charge", "payment_intent", "checkout_session", "customer"))


# --- order lines -----------------------------------------------------------------------------------


def priced_line(part: str, description: str, quantity: Decimal, total: Decimal, currency: str) -> SaleLine:
    """``quantity`` at ``total / quantity`` when exact in the currency, else ``1 x total``."""
    unit_price = total / quantity
    if fits_currency(unit_price, currency) and unit_price * quantity == total:
        return SaleLine(part, description, quantity, unit_price)
    return SaleLine(part, f"{format_quantity(quantity)} x {description}", Decimal(1), total)


def checkout_line(item: Mapping, mappings: Mappings, currency: str) -> SaleLine:
    """A checkout line item on its mapped part (or the default part with the product's text)."""
    if (item.get("currency") or currency).lower() != currency.lower():
        raise MappingError(f"checkout line '{item.get('description')}' is in {item['currency'].upper()}, "
                           f"the payment in {currency.upper()}", reason="mapping.currency")
    quantity = Decimal(item.get("quantity") or 1)
    if quantity <= 0:
        raise MappingError(f"checkout line '{item.get('description')}' has quantity {quantity}",
                           reason="mapping.quantity")
    part = mappings.part_for(item.get("price_id"), item.get("product_id"),
                             item.get("price_metadata"), item.get("product_metadata"))
    description = clean_text(item.get("description")) or f"Stripe product {item.get('product_id')}"
    total = minor_to_decimal(item.get("amount_total") or 0, currency)
    return priced_line(part or mappings.default_part, description, quantity, total, currency)


def checked_price(price: Decimal, currency: str) -> Decimal:
    if not fits_currency(price, currency):
        raise MappingError(f"Stripe metadata epicor_lines price {price} has more decimals than "
                           f"{currency.upper()} allows", reason="mapping.metadata")
    return price


def metadata_lines(parsed: list[dict], amount: Decimal, currency: str) -> list[SaleLine]:
    """``epicor_lines`` items; a single line without a price takes what the priced ones leave."""
    priced = [SaleLine(item["part"], item["part"], item["quantity"], checked_price(item["unit_price"], currency))
              for item in parsed if item["unit_price"] is not None]
    unpriced = [item for item in parsed if item["unit_price"] is None]
    remainder = amount - sum((line.extension for line in priced), Decimal(0))
    if len(unpriced) == 1 and remainder > 0:
        item = unpriced[0]
        return priced + [priced_line(item["part"], item["part"], item["quantity"], remainder, currency)]
    return priced + [SaleLine(item["part"], item["part"], item["quantity"], Decimal(0)) for item in unpriced]


def payment_description(payment: Mapping) -> str:
    """The payer-facing description of the payment, or a text naming the charge."""
    charge, intent = payment["charge"], payment.get("payment_intent") or {}
    return clean_text(charge.get("description") or intent.get("description")) or f"Stripe payment {charge['id']}"


def requested_lines(payment: Mapping, mappings: Mappings, amount: Decimal, currency: str) -> list[SaleLine]:
    """Order lines as Stripe describes them, before they are settled against the amount paid."""
    refs = payment_refs(payment)
    if payment.get("line_items"):
        return [checkout_line(item, mappings, currency) for item in payment["line_items"]]
    if refs["lines"]:
        return metadata_lines(refs["lines"], amount, currency)
    if refs["part_num"]:
        quantity = refs["quantity"] or Decimal(1)
        return [priced_line(refs["part_num"], payment_description(payment), quantity, amount, currency)]
    return [SaleLine(mappings.default_part, payment_description(payment), Decimal(1), amount)]


def item_text(line: SaleLine) -> str:
    """``2 x Widget``; a single item (or an already counted ``3 x …`` line) keeps its own text."""
    return line.description if line.quantity == 1 else f"{format_quantity(line.quantity)} x {line.description}"


def settled_lines(lines: list[SaleLine], amount: Decimal, mappings: Mappings, currency: str) -> list[SaleLine]:
    """Lines that add up to exactly the amount paid (difference line, or one collapsed line)."""
    for line in lines:
        if not fits_currency(line.extension, currency):
            raise MappingError(f"line {line.part}: {format_quantity(line.quantity)} x {line.unit_price} is not a "
                               f"whole amount of {currency.upper()}", reason="mapping.amount")
    total = sum((line.extension for line in lines), Decimal(0))
    if total == amount:
        return lines
    if total < amount:
        return lines + [SaleLine(mappings.default_part, DIFFERENCE_LINE_TEXT, Decimal(1), amount - total)]
    listing = "; ".join(item_text(line) for line in lines)
    return [SaleLine(mappings.default_part, listing, Decimal(1), amount)]


# --- customer --------------------------------------------------------------------------------------


def stripe_customer_id(payment: Mapping) -> str | None:
    """The Stripe customer behind the payment, whether or not its object was fetched."""
    charge, intent = payment["charge"], payment.get("payment_intent") or {}
    customer = (payment.get("customer") or {}).get("id") or charge.get("customer") or intent.get("customer")
    return customer if isinstance(customer, str) and customer else None


def has_street(address: Mapping | None) -> bool:
    """A full postal address, not just the country and postcode a card form collects."""
    return bool(clean_text((address or {}).get("line1")))


def _first_text(*values: object) -> str:
    return next((clean_text(value) for value in values if clean_text(value)), "")


def payer_contact(payment: Mapping) -> dict:
    """Name, e-mail, phone and address: the Stripe customer, then billing, then checkout details.

    An address with a street line wins over one holding only a country and postcode.
    """
    customer = payment.get("customer") or {}
    billing = payment["charge"].get("billing_details") or {}
    checkout = (payment.get("checkout_session") or {}).get("customer_details") or {}
    sources = (customer, billing, checkout)
    addresses = [source.get("address") for source in sources]
    address = next((found for found in addresses if has_street(found)), None) or \
        next((found for found in addresses if has_address(found)), None)
    return {"name": _first_text(*(source.get("name") for source in sources)),
            "email": _first_text(*(source.get("email") for source in sources)),
            "phone": _first_text(*(source.get("phone") for source in sources)),
            "address": address}


def customer_name(contact: Mapping, stripe_id: str | None) -> str:
    """A non-blank customer name: the payer's name, else the e-mail, else the Stripe id."""
    return (contact["name"] or contact["email"] or f"Stripe customer {stripe_id}")[:NAME_LENGTH]


def catch_all_customer(mappings: Mappings, currency_code: str) -> dict:
    """The configured customer for payments nobody can be identified for."""
    create = {"CustID": mappings.catch_all_cust_id, "Name": mappings.catch_all_name, "EMailAddress": "",
              "PhoneNum": "", **split_address(None), "CurrencyCode": currency_code, "TermsCode": mappings.terms_code}
    match = {"cust_num": None, "cust_id": mappings.catch_all_cust_id, "external_id": None, "email": None,
             "catch_all": True}
    return {"match": match, "create": create, "cust_id_alternates": []}


def customer_document(contact: Mapping, stripe_id: str | None, cust_id: str, mappings: Mappings,
                      currency_code: str) -> dict:
    """The Epicor customer to create when no existing one matches."""
    document = {"CustID": cust_id, "Name": customer_name(contact, stripe_id)}
    if stripe_id:
        document["ExternalID"] = stripe_id
    document |= {"EMailAddress": contact["email"], "PhoneNum": contact["phone"][:PHONE_LENGTH],
                 **split_address(contact["address"], mappings.countries)}
    return document | {"CurrencyCode": currency_code, "TermsCode": mappings.terms_code}


def customer_section(payment: Mapping, mappings: Mappings, currency_code: str) -> dict:
    """How the post stage finds (``match``) or creates (``create``) the paying customer."""
    refs, stripe_id, contact = customer_refs(payment), stripe_customer_id(payment), payer_contact(payment)
    guest_email = contact["email"].lower() if not stripe_id and contact["email"] else None
    if not (refs["cust_num"] or refs["cust_id"] or stripe_id or guest_email):
        return catch_all_customer(mappings, currency_code)
    candidates = cust_id_candidates(stripe_id or guest_email or f"custnum:{refs['cust_num'] or refs['cust_id']}",
                                    contact["name"] or contact["email"])
    match = {"cust_num": refs["cust_num"], "cust_id": refs["cust_id"], "external_id": stripe_id,
             "email": guest_email, "catch_all": False}
    create = customer_document(contact, stripe_id, refs["cust_id"] or candidates[0], mappings, currency_code)
    return {"match": match, "create": create, "cust_id_alternates": candidates[1:]}


# --- documents -------------------------------------------------------------------------------------


def distinct_parts(lines: list[SaleLine]) -> list[str]:
    return list(dict.fromkeys(line.part for line in lines))
