"""What the console's pages share: template filters (times, amounts, Stripe links) and the history.

Times reach the templates as ISO 8601 (the history) or epoch seconds (Redis records); ``when`` shows
both the same way, in UTC, so an accountant compares like with like. Links go to the Stripe dashboard
of the mode the API key is in (``/test`` for test keys), so a test object never opens a live page.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from app.console import bp
from tasks.settings import env_value

STRIPE_DASHBOARD = "https://dashboard.stripe.com"
_STRIPE_PAGES = {"ch": "payments", "pi": "payments", "py": "payments", "cus": "customers", "in": "invoices",
                 "re": "refunds", "dp": "disputes", "po": "payouts", "evt": "events", "sub": "subscriptions",
                 "cs": "checkout/sessions", "prod": "products"}
_STRIPE_ID = re.compile(r"^([a-z]+)_[A-Za-z0-9]+$")
TERMINAL_STATES = frozenset({"done", "dead", "ignored"})


@bp.app_template_filter("when")
def when(value: Any) -> str:
    """ISO text or epoch seconds as ``2026-12-05 14:03:07 UTC``; empty for none."""
    if value in (None, ""):
        return ""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else str(value)


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@bp.app_template_filter("pretty_json")
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@bp.app_template_filter("keys_text")
def keys_text(value: Any) -> str:
    """Epicor keys as ``OrderNum 5012, InvoiceNum 310`` (a dict), or the value as text."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {number}" for name, number in value.items() if not isinstance(number, dict | list))
    return "" if value is None else str(value)


@bp.app_template_global("stripe_url")
def stripe_url(object_id: Any) -> str | None:
    """The Stripe dashboard page of an object id, or None for ids the dashboard has no page for."""
    match = _STRIPE_ID.match(str(object_id or ""))
    if not match or match.group(1) not in _STRIPE_PAGES:
        return None
    mode = "" if (env_value("STRIPE_API_KEY") or "").startswith(("sk_live", "rk_live")) else "/test"
    return f"{STRIPE_DASHBOARD}{mode}/{_STRIPE_PAGES[match.group(1)]}/{object_id}"


@bp.app_template_global("stripe_ids_of")
def stripe_ids_of(event: dict[str, Any]) -> list[str]:
    """The Stripe object ids an event names, for links (object id, payment, refs)."""
    found: list[str] = []
    for name in ("object_id", "payment", "charge", "payment_intent", "customer", "invoice", "refund", "dispute",
                 "payout"):
        value = event.get(name)
        if isinstance(value, str) and value not in found and _STRIPE_ID.match(value):
            found.append(value)
    for value in event.get("refs") or event.get("stripe_ids") or []:
        if isinstance(value, str) and value not in found and _STRIPE_ID.match(value):
            found.append(value)
    return found
