"""What a field mapping may read (each flow's declared source shape) and write (the Epicor target palettes).

Policy: a mapping file is checked against these declarations when it is loaded, so a mistyped path
(``charge.billing_detail.name``) or a field Epicor does not have (``OrderHed.PONumber``) is refused with
the file, line and field named, before a payment ever reaches it. The same lists are what the mapping
designer shows on each side.

* **Source shapes** are not hand-written: they are read from real fetch-stage outputs stored as data
  (``data/samples/<flow>.json``, copied from stored fetches of several API versions), with the
  ``settings`` of defaults.yaml and the results of the builders a file calls, each run on those samples.
  Every path carries its type and a sample value. A ``metadata`` object is open: any key may be read.
* **Target palettes** come from the Epicor schema (``data/epicor_fields.json``: every column of the tables
  the connector writes, with its type), narrowed by the connector's own document schemas
  (``tasks/epicor/schemas.py``: lengths, required fields). User-defined ``_c`` columns exist only at a site that
  added them, so a site declares them in ``documents/user_fields.yaml``; undeclared ones are refused. The
  Epicor -> Stripe flows write Stripe parameters instead, declared in ``data/stripe_fields.json``.

Nothing here reads outside the product: the data files ship inside the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import MappingError

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "mappings"
USER_FIELDS_FILE = "user_fields.yaml"

# The documents each flow builds, in the order post creates them: each is the file
# ``documents/<flow>/<name>.yaml`` and ``name`` is also the document kind (``tasks.documents``).
FLOW_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "order_to_cash": ("customer", "sales_order", "invoice_group", "ar_invoice", "cash_group", "cash_receipt"),
    # One succeeded refund (the flow builds each refund of an event on its own): its credit memo and receipt.
    "refunds": ("invoice_group", "credit_memo", "cash_group", "cash_receipt"),
    # A dispute whose funds were withdrawn: the chargeback credit memo and its (negative) receipt.
    "disputes": ("invoice_group", "credit_memo", "cash_group", "cash_receipt"),
    # A chargeback whose funds came back: the debit invoice and receipt that reverse it. Its own directory,
    # because a file is one document of its kind and these groups and receipt are not the chargeback's.
    "dispute_reversals": ("invoice_group", "ar_invoice", "cash_group", "cash_receipt"),
    # A paid Stripe invoice: its customer and AR invoice (a proration credit is a negative line) ...
    "stripe_invoice": ("customer", "invoice_group", "ar_invoice"),
    # ... and, only when something was paid, the receipt applying it: its own directory, as a reversal's,
    # because the stripe_invoice flow builds it only for an invoice with an amount paid.
    "stripe_invoice_receipt": ("cash_group", "cash_receipt"),
    # A failed payment: the hold and comment line put on its sales order (post finds the order).
    "payment_failed": ("order_hold",),
    # A Stripe customer created or changed: the Epicor customer to create when new, the contact fields to bring.
    "customer_sync": ("customer", "customer_contact"),
    # A subscription event: the customer to create when new (its hold and comment line are decided at post).
    "customer_standing": ("customer",),
    # Epicor -> Stripe: the Stripe customer of an Epicor customer (also the customer of a sales order) ...
    "epicor_customer": ("stripe_customer",),
    # ... and the Stripe invoice, with its items, of an Epicor sales order.
    "epicor_sales_order": ("stripe_invoice",),
}

# Objects whose keys are the site's own (Stripe metadata): any key below them may be read.
OPEN_OBJECTS = frozenset({"metadata", "price_metadata", "product_metadata"})


@dataclass
class Shape:
    """One node of a source shape: its type, a sample value, and its fields or list items."""

    type: str = "null"
    sample: Any = None
    fields: dict[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    open: bool = False

    def child(self, name: str) -> Shape | None:
        if name == "[]":
            return self.items
        found = self.fields.get(name)
        return found if found is not None else (Shape("any") if self.open else None)


def value_type(value: Any) -> str:
    """The loader's type of a sample value (``transforms.VALUE_TYPES``)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, (Decimal, float)):
        return "decimal"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "list"
    return "null"


def merge(shape: Shape, value: Any, name: str = "") -> Shape:
    """``shape`` widened by one more sample ``value`` (a null never narrows a known type)."""
    kind = value_type(value)
    if shape.type in ("null", kind):
        shape.type = kind
        shape.sample = value if shape.sample is None and kind not in ("object", "list") else shape.sample
    elif kind != "null":
        shape.type = "any"
    shape.open = shape.open or name in OPEN_OBJECTS
    if isinstance(value, Mapping):
        for key, item in value.items():
            shape.fields[str(key)] = merge(shape.fields.get(str(key)) or Shape(), item, str(key))
    if isinstance(value, list):
        for item in value:
            shape.items = merge(shape.items or Shape(), item)
    return shape


