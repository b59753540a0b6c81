"""Rendering invoices, their lines, invoice items and subscriptions for API versions before basil.

Basil (2025-03-31) moved an invoice's links to its payment and subscription: before it, an invoice
carries `charge`, `payment_intent`, `paid` and `subscription` at the top level; a line carries
`type` (`subscription` / `invoiceitem`), its full `price` (and `plan`), `proration`,
`subscription`, `subscription_item` and `invoice_item` instead of `parent` and `pricing`; a
subscription carries `current_period_start/end` itself. Objects are stored in the current shape and
turned into the old one here; this module never imports `versions.py` (which registers it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

BASIL = "2025-03-31"

Lookup = Callable[[str], "dict[str, Any] | None"]


def _before_basil(api_version: str) -> bool:
    return api_version[:10] < BASIL


def _public(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in stored.items() if not k.startswith("_")} if stored else None


def render_invoice(invoice: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    """An invoice for `api_version`: its 2020-era payment links before basil."""
    if not _before_basil(api_version):
        return invoice
    invoice = copy.deepcopy(invoice)
    stored = lookup(invoice["id"]) or {}
    parent = invoice.pop("parent", None) or {}
    invoice.pop("amount_overpaid", None)
    invoice.pop("total_taxes", None)
    invoice.update({
        "charge": stored.get("_charge"),
        "payment_intent": stored.get("_payment_intent"),
        "paid": invoice["status"] == "paid",
        "subscription": (parent.get("subscription_details") or {}).get("subscription"),
        "tax": None,
        "total_tax_amounts": [],
        "discount": None,
    })
    lines = invoice.get("lines") or {}
    lines["data"] = [render_line(dict(line), api_version, lookup) for line in lines.get("data", [])]
    return invoice


def render_line(line: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    """An invoice line for `api_version`: `type`, `price`, `plan`, `proration` before basil."""
    if not _before_basil(api_version):
        return line
    parent = line.pop("parent", None) or {}
    pricing = line.pop("pricing", None) or {}
    from_item = parent.get("type") == "invoice_item_details"
    details = (parent.get("invoice_item_details") if from_item else parent.get("subscription_item_details")) or {}
    price = _public(lookup((pricing.get("price_details") or {}).get("price") or ""))
    line.update({
        "type": "invoiceitem" if from_item else "subscription",
        "price": price,
        "plan": _plan(price),
        "proration": bool(details.get("proration")),
        "subscription": details.get("subscription"),
        "subscription_item": details.get("subscription_item"),
        "invoice_item": details.get("invoice_item"),
        "tax_amounts": [],
        "tax_rates": [],
        "unit_amount_excluding_tax": pricing.get("unit_amount_decimal"),
    })
    line.pop("taxes", None)
    line.pop("pretax_credit_amounts", None)
    line.pop("subtotal", None)
    return line


def render_invoice_item(item: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    """An invoice item for `api_version`: `price`, `unit_amount`, `subscription` before basil."""
    if not _before_basil(api_version):
        return item
    parent = item.pop("parent", None) or {}
    pricing = item.pop("pricing", None) or {}
    price = _public(lookup((pricing.get("price_details") or {}).get("price") or ""))
    item.update({
        "price": price,
        "plan": _plan(price),
        "subscription": (parent.get("subscription_details") or {}).get("subscription"),
        "unit_amount": int(pricing["unit_amount_decimal"]) if pricing.get("unit_amount_decimal") else None,
        "unit_amount_decimal": pricing.get("unit_amount_decimal"),
    })
    item.pop("net_amount", None)
    return item


def render_subscription(subscription: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    """A subscription for `api_version`: periods, `plan` and `quantity` at the top before basil."""
    if not _before_basil(api_version):
        return subscription
    subscription = copy.deepcopy(subscription)
    items = subscription["items"]["data"]
    for item in items:
        item["plan"] = _plan(item.get("price"))
    first = items[0] if items else {}
    subscription.update({
        "current_period_start": first.get("current_period_start"),
        "current_period_end": first.get("current_period_end"),
        "plan": first.get("plan") if len(items) == 1 else None,
        "quantity": first.get("quantity") if len(items) == 1 else None,
        "discount": None,
    })
    return subscription


def _plan(price: dict[str, Any] | None) -> dict[str, Any] | None:
    """The legacy Plan view of a recurring price."""
    if not price or not price.get("recurring"):
        return None
    return {
        "id": price["id"], "object": "plan", "active": price["active"], "aggregate_usage": None,
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"], "created": price["created"], "currency": price["currency"],
        "interval": price["recurring"]["interval"], "interval_count": price["recurring"]["interval_count"],
        "livemode": False, "metadata": price["metadata"], "nickname": price["nickname"],
        "product": price["product"], "tiers_mode": None, "transform_usage": None,
        "trial_period_days": None, "usage_type": "licensed",
    }


BILLING_RENDERERS = {"invoice": render_invoice, "line_item": render_line, "invoiceitem": render_invoice_item,
                     "subscription": render_subscription}
