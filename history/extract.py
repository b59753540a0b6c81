"""What the history keeps of a stage's output: pure functions, no I/O.

- After ``fetch``: every Stripe id the event's objects name (``ch_…``, ``pi_…``, ``cus_…`` …), so a
  search by any of them finds the event, and the amount the event moves, in Stripe minor units with
  its currency. Money in (payments, paid invoices) counts positive; money out (refunds, disputes)
  negative, so a day's figure is the net cash the service posted.
- After ``post``: the Epicor documents, one per key family of the stage's ``keys`` (``CustNum`` →
  customer, ``OrderNum`` → sales order, ``InvoiceNum`` → AR invoice, ``HeadNum`` → cash receipt;
  nested lists such as a refund's ``CreditMemos`` give one document per item). Each document's external
  reference is its own: the post stage's ``references`` by entity (or by container, ``Chargeback``) when
  it names one (the customer's ``cus_…``, the order's ``pi_…``, the invoice's and receipt's ``ch_…``), a
  nested item's own Stripe id (a credit memo's ``RefundID``), else the payment's key as before. Post
  already holds these values, so recording them costs the pipeline nothing.
"""

from __future__ import annotations

import json
from typing import Any

STRIPE_PREFIXES = ("evt_", "ch_", "py_", "pi_", "cs_", "cus_", "in_", "re_", "dp_", "du_", "po_", "sub_", "txn_")
EPICOR_NUMBERS = ("CustNum", "OrderNum", "InvoiceNum", "HeadNum", "InvoiceRef")
ENTITIES = {"CustNum": "Customer", "OrderNum": "SalesOrder", "InvoiceNum": "ARInvoice", "HeadNum": "CashReceipt"}
_MAX_DEPTH = 4
_MAX_REFS = 50


def stripe_ids(value: Any, depth: int = 0) -> list[str]:
    """The Stripe ids found in ``value`` (dict keys ``id``, ``charge``, ``customer`` … at any depth)."""
    found: list[str] = []
    if depth > _MAX_DEPTH:
        return found
    if isinstance(value, str):
        return [value] if value.startswith(STRIPE_PREFIXES) and 4 < len(value) <= 255 else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        for ref in stripe_ids(item, depth + 1):
            if ref not in found:
                found.append(ref)
    return found[:_MAX_REFS]


def money(flow: str | None, fetched: dict[str, Any]) -> tuple[int, str] | None:
    """(amount in minor units, currency) the event moves, signed; None when it moves none."""
    try:
        if flow == "order_to_cash" and isinstance(fetched.get("charge"), dict):
            charge = fetched["charge"]
            return int(charge.get("amount_captured") or charge["amount"]), str(charge["currency"]).lower()
        if flow == "stripe_invoice" and isinstance(fetched.get("invoice"), dict):
            return int(fetched["invoice"]["amount_paid"]), str(fetched["invoice"]["currency"]).lower()
        if flow == "refunds" and fetched.get("refunds"):
            refunds = [r for r in fetched["refunds"] if r.get("status") in (None, "succeeded")]
            return -sum(int(r["amount"]) for r in refunds), str(fetched["refunds"][0]["currency"]).lower()
        if flow == "disputes" and isinstance(fetched.get("dispute"), dict):
            return -int(fetched["dispute"]["amount"]), str(fetched["dispute"]["currency"]).lower()
    except (KeyError, TypeError, ValueError):
        return None
    return None


def epicor_refs(keys: Any, depth: int = 0) -> list[str]:
    """``Name:number`` for every Epicor number in ``keys`` (the refs a search by number uses)."""
    found: list[str] = []
    if depth > _MAX_DEPTH:
        return found
    if isinstance(keys, list):
        for item in keys:
            found += [ref for ref in epicor_refs(item, depth + 1) if ref not in found]
        return found
    if not isinstance(keys, dict):
        return found
    for name, value in keys.items():
        if name in EPICOR_NUMBERS and number(value) is not None:
            found.append(f"{'InvoiceNum' if name == 'InvoiceRef' else name}:{number(value)}")
        elif isinstance(value, (dict, list)):
            found += [ref for ref in epicor_refs(value, depth + 1) if ref not in found]
    return found[:_MAX_REFS]