def flows() -> tuple[str, ...]:
    return tuple(FLOW_DOCUMENTS)


@lru_cache(maxsize=32)
def samples(flow: str) -> tuple[Any, ...]:
    """The stored fetch outputs of ``flow`` (JSON text, so every caller gets its own copy)."""
    path = DATA_DIR / "samples" / f"{flow}.json"
    if not path.is_file():
        raise MappingError(f"no declared source shape for flow {flow!r}", reason="mapping.config")
    return tuple(json.dumps(sample) for sample in json.loads(path.read_text(encoding="utf-8"))["samples"])


def sample_objects(flow: str) -> list[dict[str, Any]]:
    return [json.loads(text) for text in samples(flow)]


def source_shape(roots: list[Mapping[str, Any]]) -> Shape:
    """The shape of a list of namespaces (fetched objects plus settings and builder results)."""
    shape = Shape()
    for root in roots:
        merge(shape, root)
    return shape


def walk(shape: Shape, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(path, type, sample)`` of every field below ``shape``: the designer's source list."""
    for name, child in sorted(shape.fields.items()):
        here = f"{path}.{name}" if path else name
        yield here, child.type, child.sample
        yield from walk(child, here)
    if shape.items is not None:
        yield from walk(shape.items, f"{path}[]")


# --- targets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """An Epicor field a document may write: its type, maximum length and whether it is required."""

    name: str
    type: str
    length: int | None = None
    required: bool = False


@lru_cache(maxsize=1)
def _epicor_fields() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / "epicor_fields.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _stripe_fields() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / "stripe_fields.json").read_text(encoding="utf-8"))
    return data


def table_of(schema_kind: str) -> str:
    documents = {**_epicor_fields()["documents"], **_stripe_fields()["documents"]}
    if schema_kind not in documents:
        raise MappingError(f"unknown document schema {schema_kind!r}", reason="mapping.config")
    return str(documents[schema_kind]["table"])


def palette(schema_kind: str, user_fields: Mapping[str, Mapping[str, Target]] | None = None) -> dict[str, Target]:
    """Every field a document of ``schema_kind`` may write: the Epicor table's columns (typed), the
    connector schema's lengths and required fields, and the site's declared ``_c`` fields; for a Stripe
    target (the Epicor -> Stripe flows) the Stripe parameters ``data/stripe_fields.json`` declares."""
    stripe = _stripe_fields()["documents"].get(schema_kind)
    if stripe is not None:
        return {name: Target(name, rule["type"], rule.get("length"), bool(rule.get("required")))
                for name, rule in stripe["fields"].items()}
    data = _epicor_fields()
    table = table_of(schema_kind)
    checked = data["documents"][schema_kind]["fields"]
    targets = {name: Target(name, kind) for name, kind in data["tables"][table].items() if name != "Company"}
    for name, rule in checked.items():
        targets[name] = Target(name, rule["type"], rule.get("length"), bool(rule.get("required")))
    return targets | dict((user_fields or {}).get(table, {}))


USER_FIELD_TYPES = ("string", "number", "integer", "boolean", "date")


def user_fields(mappings_dir: str | Path) -> dict[str, dict[str, Target]]:
    """The site's user-defined columns (``documents/user_fields.yaml``): ``{Table: {Name_c: {type, length}}}``."""
    path = Path(mappings_dir) / "documents" / USER_FIELDS_FILE
    if not path.is_file():
        path = SHIPPED_DIR / "documents" / USER_FIELDS_FILE
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return {table: {name: _user_field(path, table, name, rule) for name, rule in (columns or {}).items()}
            for table, columns in (raw or {}).items()}


def _user_field(path: Path, table: str, name: str, rule: Any) -> Target:
    tables = _epicor_fields()["tables"]
    if table not in tables:
        raise MappingError(f"{path}: {table} is not an Epicor table the connector writes ({', '.join(tables)})",
                           reason="mapping.config")
    if not str(name).endswith("_c") or not isinstance(rule, Mapping) or rule.get("type") not in USER_FIELD_TYPES:
        raise MappingError(f"{path}: {table}.{name}: a user-defined field is named *_c and has a type "
                           f"({', '.join(USER_FIELD_TYPES)}) and optionally a length", reason="mapping.config")
    length = rule.get("length")
    return Target(str(name), str(rule["type"]), int(length) if length else None)
