"""marshmallow schemas of every Epicor document this service sends, and their wire form.

Policy: a document is checked completely before the first Epicor call, because a half-posted sale
(order created, invoice refused) costs an accountant far more than a payment held back with a clear
reason. Schemas reject unknown keys (a misspelt field would otherwise be dropped silently by Epicor),
require what Epicor requires, enforce Epicor's column lengths and code lists, and keep amounts within
the currency's decimal places. Keys that only the post stage knows (``CustNum``, ``OrderNum``,
``InvoiceNum``, ``GroupID`` on headers, ``HeadNum``) and the connector's ``Company`` are optional.
``validate_documents`` checks any flow's documents (``tasks.documents``) the same way, by their kind
(``DOCUMENT_KINDS`` names each kind's header and line schema), placeholders left for post to fill.

Errors read like ``Sales order line 2: SellingQuantity must be greater than 0 (got 0)``: the document,
the line, the field, the rule and the offending value, never a raw dictionary.

Documents travel between stages as JSON with decimals as exact text; ``to_wire`` turns them into JSON
numbers only at the Epicor edge, and refuses a value a float cannot carry exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, post_load

from tasks.documents import DOCUMENT_KINDS, Document, without_placeholders
from tasks.errors import MappingError, ValidationFailed
from tasks.mapping.currency import epicor_decimals

EPICOR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
USER_FIELD = "_c"  # Epicor's suffix of a site's user-defined columns
BASE_MESSAGES = {"required": "is required", "null": "must not be empty"}


# --- rules -----------------------------------------------------------------------------------------


def at_most(length: int) -> Callable[[str], None]:
    def rule(value: str) -> None:
        if len(value) > length:
            raise ValidationError(f"must be at most {length} characters (got '{value}', {len(value)})")
    return rule


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def one_of(*choices: str) -> Callable[[str], None]:
    def rule(value: str) -> None:
        if value not in choices:
            raise ValidationError(f"must be one of {', '.join(choices)} (got '{value}')")
    return rule


def at_least(minimum: int) -> Callable[[int], None]:
    def rule(value: int) -> None:
        if value < minimum:
            raise ValidationError(f"must be {minimum} or more (got {value})")
    return rule


def greater_than_zero(value: Decimal) -> None:
    if value <= 0:
        raise ValidationError(f"must be greater than 0 (got {value})")


def zero_or_more(value: Decimal) -> None:
    if value < 0:
        raise ValidationError(f"must be 0 or more (got {value})")


def not_zero(value: Decimal) -> None:
    if value == 0:
        raise ValidationError(f"must not be 0 (got {value})")


def epicor_date(value: str) -> None:
    try:
        valid = bool(EPICOR_DATE.fullmatch(value)) and bool(datetime.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        raise ValidationError(f"must be a date like 2026-03-04T00:00:00 (got '{value}')")


# --- fields ----------------------------------------------------------------------------------------


class Text(fields.String):
    default_error_messages = {**BASE_MESSAGES, "invalid": "must be text"}


class WholeNumber(fields.Integer):
    default_error_messages = {**BASE_MESSAGES, "invalid": "must be a whole number"}

    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)


class Flag(fields.Boolean):
    default_error_messages = {**BASE_MESSAGES, "invalid": "must be true or false"}


class DecimalText(fields.Field):
    """A number sent as exact decimal text; loads to ``Decimal``."""

    default_error_messages = {**BASE_MESSAGES, "invalid": "must be a number"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValidationError(f"must be a number (got {value!r})")
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"must be a number (got {value!r})") from None
        if not number.is_finite():
            raise ValidationError(f"must be a number (got {value!r})")
        return number

    def as_text(self, value: Decimal, places: int) -> str:
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


class Money(DecimalText):
    """An amount: at most the currency's Epicor decimals, sent with exactly that many."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        amount = super()._deserialize(value, attr, data, **kwargs)
        document = cast("EpicorDocument", self.parent)  # Money is only declared on EpicorDocument schemas
        places = document.places
        if amount != amount.quantize(Decimal(1).scaleb(-places)):
            raise ValidationError(f"must have at most {places} decimals in {document.currency} (got {value})")
        return amount

    def as_text(self, value: Decimal, places: int) -> str:
        return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def text(length: int, *, required: bool = False, blank: bool = True) -> Text:
    rules = [at_most(length)] + ([] if blank else [not_blank])
    return Text(required=required, validate=rules)


