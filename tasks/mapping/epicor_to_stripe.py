"""Epicor customer and sales order → Stripe customer and invoice parameters (pure functions).

Policy:

- The Stripe customer carries what a person would type on Stripe's customer screen, taken from the
  Epicor customer: ``Name``, the first address of ``EMailAddress``, ``PhoneNum`` and the address
  (``Address2`` and ``Address3`` share Stripe's ``line2``; the country goes back through the site's
  countries table to its ISO code, and is left off when it cannot). Metadata names the Epicor record
  (``epicor_company``, ``epicor_cust_num``, ``epicor_cust_id``) and ``epicor_sync_rev``, the
  ``SysRevID`` the values came from, so a person reading Stripe sees where they came from.
- An update sends only what differs from the Stripe customer as it is now (``customer_changes``):
  nothing differs, nothing is sent, and Stripe emits no ``customer.updated``. This, with the
  fingerprints below, is what keeps the two systems from echoing each other's changes.
- What is written is data where it is assignment: ``mappings/documents/epicor_customer/stripe_customer.yaml`` and
  ``epicor_sales_order/stripe_invoice.yaml`` map Epicor's columns to Stripe's parameters (``stripe_fields.json``);
  the metadata linking the records, the item arithmetic and the idempotency keys stay here.
- Invoice lines: one Stripe invoice item per live order line, the unit price converted to minor units
  by the currency's exponent (``decimal_to_minor``: exact or an error, never rounded). Stripe takes
  whole quantities only, so a fractional quantity, or a line with a discount, becomes one item for
  the line's net amount with the quantity and price in its description; the invoice total therefore
  always equals the order's ``DocOrderAmt``, which ``invoice_total_problem`` checks.
- Idempotency keys are derived from Epicor ids (company, ``CustNum`` / ``OrderNum``, ``SysRevID``,
  order line) and a hash of the parameters, so a retry sends the same key with the same parameters
  and never creates a second Stripe object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tasks.errors import MappingError
from tasks.mapping.address import clean_text
from tasks.mapping.currency import decimal_to_minor, epicor_decimals
from tasks.mapping.tables import Mappings

CUSTOMER_FIELDS = ("Name", "EMailAddress", "PhoneNum", "Address1", "Address2", "Address3", "City",
                   "State", "Zip", "Country")
ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")
LINK_METADATA = ("epicor_company", "epicor_cust_num", "epicor_cust_id")
SYNC_REV = "epicor_sync_rev"
KEY_PREFIX = "sec-epicor"


# -- codes ---------------------------------------------------------------------------------------
def stripe_currency(epicor_code: str, mappings: Mappings) -> str:
    """The lower-case Stripe currency for an Epicor ``CurrencyCode`` (the currencies table read backwards)."""
    code = clean_text(epicor_code).upper()
    for stripe_code, mapped in mappings.currencies.items():
        if mapped.upper() == code:
            return stripe_code
    if len(code) == 3 and code.isalpha() and mappings.unmapped_currency == "upper":
        return code.lower()
    raise MappingError(f"Epicor currency '{epicor_code}' is not in currencies.yaml", reason="mapping.currency")


def stripe_country(epicor_country: str, countries: Mapping[str, str]) -> str | None:
    """ISO-2 code for Epicor's country text (countries table read backwards); None when unknown."""
    text = clean_text(epicor_country)
    for iso_code, description in countries.items():
        if description.lower() == text.lower():
            return iso_code
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return None


def first_email(value: object) -> str:
    """Epicor may hold several addresses separated by ``;`` or ``,``; Stripe takes one."""
    return next((part.strip() for part in clean_text(value).replace(",", ";").split(";") if part.strip()), "")


# -- customers -----------------------------------------------------------------------------------
def stripe_address(row: Mapping[str, Any], countries: Mapping[str, str]) -> dict[str, str] | None:
    """Stripe's six address keys from an Epicor customer; None when the address is blank."""
    line2 = " ".join(part for part in (clean_text(row.get("Address2")), clean_text(row.get("Address3"))) if part)
    address = {"line1": clean_text(row.get("Address1")), "line2": line2, "city": clean_text(row.get("City")),
               "state": clean_text(row.get("State")), "postal_code": clean_text(row.get("Zip")),
               "country": stripe_country(str(row.get("Country") or ""), countries) or ""}
    return address if any(address.values()) else None


def link_metadata(row: Mapping[str, Any], company: str) -> dict[str, str]:
    return {"epicor_company": company, "epicor_cust_num": str(int(row["CustNum"])),
            "epicor_cust_id": clean_text(row.get("CustID"))}


