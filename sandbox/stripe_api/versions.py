"""Rendering stored objects for a given Stripe API version.

Objects are stored in the shape of the version stripe-python 16 pins. Older versions differ in ways
that break parsers, and the connector must cope with endpoints still on them:

- before 2022-11-15 a PaymentIntent embeds `charges` (a list) instead of `latest_charge`, and a
  Charge embeds its `refunds` list;
- before 2025-03-31 (basil) Charge and PaymentIntent still carry `invoice`.

API responses are rendered for the request's `Stripe-Version` header (stripe-python always sends
it); events are rendered once, for their own `api_version`, and stored as snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.stripe_api.billing_versions import BILLING_RENDERERS

DEFAULT_API_VERSION = "2026-10-28.endive"
CHARGES_LIST_REMOVED = "2022-11-15"
INVOICE_LINK_REMOVED = "2025-03-31"

Lookup = Callable[[str], "dict[str, Any] | None"]


def before(api_version: str, date: str) -> bool:
    """True when `api_version` (e.g. `2020-08-27`, `2025-03-31.basil`) predates `date`."""
    return api_version[:10] < date


def public(stripe_object: dict[str, Any]) -> dict[str, Any]:
    """The object without the sandbox's `_` bookkeeping keys."""
    return {key: value for key, value in stripe_object.items() if not key.startswith("_")}


def render(stripe_object: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    """The object as Stripe returns it to a client or endpoint on `api_version`."""
    rendered = public(stripe_object)
    renderer = _RENDERERS.get(rendered.get("object", ""))
    rendered = renderer(rendered, api_version, lookup) if renderer else rendered
    if rendered.get("invoice", "") is None and stripe_object.get("_invoice"):
        rendered["invoice"] = stripe_object["_invoice"]  # an invoice payment, before basil
    return rendered


def _render_charge(charge: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    if before(api_version, INVOICE_LINK_REMOVED):
        charge["invoice"] = None
    if before(api_version, CHARGES_LIST_REMOVED):
        charge["refunds"] = _list(_refunds_of(charge["id"], lookup), f"/v1/charges/{charge['id']}/refunds")
    return charge


def _refunds_of(charge_id: str, lookup: Lookup) -> list[dict[str, Any]]:
    """The charge's refunds, newest first (the sandbox keeps their ids on the stored charge)."""
    refund_ids = (lookup(charge_id) or {}).get("_refund_ids", [])
    return [public(refund) for refund in map(lookup, refund_ids) if refund]


def _render_intent(intent: dict[str, Any], api_version: str, lookup: Lookup) -> dict[str, Any]:
    if before(api_version, INVOICE_LINK_REMOVED):
        intent["invoice"] = None
    if before(api_version, CHARGES_LIST_REMOVED):
        latest = intent.pop("latest_charge", None)
        charge = lookup(latest) if isinstance(latest, str) else latest
        charges = [render(charge, api_version, lookup)] if charge else []
        intent["charges"] = _list(charges, f"/v1/charges?payment_intent={intent['id']}")
    return intent


def _list(items: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False, "total_count": len(items), "url": url}


_RENDERERS = {"charge": _render_charge, "payment_intent": _render_intent, **BILLING_RENDERERS}
