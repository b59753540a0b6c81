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

`POST /_sandbox/stripe/payouts/<po_…>/fail` `{"failure_code": "account_closed"}` fails a paid payout as a
bank does days later: the payout becomes `failed` with its `failure_balance_transaction`, a
`payout_failure` transaction (category `payout_reversal`) that puts the amount back in the balance,
unpaid, so the next payout sweeps it; the fees stay with Stripe. Emits `payout.updated` and
`payout.failed`. `POST /_sandbox/stripe/fees` `{"type": "stripe_fx_fee", "amount": 123, "currency":
"usd"}` books a fee-type balance transaction (`stripe_fx_fee`, `stripe_fee` or `tax_fee`; negative,
category `fee` or `tax`) for the next payout; `sources` may then name its `txn_` id.
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
            and (wanted is None or txn.get("source") in wanted or txn["id"] in wanted)]


FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "no_account": "The bank account details on file are probably incorrect.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
}


def fail_payout(account: StripeAccount, payout_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Fail a paid payout: the amount comes back to the balance as a `payout_failure` transaction."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    code = body.get("failure_code") or "account_closed"
    if code not in FAILURE_MESSAGES:
        raise errors.invalid_request(f"failure_code must be one of {', '.join(FAILURE_MESSAGES)}",
                                     param="failure_code")
    now = int(time.time())
    with account.state.lock:
        payout = account.state.get(payout_id, "payout")
        if payout is None:
            raise errors.resource_missing("payout", payout_id)
        if payout["status"] != "paid":
            raise errors.invalid_request(f"Payout {payout_id} is {payout['status']}: only a paid payout fails.")
        txn = billing_objects.payout_transaction(payout_id, payout["amount"], payout["currency"], now)
        txn.update(amount=payout["amount"], net=payout["amount"], type="payout_failure",
                   reporting_category="payout_reversal", description="STRIPE PAYOUT FAILURE")
        txn.pop("_payout")  # unpaid: the next payout sweeps it
        account.state.insert(txn)
        payout.update(status="failed", failure_code=code, failure_message=FAILURE_MESSAGES[code],
                      failure_balance_transaction=txn["id"])
        account.state.save(payout)
        events = [account.emit(kind, payout, now, api_version=version) for kind in ("payout.updated", "payout.failed")]
    return {"payout": render(payout, version, account.state.get), "balance_transactions": [public(txn)],
            "events": [public(event) for event in events]}


FEE_TYPES = {"stripe_fx_fee": ("fee", "Currency conversion fee"), "stripe_fee": ("fee", "Stripe fee"),
             "tax_fee": ("tax", "Tax on Stripe fees")}


def create_fee(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Book a fee-type balance transaction (money Stripe takes outside a charge's own fee)."""
    kind = body.get("type") or "stripe_fx_fee"
    amount = body.get("amount")
    if kind not in FEE_TYPES:
        raise errors.invalid_request(f"type must be one of {', '.join(FEE_TYPES)}", param="type")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise errors.invalid_request("amount must be a positive integer in minor units", param="amount")
    currency = str(body.get("currency") or "usd").lower()
    now = int(time.time())
    category, description = FEE_TYPES[kind]
    txn = billing_objects.payout_transaction("", amount, currency, now)
    txn.update(type=kind, reporting_category=category, description=description, source=None)
    txn.pop("_payout")  # unpaid: the next payout sweeps it
    with account.state.lock:
        account.state.insert(txn)
    return {"balance_transaction": public(txn)}