def epicor_contact(row: Mapping[str, Any], mappings: Mappings) -> dict[str, Any]:
    """What the customer mapping file reads besides the row itself: ``email``, the first of Epicor's addresses,
    and ``address``, Stripe's six keys (blank when Epicor has none)."""
    address = stripe_address(row, mappings.countries) or {key: "" for key in ADDRESS_KEYS}
    return {"email": first_email(row.get("EMailAddress")), "address": address}


def nested(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A document's fields as Stripe parameters: ``address.line1`` becomes ``{"address": {"line1": …}}``."""
    params: dict[str, Any] = {}
    for name, value in fields.items():
        parent, _, child = name.partition(".")
        if child:
            params.setdefault(parent, {})[child] = value
        else:
            params[name] = value
    return params


def customer_params(document: Mapping[str, Any], row: Mapping[str, Any], company: str) -> dict[str, Any]:
    """Everything the Stripe customer should say about this Epicor customer: the values its mapping file
    (``epicor_customer/stripe_customer.yaml``) gave, a blank address as none, and the metadata that links
    the two records (never mapped: the sync recognises its own echoes by it)."""
    params = nested(document["header"])
    address = {key: clean_text((params.get("address") or {}).get(key)) for key in ADDRESS_KEYS}
    return {**params, "name": clean_text(params.get("name")), "email": clean_text(params.get("email")),
            "phone": clean_text(params.get("phone")), "address": address if any(address.values()) else None,
            "metadata": {**link_metadata(row, company), SYNC_REV: str(int(row.get("SysRevID") or 0))}}


def create_params(wanted: Mapping[str, Any]) -> dict[str, Any]:
    """Create parameters: blank values are left out (Stripe stores them as unset anyway)."""
    return {name: value for name, value in wanted.items() if value not in ("", None)}


def _address_of(value: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: clean_text((value or {}).get(key)) for key in ADDRESS_KEYS}


def customer_changes(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Update parameters for what differs; ``{}`` when the Stripe customer already says it all.

    ``epicor_sync_rev`` alone is never a difference (a new SysRevID with the same values, such as our
    own ExternalID write-back, changes nothing in Stripe); it rides along with a real change.
    """
    changes: dict[str, Any] = {}
    for name in ("name", "email", "phone"):
        if clean_text(wanted.get(name)) != clean_text(current.get(name)):
            changes[name] = wanted.get(name) or ""
    if _address_of(wanted.get("address")) != _address_of(current.get("address")):
        changes["address"] = dict(wanted["address"]) if wanted.get("address") else ""
    metadata = wanted.get("metadata") or {}
    current_metadata = current.get("metadata") or {}
    stale = {key: metadata[key] for key in LINK_METADATA if str(current_metadata.get(key) or "") != metadata[key]}
    if changes or stale:
        changes["metadata"] = {**stale, SYNC_REV: metadata[SYNC_REV]}
    return changes


def epicor_customer_fingerprint(row: Mapping[str, Any]) -> str:
    """A digest of the customer values both systems share (``ExternalID``, ``SysRevID`` excluded)."""
    return _digest([clean_text(row.get(name)) for name in CUSTOMER_FIELDS])


def stripe_customer_fingerprint(customer: Mapping[str, Any]) -> str:
    """A digest of the Stripe customer's shared values (metadata excluded)."""
    address = _address_of(customer.get("address"))
    return _digest([clean_text(customer.get(name)) for name in ("name", "email", "phone")]
                   + [address[key] for key in ADDRESS_KEYS])


# -- sales orders → invoices ---------------------------------------------------------------------
def live_lines(lines: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Order lines that are billed: not void, in line order."""
    return sorted((line for line in lines if not line.get("VoidLine")), key=lambda line: int(line["OrderLine"]))


def order_invoice(fetched: Mapping[str, Any], mappings: Mappings) -> dict[str, Any]:
    """What the invoice mapping file (``epicor_sales_order/stripe_invoice.yaml``) reads besides the order: the
    Stripe ``currency`` (the currencies table read backwards), ``days_until_due`` by the order's terms (else
    the customer's, terms.yaml), ``your_po`` (``, your PO …`` when the order has one) and the ``items``."""
    order, customer = fetched["order"], fetched.get("customer") or {}
    currency = stripe_currency(str(order.get("CurrencyCode") or ""), mappings)
    reference = clean_text(order.get("PONum"))
    return {"currency": currency, "days_until_due": mappings.days_until_due(order.get("TermsCode")
                                                                            or customer.get("TermsCode")),
            "your_po": f", your PO {reference}" if reference else "",
            "items": [_item_values(line, currency) for line in live_lines(fetched["lines"])]}


def invoice_params(document: Mapping[str, Any], order: Mapping[str, Any], company: str) -> dict[str, Any]:
    """The draft invoice for a sales order as its mapping file gave it, with the metadata that names the order
    (never mapped: the flow finds the order's invoice by it); the customer and the items are added at post."""
    return {**nested(document["header"]),
            "metadata": {"epicor_company": company, "epicor_order_num": str(int(order["OrderNum"])),
                         "epicor_cust_num": str(int(order["CustNum"]))}}


def _decimal(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _item_values(line: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """One order line as one Stripe invoice item: ``quantity`` x ``unit_amount_decimal`` (minor units) for a
    whole quantity without discount, else ``amount``, the line's net, with quantity and price in its text.
    Each has ``description`` and the ``order_line`` it bills."""
    quantity, price = _decimal(line.get("SellingQuantity")), _decimal(line.get("DocUnitPrice"))
    discount = _decimal(line.get("DocDiscount"))
    description = clean_text(line.get("LineDesc")) or clean_text(line.get("PartNum"))
    values: dict[str, Any] = {"order_line": int(line["OrderLine"]), "description": description, "quantity": None,
                              "unit_amount_decimal": None, "amount": None}
    if quantity == quantity.to_integral_value() and quantity > 0 and discount == 0:
        return values | {"quantity": int(quantity), "unit_amount_decimal": str(decimal_to_minor(price, currency))}
    extended = _decimal(line["DocExtPriceDtl"]) if line.get("DocExtPriceDtl") is not None else quantity * price
    net = extended.quantize(Decimal(1).scaleb(-epicor_decimals(currency))) - discount
    detail = f"{_plain(quantity)} {clean_text(line.get('SalesUM'))} x {_plain(price)}".replace("  ", " ")
    detail += f" less {_plain(discount)}" if discount else ""
    return values | {"amount": decimal_to_minor(net, currency), "description": f"{description} ({detail})"}


def invoice_items(document: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The invoice's items as its mapping file gave them, each with the metadata that names its order line
    and part (never mapped: the invoice flow maps the part back by it, the post adds only missing lines)."""
    return [{**nested(item), "metadata": {"epicor_order_num": str(int(line["OrderNum"])),
                                          "epicor_order_line": str(int(line["OrderLine"])),
                                          "epicor_part_num": clean_text(line.get("PartNum"))}}
            for item, line in zip(document["lines"], live_lines(lines), strict=True)]


def item_amount(item: Mapping[str, Any]) -> int:
    """The minor-unit amount an item adds to the invoice."""
    if "amount" in item:
        return int(item["amount"])
    return int(item["quantity"]) * int(item["unit_amount_decimal"])


def invoice_total_problem(items: Sequence[Mapping[str, Any]], order: Mapping[str, Any], currency: str) -> str | None:
    """Why the items do not add up to the order's total, or None when they do."""
    expected = decimal_to_minor(_decimal(order.get("DocOrderAmt")), currency)
    billed = sum(item_amount(item) for item in items)
    if billed == expected:
        return None
    return (f"Sales order {int(order['OrderNum'])}: its lines add up to {billed} but DocOrderAmt is {expected} "
            f"(minor units of {currency.upper()}); check the order's lines, discounts and charges in Epicor")


# -- idempotency keys ----------------------------------------------------------------------------
def _digest(values: object, length: int = 32) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:length]


def customer_create_key(company: str, cust_num: int, sys_rev_id: int) -> str:
    return f"{KEY_PREFIX}-customer-create-{company}-{cust_num}-r{sys_rev_id}"


def customer_update_key(company: str, cust_num: int, sys_rev_id: int, changes: Mapping[str, Any]) -> str:
    return f"{KEY_PREFIX}-customer-update-{company}-{cust_num}-r{sys_rev_id}-{_digest(changes, 12)}"


def invoice_key(company: str, order_num: int, params: Mapping[str, Any]) -> str:
    return f"{KEY_PREFIX}-invoice-{company}-{order_num}-{_digest(params, 12)}"


def invoice_item_key(company: str, invoice_id: str, item: Mapping[str, Any]) -> str:
    line = item["metadata"]["epicor_order_line"]
    order = item["metadata"]["epicor_order_num"]
    return f"{KEY_PREFIX}-invoice-item-{company}-{order}-{line}-{invoice_id}-{_digest(item, 12)}"


def invoice_step_key(step: str, invoice_id: str) -> str:
    return f"{KEY_PREFIX}-invoice-{step}-{invoice_id}"
