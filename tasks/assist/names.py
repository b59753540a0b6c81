"""What a field's name says: its tokens, its concepts and the address it belongs to.

Policy: names on the two sides are written in different dialects (Epicor's ``BTAddress1``, ``DocTranAmt``,
``SellingShipQty``; Stripe's ``billing_details.address.line1``, ``amount_captured``), so matching the raw
strings finds little (about 40 % top-1 in the study notes). Each name is read instead into

* **concepts** with a strength: a curated dictionary of Epicor columns and Stripe fields (``Zip`` and
  ``postal_code`` are both ``postal``); a name the dictionary does not know (a site's metadata key, a
  user-defined ``_c`` column) gets concepts from its tokens (``po_number`` is ``po``);
* **tokens**: camelCase, snake_case and dotted paths split, Epicor's abbreviations expanded (Num, Amt,
  Cust, Desc, BT, PO …), for rapidfuzz's token similarity;
* a **role**: which address or party the field belongs to (``bill``, ``ship``, ``main``, ``other``):
  ``ShipTo*``/``OTS*`` columns want the shipping address, ``BT*`` and the customer's own address want billing;
* a **variant** for Epicor amounts (``Doc`` document currency, ``Rpt1-3`` reporting currencies).

Related concepts (``description`` and ``comment``, an amount and a total) match with a lower weight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# --- concepts ---------------------------------------------------------------------------------------

# Epicor column names (after a role/variant prefix is removed) -> concepts with a strength.
EPICOR: dict[str, dict[str, float]] = {
    "Zip": {"postal": 1}, "ZIP": {"postal": 1}, "PostalCode": {"postal": 1},
    "Address1": {"line1": 1}, "Address2": {"line2": 1}, "Address3": {"line3": 1}, "StreetAddr": {"line1": 0.9},
    "Address": {"line1": 0.8}, "City": {"city": 1}, "State": {"region": 1}, "Province": {"region": 1},
    "Country": {"country": 1}, "CountryNum": {"country": 0.7},
    "EMailAddress": {"email": 1}, "EMail": {"email": 1}, "Email": {"email": 1}, "EMailTo": {"email": 0.8},
    "PhoneNum": {"phone": 1}, "Phone": {"phone": 1}, "FaxNum": {"fax": 1},
    "Name": {"name": 1}, "CompName": {"name": 1}, "LegalName": {"name": 0.9}, "CardMemberName": {"name": 0.9},
    "Contact": {"name": 0.6}, "CustName": {"name": 1},
    "CustID": {"customer_code": 1}, "CustNum": {"customer_number": 1},
    "ExternalID": {"external_id": 1}, "ExtID": {"external_id": 0.8}, "IntExternalKey": {"external_id": 0.9},
    "PONum": {"po": 1}, "OrderDate": {"date_created": 1}, "InvoiceDate": {"date_created": 1},
    "TranDate": {"date_created": 1}, "EntryDate": {"date_created": 0.6}, "ApplyDate": {"date_created": 0.7},
    "NeedByDate": {"date_due": 0.6}, "RequestDate": {"date_due": 0.5}, "DueDate": {"date_due": 1},
    "ShipDate": {"date_ship": 1}, "ClosedDate": {"date_closed": 1},
    "CurrencyCode": {"currency": 1}, "CurrCode": {"currency": 1},
    "OrderAmt": {"amount_total": 1}, "InvoiceAmt": {"amount_total": 1}, "TranAmt": {"amount_paid": 1},
    "ReceiptAmt": {"amount_paid": 1}, "CCAmount": {"amount_paid": 0.8}, "CCTotal": {"amount_total": 0.8},
    "TotalTax": {"tax": 1}, "TaxAmt": {"tax": 1}, "CCTax": {"tax": 0.8}, "TotalDiscount": {"discount": 1},
    "Discount": {"discount": 1}, "TotalCharges": {"freight": 0.6}, "TotalMisc": {"freight": 0.5},
    "CCFreight": {"freight": 0.8}, "UnitPrice": {"amount_unit": 1}, "ListPrice": {"amount_unit": 0.7},
    "ExtPrice": {"amount_line": 1}, "ExtPriceDtl": {"amount_line": 1}, "TotalPrice": {"amount_line": 0.8},
    "InvoiceBal": {"amount_balance": 1}, "AppliedAmt": {"amount_paid": 0.8}, "BankFeeAmt": {"fee": 1},
    "SellingShipQty": {"quantity": 1}, "OrderQty": {"quantity": 1}, "SellingQuantity": {"quantity": 1},
    "OurShipQty": {"quantity": 0.8}, "Quantity": {"quantity": 1}, "SellingOrderQty": {"quantity": 1},
    "PartNum": {"product": 1}, "XPartNum": {"product": 0.6}, "PartDescription": {"product_name": 1},
    "LineDesc": {"description": 1}, "Description": {"description": 1}, "CommentText": {"comment": 1},
    "Comment": {"comment": 1}, "OrderComment": {"comment": 1}, "InvoiceComment": {"comment": 1},
    "ShipComment": {"comment": 0.4}, "DNComments": {"comment": 0.3},
    "Reference": {"reference": 1}, "CheckRef": {"payment_ref": 1}, "TranRef": {"payment_ref": 0.9},
    "LegalNumber": {"doc_number": 1}, "TermsCode": {"terms": 1}, "BankAcctID": {"bank_account": 1},
    "ToBankAcctID": {"bank_account": 0.8}, "TaxExempt": {"tax_exempt": 1}, "CustURL": {"url": 1},
    "LangNameID": {"language": 1}, "ReasonCode": {"reason": 1}, "ReasonType": {"reason": 0.5},
    "SalesUM": {"unit_label": 1}, "IUM": {"unit_label": 0.9}, "TaxCatID": {"tax_code": 1},
    "NetWeight": {"weight": 1}, "PartLength": {"length": 1}, "PartWidth": {"width": 1}, "PartHeight": {"height": 1},
    "InActive": {"active": 0.8}, "WebPart": {"active": 0.3}, "CardType": {"card_brand": 1},
    "CardNumber": {"card_last4": 0.6}, "ExpirationMonth": {"exp_month": 1}, "ExpirationYear": {"exp_year": 1},
    "CCApprovalNum": {"authorization": 1}, "ExchangeRate": {"exchange_rate": 1},
    "OrderNum": {"order_number": 1}, "InvoiceNum": {"invoice_number": 1},
    # a contact's own fields (SoldToContactName, BTContactEMailAddress, InvcHead.ContactEmailAddr …)
    "ContactName": {"name": 1}, "ContactEMailAddress": {"email": 1}, "ContactEmailAddr": {"email": 1},
    "ContactPhoneNum": {"phone": 1}, "ContactFaxNum": {"fax": 1}, "CustomerName": {"name": 0.9},
    "BillToName": {"name": 0.9}, "CellPhoneNum": {"phone": 0.9}, "FirstName": {"first_name": 1},
    "LastName": {"last_name": 1}, "Func": {"job_title": 0.8},
    # the other system's number for the same document (an invoice's number as Stripe shows it)
    "XRefInvoiceNum": {"doc_number": 1}, "XRefContractNum": {"doc_number": 0.4},
    "TransAmt": {"amount": 1}, "JEDate": {"date_created": 1}, "PostedDate": {"date_created": 0.4},
    "DebitAmount": {"amount": 0.6}, "CreditAmount": {"amount": 0.6},
    "ImageFileName": {"image": 1}, "PhotoFile": {"image": 0.8}, "ImageID": {"image": 0.5},
    "UPCCode1": {"barcode": 1}, "UPCCode2": {"barcode": 0.7}, "UPCCode3": {"barcode": 0.6},
    "CancelAfterDate": {"date_cancel": 1}, "DoNotShipAfterDate": {"date_cancel": 0.3},
    "DefRevStart": {"date_period_start": 1}, "DefRevEndDate": {"date_period_end": 1},
    "CMReason": {"reason": 0.9}, "ReversedReason": {"reason": 0.8},
    "BankFeeID": {"fee_code": 1},
}

# Stripe leaf names -> concepts with a strength.
STRIPE: dict[str, dict[str, float]] = {
    "postal_code": {"postal": 1}, "zip": {"postal": 1}, "address_zip": {"postal": 1}, "billing_zip": {"postal": 0.9},
    "line1": {"line1": 1}, "address_line1": {"line1": 1}, "line2": {"line2": 1}, "address_line2": {"line2": 1},
    "city": {"city": 1}, "address_city": {"city": 1}, "state": {"region": 1}, "address_state": {"region": 1},
    "country": {"country": 1}, "address_country": {"country": 1},
    "email": {"email": 1}, "receipt_email": {"email": 0.9}, "customer_email": {"email": 1},
    "customer_email_address": {"email": 0.8},
    "phone": {"phone": 1}, "customer_phone": {"phone": 1},
    "name": {"name": 1}, "customer_name": {"name": 1}, "business_name": {"name": 0.9},
    "individual_name": {"name": 0.8}, "account_holder_name": {"name": 0.6}, "display_name": {"name": 0.6},
    "nickname": {"name": 0.5},
    "currency": {"currency": 1}, "default_currency": {"currency": 0.8},
    "amount": {"amount": 1}, "amount_total": {"amount_total": 1}, "total": {"amount_total": 1},
    "amount_paid": {"amount_paid": 1}, "amount_captured": {"amount_paid": 0.9},
    "amount_received": {"amount_paid": 0.9}, "amount_due": {"amount_due": 1}, "amount_remaining": {"amount_balance": 1},
    "subtotal": {"amount_subtotal": 1}, "amount_subtotal": {"amount_subtotal": 1}, "net": {"amount_net": 1},
    "fee": {"fee": 1}, "application_fee_amount": {"fee": 0.4}, "amount_tax": {"tax": 1}, "tax": {"tax": 1},
    "amount_discount": {"discount": 1}, "discount_amount": {"discount": 1}, "amount_shipping": {"freight": 1},
    "unit_amount": {"amount_unit": 1}, "unit_amount_decimal": {"amount_unit": 0.9},
    "amount_refunded": {"amount_refunded": 1},
    "quantity": {"quantity": 1}, "quantity_decimal": {"quantity": 0.8},
    "description": {"description": 1}, "memo": {"comment": 1}, "footer": {"comment": 0.5},
    "statement_descriptor": {"description": 0.3},
    "created": {"date_created": 1}, "due_date": {"date_due": 1}, "arrival_date": {"date_arrival": 1},
    "available_on": {"date_available": 1}, "start_date": {"date_created": 0.6}, "effective_at": {"date_created": 0.5},
    "date": {"date_created": 0.8}, "period_start": {"date_period_start": 0.8},
    "period_end": {"date_period_end": 0.8}, "current_period_start": {"date_period_start": 0.8},
    "current_period_end": {"date_period_end": 0.8},
    "number": {"doc_number": 1}, "receipt_number": {"doc_number": 0.5},
    "reason": {"reason": 1}, "status": {"status": 1}, "tax_exempt": {"tax_exempt": 1},
    "customer_tax_exempt": {"tax_exempt": 1}, "client_reference_id": {"po": 0.8, "reference": 0.6},
    "url": {"url": 0.5}, "preferred_locales": {"language": 0.9}, "locale": {"language": 0.9},
    "unit_label": {"unit_label": 1}, "tax_code": {"tax_code": 1},
    "weight": {"weight": 1}, "length": {"length": 1}, "width": {"width": 1}, "height": {"height": 1},
    "active": {"active": 1}, "brand": {"card_brand": 1}, "last4": {"card_last4": 1},
    "exp_month": {"exp_month": 1}, "exp_year": {"exp_year": 1}, "authorization_code": {"authorization": 1},
    "exchange_rate": {"exchange_rate": 1},
    "images": {"image": 1}, "image": {"image": 1}, "upc": {"barcode": 0.9}, "gtin": {"barcode": 0.9},
    "ean": {"barcode": 0.9}, "barcode": {"barcode": 1}, "cancel_at": {"date_cancel": 1},
    "first_name": {"first_name": 1}, "last_name": {"last_name": 1}, "title": {"job_title": 0.6},
    "amount_excluding_tax": {"amount_subtotal": 0.9}, "total_excluding_tax": {"amount_subtotal": 0.9},
    "net_amount": {"amount_net": 1}, "gross_amount": {"amount_total": 0.9},
    # references to other objects (the id of the object named)
    "customer": {"ref:customer": 1}, "product": {"ref:product": 1}, "price": {"ref:price": 1},
    "invoice": {"ref:invoice": 1}, "charge": {"ref:charge": 1}, "payment_intent": {"ref:payment": 1},
    "balance_transaction": {"ref:txn": 1}, "destination": {"bank_account": 0.7}, "payout": {"ref:payout": 1},
    "subscription": {"ref:subscription": 1}, "refund": {"ref:refund": 1}, "dispute": {"ref:dispute": 1},
}

# Lists or objects whose plain ``amount`` is one kind of money: ``discount_amounts[].amount`` is a discount,
# ``taxes[].amount`` a tax, ``fee_details[].amount`` a fee, ``shipping_cost.amount_total`` freight.
MONEY_PARENTS: dict[str, dict[str, float]] = {
    "discount_amounts": {"discount": 1}, "discounts": {"discount": 1}, "total_discount_amounts": {"discount": 1},
    "taxes": {"tax": 1}, "tax_amounts": {"tax": 1}, "total_tax_amounts": {"tax": 1}, "total_taxes": {"tax": 1},
    "fee_details": {"fee": 1}, "application_fee": {"fee": 0.6}, "shipping_cost": {"freight": 1},
    "refunds": {"amount_refunded": 0.9}, "pretax_credit_amounts": {"discount": 0.7},
}
GENERIC_MONEY_LEAVES = frozenset({"amount", "amount_total", "amount_subtotal", "total"})

# The kind of thing a Stripe object's own ``id`` names (``charge.id`` is a payment reference).
OBJECT_KIND = {"charge": "payment", "payment_intent": "payment", "checkout.session": "payment",
               "customer": "customer", "invoice": "invoice", "refund": "refund", "dispute": "dispute",
               "payout": "payout", "balance_transaction": "txn", "price": "price", "product": "product",
               "subscription": "subscription", "line_item": "line", "invoiceitem": "line"}
REF_KINDS = {"ref:customer": "customer", "ref:product": "product", "ref:price": "price", "ref:invoice": "invoice",
             "ref:charge": "payment", "ref:payment": "payment", "ref:txn": "txn", "ref:payout": "payout",
             "ref:subscription": "subscription", "ref:refund": "refund", "ref:dispute": "dispute"}

# Concepts one Epicor table wants in place of a generic one: the Customer's ExternalID is the Stripe
# customer, an order's is the payment, a part's number is the product.
TABLE_CONCEPTS: dict[tuple[str, str], dict[str, float]] = {
    ("Customer", "ExternalID"): {"kind:customer": 1, "external_id": 0.3},
    ("Customer", "ExtID"): {"kind:customer": 0.8},
    ("Customer", "CustID"): {"kind:customer": 0.5, "customer_code": 1},
    ("Customer", "Comment"): {"comment": 1, "description": 1},
    ("Part", "PartNum"): {"kind:product": 1, "product": 1},
    ("Part", "PartDescription"): {"product_name": 1, "name": 1},
    ("Part", "UnitPrice"): {"amount_unit": 1, "amount": 0.9},
    # money reaches the bank on the payout's arrival date, not the day it was created
    ("BankTran", "TranDate"): {"date_arrival": 1, "date_created": 0.85},
    ("BankFundsTransfer", "TranDate"): {"date_arrival": 1, "date_created": 0.85},
}

# Related concepts match with a lower weight (symmetric).
_RELATED: dict[tuple[str, str], float] = {
    ("amount", "amount_total"): 1.0, ("amount", "amount_paid"): 0.97, ("amount", "amount_line"): 0.9,
    ("amount", "amount_unit"): 0.55, ("amount", "amount_due"): 0.8, ("amount", "amount_subtotal"): 0.6,
    ("amount", "amount_net"): 0.55, ("amount", "fee"): 0.3, ("amount", "tax"): 0.3, ("amount", "discount"): 0.3,
    ("amount", "amount_refunded"): 0.5, ("amount", "freight"): 0.3,
    ("amount_total", "amount_paid"): 0.88, ("amount_total", "amount_due"): 0.8,
    ("amount_total", "amount_subtotal"): 0.7,
    ("amount_total", "amount_line"): 0.6, ("amount_paid", "amount_due"): 0.75, ("amount_line", "amount_subtotal"): 0.8,
    ("amount_unit", "amount_line"): 0.6, ("amount_net", "amount_paid"): 0.7, ("amount_paid", "amount_refunded"): 0.4,
    ("amount_total", "amount_refunded"): 0.4, ("amount_balance", "amount_due"): 0.85,
    ("amount_balance", "amount_total"): 0.6, ("amount", "amount_balance"): 0.6,
    ("description", "comment"): 0.9, ("description", "product_name"): 0.6, ("name", "product_name"): 0.85,
    ("description", "reason"): 0.5, ("comment", "reason"): 0.7,
    ("email", "name"): 0.1, ("phone", "fax"): 0.4,
    ("date_created", "date_due"): 0.3, ("date_created", "date_arrival"): 0.6, ("date_created", "date_available"): 0.5,
    ("date_due", "date_arrival"): 0.3,
    ("po", "reference"): 0.5, ("reference", "doc_number"): 0.5, ("external_id", "reference"): 0.5,
    ("payment_ref", "reference"): 0.7, ("customer_code", "customer_number"): 0.5,
    ("line1", "line2"): 0.15, ("line2", "line3"): 0.3,
}
RELATED: dict[tuple[str, str], float] = {**_RELATED, **{(b, a): w for (a, b), w in _RELATED.items()}}

# How well an object's own id (``id:``) or a reference to another object (``ref:``) fills a reference column:
# an object's own id is its external id or payment reference; "Reference" usually names another object
# (a refund's receipt refers to the charge it returns).
ID_CONCEPTS = {"external_id": 0.9, "payment_ref": 0.9, "reference": 0.6, "doc_number": 0.4, "po": 0.3}
REF_CONCEPTS = {"external_id": 0.5, "payment_ref": 0.55, "reference": 0.85, "doc_number": 0.3, "po": 0.3}


def concept_match(source: dict[str, float], target: dict[str, float]) -> tuple[float, str, str]:
    """The best (weight, source concept, target concept) between two concept sets."""
    best = (0.0, "", "")
    for want, want_strength in target.items():
        for have, have_strength in source.items():
            weight = 1.0 if want == have else RELATED.get((have, want), 0.0)
            if want.startswith("kind:") and have == f"id:{want[5:]}":
                weight = 1.0
            elif have.startswith("id:") and want in ID_CONCEPTS:
                weight = ID_CONCEPTS[want]
            elif have.startswith("ref:") and want in REF_CONCEPTS:
                weight = REF_CONCEPTS[want] * (0.6 if have == "ref:txn" else 1.0)  # a ledger entry, not a document
            if have.startswith("ref:") and REF_KINDS.get(have) in (want, want[5:]):
                weight = 1.0  # a product reference is a part number, a customer reference the customer
            if have == "id:product" and want == "product":
                weight = 0.9
            score = weight * want_strength * have_strength
            if score > best[0]:
                best = (score, have, want)
    return best


# --- tokens -----------------------------------------------------------------------------------------

# Epicor's shorthands, expanded so the token similarity sees words.
ABBREVIATIONS = {
    "num": "number", "amt": "amount", "cust": "customer", "desc": "description", "doc": "document",
    "hed": "header", "dtl": "detail", "qty": "quantity", "bt": "bill to", "po": "purchase order",
    "curr": "currency", "tran": "transaction", "acct": "account", "ref": "reference", "ext": "external",
    "grp": "group", "invc": "invoice", "misc": "miscellaneous", "um": "unit measure", "prod": "product",
    "addr": "address", "rpt": "report", "zip": "postal code", "ots": "ship to", "email": "email",
    "postal": "postal", "line1": "address 1", "line2": "address 2", "line3": "address 3", "msg": "message",
    "id": "id", "cc": "card", "fax": "fax", "lang": "language", "uom": "unit measure", "sku": "part number",
}
STOP_TOKENS = frozenset({"data", "the", "of", "details", "detail", "info"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_words(name: str) -> list[str]:
    """``SellingShipQty`` -> selling ship qty; ``billing_details.postal_code`` -> billing details postal code."""
    words: list[str] = []
    for part in re.split(r"[._\-\s\[\]]+", name.replace("EMail", "Email")):
        words.extend(word.lower() for word in _CAMEL.findall(part))
    return words


def expand(words: list[str]) -> tuple[str, ...]:
    expanded: list[str] = []
    for word in words:
        expanded.extend(ABBREVIATIONS.get(word, word).split())
    return tuple(word for word in expanded if word not in STOP_TOKENS)


# Concepts from the words of a name the dictionaries do not know (metadata keys, user-defined columns).
TOKEN_CONCEPTS: tuple[tuple[frozenset[str], str, float], ...] = (
    (frozenset({"purchase", "order"}), "po", 0.9), (frozenset({"po"}), "po", 0.9),
    (frozenset({"postal"}), "postal", 0.8), (frozenset({"email"}), "email", 0.8),
    (frozenset({"phone"}), "phone", 0.8), (frozenset({"part", "number"}), "product", 0.8),
    (frozenset({"part"}), "product", 0.6), (frozenset({"terms"}), "terms", 0.8),
    (frozenset({"reason"}), "reason", 0.7), (frozenset({"customer", "id"}), "customer_code", 0.7),
    (frozenset({"customer", "code"}), "customer_code", 0.7), (frozenset({"comment"}), "comment", 0.8),
    (frozenset({"note"}), "comment", 0.6), (frozenset({"notes"}), "comment", 0.6),
    (frozenset({"description"}), "description", 0.8), (frozenset({"currency"}), "currency", 0.8),
    (frozenset({"bank", "account"}), "bank_account", 0.8), (frozenset({"date"}), "date_created", 0.3),
)


def token_concepts(tokens: tuple[str, ...]) -> dict[str, float]:
    found: dict[str, float] = {}
    have = set(tokens)
    for needed, concept, strength in TOKEN_CONCEPTS:
        if needed <= have:
            found[concept] = max(found.get(concept, 0.0), strength)
    return found


# --- the two sides ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldName:
    """A name as the ranker reads it."""

    path: str
    leaf: str
    tokens: tuple[str, ...]
    concepts: dict[str, float] = field(default_factory=dict)
    role: str | None = None
    variant: str = ""
    depth: int = 0
    in_list: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


# Epicor prefixes: (prefix, role, variant). Longest first; a prefix counts only before a capital letter.
_EPICOR_PREFIXES = (("PayBT", "bill", ""), ("SoldTo", None, ""), ("ShipTo", "ship", ""), ("Rpt1", None, "report"),
                    ("Rpt2", None, "report"), ("Rpt3", None, "report"), ("OTS", "ship", ""), ("BT", "bill", ""),
                    ("FF", "other", ""), ("CC", "bill", ""), ("Glb", "other", "global"), ("Dsp", None, "display"),
                    ("Doc", None, "doc"), ("Ship", "ship", ""))
# A table whose own address is the billing one (the customer's main address is where invoices go).
_MAIN_ROLE = {"Customer": "bill", "Company": "main"}


def _epicor_base(name: str) -> tuple[str, str | None, str]:
    for prefix, role, variant in _EPICOR_PREFIXES:
        rest = name[len(prefix):]
        if name.startswith(prefix) and rest[:1].isupper() and (rest in EPICOR or prefix not in ("Ship", "Doc")
                                                               or variant == "doc"):
            inner, inner_role, inner_variant = _epicor_base(rest)
            return inner, role or inner_role, variant or inner_variant
    return name, None, ""


# The Stripe object a site's user-defined column names (``StripePaymentID_c``): its words -> the object.
STRIPE_OBJECT_WORDS = {
    "customer": "customer", "cus": "customer", "charge": "charge", "payment": "payment_intent",
    "payment intent": "payment_intent", "intent": "payment_intent", "checkout": "checkout.session",
    "checkout session": "checkout.session", "session": "checkout.session", "invoice": "invoice",
    "payout": "payout", "refund": "refund", "dispute": "dispute", "product": "product", "price": "price",
    "subscription": "subscription", "sub": "subscription", "balance transaction": "balance_transaction",
    "transaction": "balance_transaction", "txn": "balance_transaction",
}


def user_defined_concepts(words: list[str]) -> dict[str, float]:
    """``StripeCustomerID_c`` (words stripe customer id) holds the Stripe customer's id: exactly that object's
    id (``stripe:customer``) first, any id of the same kind (``kind:customer``) next."""
    if len(words) < 3 or words[0] != "stripe" or words[-1] != "id":
        return {}
    stripe_object = STRIPE_OBJECT_WORDS.get(" ".join(words[1:-1]))
    if stripe_object is None:
        return {}
    return {f"stripe:{stripe_object}": 1.0, f"kind:{OBJECT_KIND.get(stripe_object, stripe_object)}": 0.8}


@lru_cache(maxsize=8192)
def epicor_name(qualified: str) -> FieldName:
    """``Customer.BTZip`` (or ``BTZip``) read as an Epicor column; a user-defined ``…_c`` column by its words."""
    table, _, column = qualified.rpartition(".")
    user_defined = column.endswith("_c")
    name = column[:-2].rstrip("_") if user_defined else column
    base, role, variant = _epicor_base(name)
    tokens = expand(split_words(name))
    concepts = dict(TABLE_CONCEPTS.get((table, column)) or TABLE_CONCEPTS.get((table, base)) or EPICOR.get(name)
                    or EPICOR.get(base)
                    or (user_defined and user_defined_concepts(split_words(name))) or token_concepts(tokens))
    if role is None and concepts.keys() & {"postal", "line1", "line2", "line3", "city", "region", "country",
                                           "email", "phone", "name", "fax"}:
        role = _MAIN_ROLE.get(table, "main")
    return FieldName(qualified, column, tokens, concepts, role, variant)


# Stripe objects whose name has a dot in it (so a path's first two segments are one object).
DOTTED_OBJECTS = frozenset({"checkout.session", "billing_portal.session", "issuing.card", "issuing.transaction",
                            "treasury.transaction", "tax.transaction", "radar.early_fraud_warning"})


@lru_cache(maxsize=8192)
def stripe_name(path: str) -> FieldName:
    """``charge.billing_details.address.postal_code`` read as a Stripe field (any object prefix)."""
    segments = [segment for segment in re.split(r"\.", path) if segment]
    leaf = segments[-1].replace("[]", "") if segments else path
    written = [segment.replace("[]", "") for segment in segments[:-1]]
    parents = written
    if ".".join(written[:2]) in DOTTED_OBJECTS:  # checkout.session.id is the session's own id
        parents = [".".join(written[:2]), *written[2:]]
    tokens = expand(split_words(path))
    concepts = dict(STRIPE.get(leaf) or {})
    if "metadata" in parents or not concepts:
        concepts = {**token_concepts(expand(split_words(leaf))), **concepts}
    if leaf == "id":
        kind = OBJECT_KIND.get(_singular(parents[-1]) if parents else "", "") if len(parents) != 1 \
            else OBJECT_KIND.get(parents[0], parents[0])
        concepts = {f"id:{kind}": 1.0 if len(parents) == 1 else 0.6}
        if len(parents) == 1:
            concepts[f"stripe:{parents[0]}"] = 1.0  # the object's own id, for a column naming that object
    elif leaf in STRIPE_OBJECT_WORDS.values() and any(c.startswith("ref:") for c in concepts):
        concepts[f"stripe:{leaf}"] = 1.0  # a reference to that object (a charge's customer)
    if parents and leaf in GENERIC_MONEY_LEAVES and (money := _money_parent(parents)):
        concepts = dict(money)
    if parents and parents[-1] == "period" and leaf in ("start", "end"):
        concepts = {f"date_period_{leaf}": 1.0}
    if parents and parents[-1] == "product" and leaf == "name":
        concepts = {"product_name": 1.0, "name": 0.6}
    # the role reads the path as written: a checkout session's top-level fields keep no role, as tuned
    return FieldName(path, leaf, tokens, concepts, _stripe_role(written, leaf), "",
                     depth=len(segments) - 1, in_list="[]" in path)


def _money_parent(parents: list[str]) -> dict[str, float] | None:
    """The money kind the nearest named container gives a plain amount (list indexes skipped)."""
    for parent in reversed(parents):
        if parent.isdigit() or parent == "data":
            continue
        return MONEY_PARENTS.get(parent)
    return None


def _singular(name: str) -> str:
    if name == "data":
        return ""
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _stripe_role(parents: list[str], leaf: str) -> str | None:
    joined = ".".join(parents) + "." + leaf
    if "shipping" in joined:
        return "ship"
    if "billing" in joined or "customer_address" in joined or "customer_details" in joined:
        return "bill"
    if {"owner", "evidence", "source", "plan"} & set(parents):  # copies, evidence, the legacy plan object
        return "other"
    return "main" if parents[1:] in ([], ["address"]) else None
