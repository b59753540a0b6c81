"""Reading Stripe objects as the API returns them: pure helpers, no SDK, no network.

An expandable field (``customer``, ``payment_intent``, ``latest_charge`` …) is an id, or the object
itself when the call asked for it expanded; every flow and mapping reads it through ``stripe_id`` so
a change of expansion never changes what they see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def stripe_id(value: Any) -> str | None:
    """An expandable Stripe field as its id (None when the field is empty)."""
    return value.get("id") if isinstance(value, Mapping) else value


def fields_of(source: Mapping[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any] | None:
    """Only the named fields of a Stripe object (the rest is never stored); None for no object."""
    return {name: source.get(name) for name in names} if source else None