def number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def documents(keys: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents a post stage's ``keys`` name: [{entity, keys}]."""
    return [{"entity": doc["entity"], "keys": doc["keys"]} for doc in _documents(keys)]


def _documents(keys: dict[str, Any]) -> list[dict[str, Any]]:
    """``documents`` with, for a nested one, its ``container`` and the Stripe id it carries (``reference``)."""
    found: list[dict[str, Any]] = []
    group = keys.get("CashGroupID") or keys.get("GroupID")
    for name, entity in ENTITIES.items():
        if number(keys.get(name)) is not None:
            document_keys: dict[str, Any] = {name: number(keys[name])}
            if name == "HeadNum" and group:
                document_keys["GroupID"] = group
            found.append({"entity": entity, "keys": document_keys})
    for name, value in keys.items():
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in items:
            if isinstance(item, dict):
                found += _nested(name, item)
    return found


def _nested(container: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    numbered = {k: number(v) for k, v in item.items() if k in ENTITIES and number(v) is not None}
    if not numbered:
        return []
    entity = container[:-1] if container.endswith("s") else container
    extra = {k: item[k] for k in ("GroupID", "CashGroupID") if isinstance(item.get(k), str)}
    own = next((v for v in item.values() if isinstance(v, str) and v.startswith(STRIPE_PREFIXES)), None)
    return [{"entity": entity, "keys": {**numbered, **extra}, "container": container,
             **({"reference": own} if own else {})}]


def doc_key(keys: dict[str, Any]) -> str:
    return ";".join(f"{name}={keys[name]}" for name in sorted(keys))


def after_stage(stage: str, event: dict[str, Any], output: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(fields for the event's Redis record, history records) a finished stage adds; never raises
    (an output of a shape not foreseen here adds nothing rather than failing the stage)."""
    try:
        return _after_stage(stage, event, output)
    except Exception:  # noqa: BLE001 - history must never fail the pipeline
        return {}, []


def _after_stage(stage: str, event: dict[str, Any], output: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(output, dict):
        return {}, []
    if stage == "fetch":
        return _after_fetch(event, output)
    if stage == "post" and isinstance(output.get("keys"), dict):
        return {}, _document_records(event, output)
    return {}, []


def _after_fetch(event: dict[str, Any], fetched: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    moved = money(event.get("flow"), fetched)
    fields = {"amount": moved[0], "currency": moved[1]} if moved else {}
    refs = [ref for ref in stripe_ids(fetched) if ref != event.get("id")]
    return fields, [{"kind": "event", "id": event["id"], "refs": refs, **fields}]


def _document_records(event: dict[str, Any], output: dict[str, Any]) -> list[dict[str, Any]]:
    external_ref = output.get("payment_key") or event.get("payment") or event.get("object_id")
    found = output.get("references")
    references: dict[str, Any] = found if isinstance(found, dict) else {}
    amount, currency = _integer(event.get("amount")), event.get("currency")
    return [{"kind": "document", "event_id": event["id"], "entity": doc["entity"], "keys": doc["keys"],
             "external_ref": _reference(doc, references) or external_ref,
             "amount": None if doc["entity"] == "Customer" else amount,
             "currency": currency if amount is not None else None} for doc in _documents(output["keys"])]


def _reference(doc: dict[str, Any], references: dict[str, Any]) -> str | None:
    """The document's own external reference, when post named one (by entity or container)."""
    for name in (doc.get("reference"), references.get(doc["entity"]), references.get(str(doc.get("container")))):
        if isinstance(name, str) and name:
            return name
    return None


def _integer(value: Any) -> int | None:
    """An amount from the event's Redis record (text there), or None."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)