def choice(*choices: str, required: bool = True) -> Text:
    return Text(required=required, validate=one_of(*choices))


def key(minimum: int = 1) -> WholeNumber:
    """A number Epicor assigns (CustNum, OrderNum …): filled by the post stage, so optional here."""
    return WholeNumber(validate=at_least(minimum))


def date(*, required: bool = True) -> Text:
    return Text(required=required, validate=epicor_date)


# --- schemas ---------------------------------------------------------------------------------------


class EpicorDocument(Schema):
    """Base: unknown keys refused; knows the currency's places; returns decimals as exact text."""

    error_messages = {"unknown": "is not a field Epicor accepts on this document",
                      "type": "must be a JSON object"}

    class Meta:
        unknown = RAISE

    Company = text(8)

    def __init__(self, currency: str = "USD", places: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self.currency, self.places = currency.upper(), places

    @post_load
    def _decimals_as_text(self, document: dict, **_: Any) -> dict:
        # Only DecimalText fields load to Decimal.
        return {name: cast(DecimalText, self.fields[name]).as_text(value, self.places)
                if isinstance(value, Decimal) else value
                for name, value in document.items()}


class CustomerSchema(EpicorDocument):
    CustNum = key()
    CustID = text(10, required=True, blank=False)
    Name = text(50, required=True, blank=False)
    ExternalID = text(50)
    EMailAddress = text(255)
    PhoneNum = text(20)
    Address1, Address2, Address3 = text(50), text(50), text(50)
    City, State, Zip, Country = text(50), text(50), text(10), text(50)
    CurrencyCode = text(4)
    TermsCode = text(4)


class OrderHeaderSchema(EpicorDocument):
    OrderNum, CustNum = key(), key()
    IntExternalKey = text(50, required=True, blank=False)
    OrderDate = date()
    CurrencyCode = text(4, required=True, blank=False)
    PONum = text(50)
    OrderComment = Text()


class OrderLineSchema(EpicorDocument):
    OrderNum = key()
    OrderLine = WholeNumber(required=True, validate=at_least(1))
    PartNum = text(50, required=True, blank=False)
    LineDesc = text(1000)
    SellingQuantity = DecimalText(required=True, validate=greater_than_zero)
    DocUnitPrice = Money(required=True, validate=zero_or_more)
    SalesUM = text(6)


class InvoiceGroupSchema(EpicorDocument):
    GroupID = text(8, required=True, blank=False)
    InvoiceDate = date(required=False)


class InvoiceHeaderSchema(EpicorDocument):
    GroupID = text(8)
    InvoiceNum, CustNum, OrderNum = key(), key(), key()
    InvoiceType = choice("Shp", "Adv", "Dep", "Mis")
    InvoiceDate = date()
    ExternalID = text(50, required=True, blank=False)
    Description = text(30)
    CurrencyCode = text(4)
    CreditMemo = Flag()
    InvoiceRef = key()
    CMReason = text(8)


class InvoiceLineSchema(EpicorDocument):
    InvoiceNum, OrderNum = key(), key()
    InvoiceLine = WholeNumber(required=True, validate=at_least(1))
    OrderLine = WholeNumber(validate=at_least(1))
    PartNum = text(50)
    LineDesc = text(1000)
    SellingShipQty = DecimalText(required=True, validate=not_zero)
    DocUnitPrice = Money(required=True, validate=zero_or_more)
    SalesUM = text(6)


class CashGroupSchema(EpicorDocument):
    GroupID = text(8, required=True, blank=False)
    TranDate = date()
    BankAcctID = text(10, required=True, blank=False)


class ReceiptHeaderSchema(EpicorDocument):
    GroupID = text(8)
    HeadNum, CustNum = key(), key()
    TranType = choice("PayInv", "MisPay", "PrePay")
    TranDate = date()
    DocTranAmt = Money(required=True, validate=not_zero)
    CurrencyCode = text(4, required=True, blank=False)
    ExternalID = text(50, required=True, blank=False)
    CheckRef = text(50)
    BankAcctID = text(10, required=True, blank=False)
    Reference = text(50)


class ReceiptLineSchema(EpicorDocument):
    GroupID = text(8)
    HeadNum, InvoiceNum, CustNum = key(), key(), key()
    InvoiceRef = key(minimum=0)
    TranType = choice("PayInv", "MisPay", "PrePay", required=False)
    DocTranAmt = Money(required=True, validate=not_zero)


class OrderHoldSchema(EpicorDocument):
    """PATCH of a sales order put on or taken off hold (failed payment, dispute)."""

    OrderHeld = Flag(required=True)
    OrderComment = Text()


class CreditMemoOutcomeSchema(EpicorDocument):
    """PATCH of an unposted credit memo whose dispute ended (reason code and a note)."""

    CMReason = text(8, required=True, blank=False)
    InvoiceComment = Text()


class BilledLineSchema(InvoiceLineSchema):
    """A line of an invoice Stripe billed: a proration credit is a negative unit price."""

    DocUnitPrice = Money(required=True)


class CustomerStandingSchema(EpicorDocument):
    """PATCH of a customer's standing: credit hold while behind on Stripe payments, subscription note."""

    CreditHold = Flag()
    Comment = Text()


class CustomerContactSchema(EpicorDocument):
    """PATCH of a customer's contact details from Stripe (only the fields that changed)."""

    Name = text(50, blank=False)
    ExternalID = text(50)
    EMailAddress = text(255)
    PhoneNum = text(20)
    Address1, Address2, Address3 = text(50), text(50), text(50)
    City, State, Zip, Country = text(50), text(50), text(10), text(50)


# Kind → (schema, what the accountant calls the document, the key that numbers its lines).
DOCUMENTS: dict[str, tuple[type[EpicorDocument], str, str | None]] = {
    "customer": (CustomerSchema, "Customer", None),
    "order_header": (OrderHeaderSchema, "Sales order", None),
    "order_line": (OrderLineSchema, "Sales order line", "OrderLine"),
    "invoice_group": (InvoiceGroupSchema, "AR invoice group", None),
    "invoice_header": (InvoiceHeaderSchema, "AR invoice", None),
    "invoice_line": (InvoiceLineSchema, "AR invoice line", "InvoiceLine"),
    "cash_group": (CashGroupSchema, "Cash receipt group", None),
    "receipt_header": (ReceiptHeaderSchema, "Cash receipt", None),
    "receipt_line": (ReceiptLineSchema, "Cash receipt line", None),
    "order_hold": (OrderHoldSchema, "Sales order hold", None),
    "credit_memo_outcome": (CreditMemoOutcomeSchema, "Credit memo outcome", None),
    "billed_line": (BilledLineSchema, "AR invoice line", "InvoiceLine"),
    "customer_standing": (CustomerStandingSchema, "Customer standing", None),
    "customer_contact": (CustomerContactSchema, "Customer contact", None),
}


@lru_cache(maxsize=512)
def _schema(kind: str, currency: str) -> EpicorDocument:
    """One schema instance per document kind and currency: loading keeps no state on the instance."""
    schema_class, _, _ = _definition(kind)
    return schema_class(currency=currency, places=_places(currency))


def _definition(kind: str) -> tuple[type[EpicorDocument], str, str | None]:
    if kind not in DOCUMENTS:
        raise ValueError(f"unknown Epicor document kind {kind!r}; known: {', '.join(DOCUMENTS)}")
    return DOCUMENTS[kind]


def document_label(kind: str, document: object) -> str:
    """``Sales order line 2``, ``Cash receipt`` …: how the accountant finds the document."""
    _, title, line_key = _definition(kind)
    number = document.get(line_key) if line_key and isinstance(document, dict) else None
    return f"{title} {number}" if number is not None else title


def _problems(messages: dict | list) -> list[str]:
    """marshmallow's error dict as ``Field rule`` sentences, in field order."""
    if isinstance(messages, list):
        return [str(message) for message in messages]
    return [f"{field} {message}" if field != "_schema" else str(message)
            for field, field_messages in messages.items()
            for message in (field_messages if isinstance(field_messages, list) else [field_messages])]


def _places(currency: str) -> int:
    try:
        return epicor_decimals(currency)
    except MappingError as exc:
        raise ValidationFailed(f"Currency {currency!r}: {exc.message}", reason="validation.currency") from None


def validate_document(kind: str, document: dict, currency: str) -> dict:
    """The document loaded and checked (decimals as currency-exact text), or ``ValidationFailed``."""
    try:
        return _schema(kind, currency).load(document)
    except ValidationError as exc:
        message = f"{document_label(kind, document)}: " + "; ".join(_problems(exc.messages))
        raise ValidationFailed(message, reason=f"validation.{kind}") from None


def validate_documents(documents: Iterable[Document], line_kinds: Mapping[str, str] | None = None) -> None:
    """Every document's header and lines against the schemas its kind names; ``ValidationFailed`` at the
    first problem. A document without amounts (a group, a hold) has no currency of its own: its values
    are checked as in any currency, since none of them depends on decimal places. ``line_kinds`` names
    another schema for the lines of a kind, as its mapping file's ``lines: schema:`` does (an invoice
    Stripe billed: ``{"ar_invoice": "billed_line"}``, a proration credit being negative)."""
    for doc in documents:
        header_kind, line_kind = DOCUMENT_KINDS[doc["kind"]]
        line_kind = (line_kinds or {}).get(doc["kind"], line_kind)
        currency = doc["currency"] or "USD"
        validate_document(header_kind, _connector_fields(doc["header"]), currency)
        if doc["lines"] and line_kind is None:
            raise ValidationFailed(f"{document_label(header_kind, doc['header'])}: this document has no lines",
                                   reason=f"validation.{header_kind}")
        for line in doc["lines"]:
            validate_document(str(line_kind), _connector_fields(line), currency)


def _connector_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The known values the schemas check: a site's own ``_c`` fields were checked against its declaration
    (``documents/user_fields.yaml``) when the mapping file was loaded, so they are not the schema's."""
    return {name: value for name, value in without_placeholders(values).items() if not name.endswith(USER_FIELD)}


def wire_number(value: object, label: str) -> float:
    """Decimal text as a float that prints back as the same number, or ``ValidationFailed``."""
    number = Decimal(str(value))
    wire = float(number)
    if Decimal(repr(wire)) != number:
        raise ValidationFailed(f"{label}: {value} has too many digits to send to Epicor exactly",
                               reason="validation.precision")
    return wire


def _wire_value(schema_field: fields.Field, value: Any, label: str) -> object:
    if value is None:
        return None
    if isinstance(schema_field, DecimalText):
        return wire_number(value, label)
    if isinstance(schema_field, WholeNumber):
        return int(value)
    return value


@lru_cache(maxsize=64)
def _wire_fields(kind: str) -> dict[str, fields.Field]:
    """A kind's fields, from one schema instance kept for the process (building one per call cost more
    than the conversion itself)."""
    return _definition(kind)[0]().fields


def to_wire(kind: str, document: dict) -> dict:
    """The JSON body Epicor takes: decimal text → JSON numbers, keys → integers."""
    schema_fields = _wire_fields(kind)
    unknown = sorted(name for name in set(document) - set(schema_fields) if not name.endswith(USER_FIELD))
    if unknown:
        raise ValidationFailed(f"{document_label(kind, document)}: {', '.join(unknown)} is not a field Epicor "
                               f"accepts on this document", reason=f"validation.{kind}")
    return {name: _wire_value(schema_fields[name], value, f"{document_label(kind, document)} {name}")
            if name in schema_fields else value for name, value in document.items()}
