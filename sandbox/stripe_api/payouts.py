"""The admin payout scenario: sweep the balance into one automatic payout, as Stripe does daily.

`POST /_sandbox/stripe/payouts` `{"currency": "usd", "api_version": "...", "adjustment": 0,
"sources": ["ch_…", …]}` takes every balance transaction of that currency not yet paid out
(charges, refunds, disputes, …; only those whose source is listed when `sources` is given, so tests
sharing one account stay apart), makes a paid payout of their total net, links each to it
(so `GET /v1/balance_transactions?payout=po_…`
lists them, plus the payout's own transaction, as Stripe does for automatic payouts) and emits
`payout.created` and `payout.paid`. `adjustment` (minor units) is added to the payout amount only,
to stage a payout that does not match its transactions. A zero or negative net is refused, as
Stripe carries a debit balance instead of paying it out. Answers `{"payout", "balance_transactions",
"events"}`. Payouts are read with `GET /v1/payouts[/<id>]`.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import billing_objects, errors
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render


def create_payout(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Pay out the unpaid balance of one currency; return the payout, its transactions and events."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    currency = str(body.get("currency") or "usd").lower()
    adjustment = body.get("adjustment", 0)
    if not isinstance(adjustment, int):
        raise errors.invalid_request("adjustment must be an integer in minor units", param="adjustment")
    now = int(time.time())
    with account.state.lock:
        swept = _unpaid_transactions(account, currency, body.get("sources"))
        net = sum(txn["net"] for txn in swept)
        if not swept or net + adjustment <= 0:
            raise errors.invalid_request(f"No positive {currency} balance to pay out.", param="currency")
        payout = billing_objects.payout(net + adjustment, currency, now)
        own = billing_objects.payout_transaction(payout["id"], payout["amount"], currency, now)
        payout["balance_transaction"] = own["id"]
        account.state.insert(own)
        account.state.insert(payout)
        for txn in swept:
            account.state.save({**txn, "_payout": payout["id"], "status": "available"})
        events = [account.emit(kind, payout, now, api_version=version) for kind in ("payout.created", "payout.paid")]
    return {"payout": render(payout, version, account.state.get),
            "balance_transactions": [public(account.state.get(txn["id"])) for txn in swept + [own]],
            "events": [public(event) for event in events]}


def _unpaid_transactions(account: StripeAccount, currency: str, sources: Any) -> list[dict[str, Any]]:
    """Balance transactions not paid out yet; only those of `sources` (ch_/re_/dp_ ids) when given."""
    wanted = set(sources) if isinstance(sources, list) else None
    return [txn for txn in account.state.having("balance_transaction", "currency", currency)
            if txn["currency"] == currency and not txn.get("_payout") and txn["type"] != "payout"
            and (wanted is None or txn.get("source") in wanted)]
