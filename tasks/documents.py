"""The one shape of every Epicor document a flow posts, and its placeholders for Epicor-assigned keys.

Policy: transform is the only place documents are built, so that a preview shows exactly what Epicor
will receive. Some values only exist once Epicor has answered (the customer's ``CustNum``, the order's
``OrderNum``, the invoice's ``InvoiceNum``, the receipt's ``HeadNum``, a group's ``GroupID``); transform
writes those as placeholder tokens (``"{{CustNum}}"``) and lists their names in ``placeholders``. Post
only fills them in (``fill``); it never adds, drops or computes a field.

A document is plain JSON (it travels through the broker and is stored as a stage input), so it is a
``TypedDict``, not a class:

- ``kind``: what the document is in Epicor (``DOCUMENT_KINDS``), which also names its schemas;
- ``reference``: the external-reference fields post looks the document up by before creating it
  (contract §4), e.g. ``{"IntExternalKey": "pi_…"}``;
- ``header`` and ``lines``: the fields sent, values as JSON (decimals as exact text);
- ``placeholders``: the names of the Epicor-assigned keys its values wait for;
- ``currency``: the ISO code whose decimal places its amounts must respect, or None when it has no
  amount (no made-up currency for, say, an order hold).

A token is a whole value (``"{{OrderNum}}"``, filled with the key's own type, an integer) or part of a
text (``"Order {{OrderNum}}"``, filled as text). Nothing here is evaluated: a token names a key and
nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from tasks.errors import MappingError

# Keys Epicor assigns when a document is created; the only values post may add to a document.
ASSIGNED_KEYS = ("CustNum", "OrderNum", "InvoiceNum", "HeadNum", "GroupID")

# Document kind -> (schema of its header, schema of each line or None): the names of ``tasks.epicor.schemas``.
DOCUMENT_KINDS: dict[str, tuple[str, str | None]] = {
    "customer": ("customer", None),
    "sales_order": ("order_header", "order_line"),
    "invoice_group": ("invoice_group", None),
    "ar_invoice": ("invoice_header", "invoice_line"),
    "cash_group": ("cash_group", None),
    "cash_receipt": ("receipt_header", "receipt_line"),
    "order_hold": ("order_hold", None),
    "credit_memo": ("invoice_header", "invoice_line"),
    "customer_standing": ("customer_standing", None),
    "customer_contact": ("customer_contact", None),
    # Stripe targets of the Epicor -> Stripe flows: their schemas are Stripe's (tasks/mapping/data/stripe_fields.json),
    # checked by their flows against what Stripe refuses, never by the Epicor schemas.
    "stripe_customer": ("stripe_customer", None),
    "stripe_invoice": ("stripe_invoice", "stripe_invoice_item"),
}
STRIPE_KINDS = frozenset({"stripe_customer", "stripe_invoice"})

TOKEN = re.compile(r"\{\{(" + "|".join(ASSIGNED_KEYS) + r")\}\}")


class Document(TypedDict):
    kind: str
    reference: dict[str, Any]
    header: dict[str, Any]
    lines: list[dict[str, Any]]
    placeholders: list[str]
    currency: str | None


def placeholder(key: str) -> str:
    """The token that stands for an Epicor-assigned key until post knows it."""
    if key not in ASSIGNED_KEYS:
        raise MappingError(f"{key} is not a key Epicor assigns (one of {', '.join(ASSIGNED_KEYS)})")
    return "{{" + key + "}}"


def document(kind: str, header: Mapping[str, Any], lines: Iterable[Mapping[str, Any]] = (), *,
             reference: Mapping[str, Any] | None = None, currency: str | None = None) -> Document:
    """A document of ``kind`` whose ``placeholders`` list exactly the tokens its values hold."""
    if kind not in DOCUMENT_KINDS:
        raise MappingError(f"unknown document kind {kind!r} (one of {', '.join(DOCUMENT_KINDS)})")
    built = Document(kind=kind, reference=dict(reference or {}), header=dict(header),
                     lines=[dict(line) for line in lines], placeholders=[], currency=currency)
    built["placeholders"] = placeholders_in(built)
    return built


def placeholders_in(doc: Document) -> list[str]:
    """The assigned keys a document's reference, header and lines wait for, each once, in key order."""
    found = {match for value in _values(doc) if isinstance(value, str) for match in TOKEN.findall(value)}
    return [key for key in ASSIGNED_KEYS if key in found]


def fill(doc: Document, keys: Mapping[str, Any]) -> Document:
    """The document with every placeholder replaced by the key Epicor assigned; a missing key is a bug
    in the flow's posting order, so it fails loudly rather than posting a token to Epicor."""
    missing = [name for name in doc["placeholders"] if keys.get(name) is None]
    if missing:
        raise MappingError(f"{doc['kind']}: no value yet for {', '.join(missing)}")
    return Document(kind=doc["kind"], reference=_filled(doc["reference"], keys), header=_filled(doc["header"], keys),
                    lines=[_filled(line, keys) for line in doc["lines"]], placeholders=[],
                    currency=doc["currency"])


def fill_values(values: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, Any]:
    """One header or line with its placeholders filled: post fills a header before Epicor has assigned
    the keys its lines wait for (a sales order's ``OrderNum``), so it fills part by part."""
    missing = sorted({key for value in values.values() if isinstance(value, str) for key in TOKEN.findall(value)
                      if keys.get(key) is None})
    if missing:
        raise MappingError(f"no value yet for {', '.join(missing)}")
    return _filled(values, keys)


def without_placeholders(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that are already known: what validate can check before post fills the rest."""
    return {name: value for name, value in values.items() if not (isinstance(value, str) and TOKEN.fullmatch(value))}


def _filled(values: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _fill_value(value, keys) for name, value in values.items()}


def _fill_value(value: Any, keys: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    whole = TOKEN.fullmatch(value)
    if whole:
        return keys[whole.group(1)]
    return TOKEN.sub(lambda match: str(keys[match.group(1)]), value)


def _values(doc: Document) -> Iterable[Any]:
    yield from doc["reference"].values()
    yield from doc["header"].values()
    for line in doc["lines"]:
        yield from line.values()
