"""Builders of the billing objects: invoices, their lines, invoice items, invoice payments,
subscriptions and payouts, stored in the shape of the current API (2026-10-28.endive).

The current shape is the basil one: an invoice has `parent.subscription_details.subscription` and
no top-level `charge` / `payment_intent` / `paid` / `subscription`; a line has `parent` and
`pricing.price_details.price`. `billing_versions.py` renders the 2020-era shape from it. Amounts are
integers in minor units, as everywhere in Stripe; proration credits are lines with a negative amount.
Keys that start with `_` are the sandbox's own bookkeeping and are never rendered.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe_api.ids import new_id
from sandbox.stripe_api.objects import address, price


def invoice(customer: dict[str, Any], fields: dict[str, Any], now: int) -> dict[str, Any]:
    """A draft invoice for `customer`; `fields` holds currency, collection_method, days_until_due,
    metadata, description, billing_reason and subscription (id or None)."""
    invoice_id = new_id("in")
    subscription = fields.get("subscription")
    days = fields.get("days_until_due")
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Sandbox Ltd",
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "billing_reason": fields.get("billing_reason") or "manual",
        "collection_method": fields.get("collection_method") or "charge_automatically",
        "created": now,
        "currency": fields["currency"],
        "customer": customer["id"],
        "customer_address": address(customer.get("address")) if customer.get("address") else None,
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_tax_exempt": customer.get("tax_exempt") or "none",
        "description": fields.get("description"),
        "discounts": [],
        "due_date": now + int(days) * 86400 if days not in (None, "") else None,
        "effective_at": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": {"object": "list", "data": [], "has_more": False,
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False,
        "metadata": dict(fields.get("metadata") or {}),
        "next_payment_attempt": None,
        "number": None,
        "parent": _invoice_parent(subscription),
        "period_end": now,
        "period_start": now,
        "receipt_number": None,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_charge": None,
        "_payment_intent": None,
        "_payment_ids": [],
    }


def _invoice_parent(subscription: str | None) -> dict[str, Any] | None:
    if not subscription:
        return None
    return {"type": "subscription_details", "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription}}


def invoice_item(customer_id: str, fields: dict[str, Any], now: int) -> dict[str, Any]:
    """An invoice item; `fields` holds currency, quantity, unit_amount, price (id), product (id),
    description, metadata, invoice, subscription, proration and period."""
    quantity = int(fields.get("quantity") or 1)
    unit_amount = int(fields["unit_amount"])
    return {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": unit_amount * quantity,
        "currency": fields["currency"],
        "customer": customer_id,
        "date": now,
        "description": fields.get("description"),
        "discountable": True,
        "discounts": [],
        "invoice": fields.get("invoice"),
        "livemode": False,
        "metadata": dict(fields.get("metadata") or {}),
        "net_amount": unit_amount * quantity,
        "parent": ({"type": "subscription_details",
                    "subscription_details": {"subscription": fields["subscription"]}}
                   if fields.get("subscription") else None),
        "period": fields.get("period") or {"start": now, "end": now},
        "pricing": _pricing(fields.get("price"), fields.get("product"), unit_amount),
        "proration": bool(fields.get("proration")),
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def _pricing(price_id: str | None, product_id: str | None, unit_amount: int) -> dict[str, Any]:
    return {"type": "price_details",
            "price_details": {"price": price_id, "product": product_id},
            "unit_amount_decimal": str(unit_amount)}


def line_from_item(item: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """The invoice line (`il_`) an invoice item produces on its invoice."""
    details = item["parent"]["subscription_details"] if item.get("parent") else {}
    return _line(invoice_id, item, {
        "type": "invoice_item_details",
        "invoice_item_details": {"invoice_item": item["id"], "proration": item["proration"],
                                 "proration_details": {"credited_items": None},
                                 "subscription": details.get("subscription")},
        "subscription_item_details": None,
    })


def line_from_subscription_item(sub_item: dict[str, Any], subscription: dict[str, Any], invoice_id: str,
                                unit_amount: int, period: dict[str, int], proration: bool,
                                description: str) -> dict[str, Any]:
    """The line a subscription item bills for one period (or part of it, when `proration`)."""
    quantity = sub_item["quantity"]
    price = sub_item["price"]
    billed = {"amount": unit_amount * quantity, "currency": subscription["currency"],
              "description": description, "metadata": {}, "period": period, "quantity": quantity,
              "pricing": _pricing(price["id"], price["product"], unit_amount)}
    return _line(invoice_id, billed, {
        "type": "subscription_item_details",
        "invoice_item_details": None,
        "subscription_item_details": {"invoice_item": None, "proration": proration,
                                      "proration_details": {"credited_items": None},
                                      "subscription": subscription["id"],
                                      "subscription_item": sub_item["id"]},
    })


def _line(invoice_id: str, billed: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": billed["amount"],
        "currency": billed["currency"],
        "description": billed.get("description"),
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(billed.get("metadata") or {}),
        "parent": parent,
        "period": billed["period"],
        "pretax_credit_amounts": [],
        "pricing": billed["pricing"],
        "quantity": billed["quantity"],
        "quantity_decimal": str(billed["quantity"]),
        "subtotal": billed["amount"],
        "taxes": [],
    }


def invoice_payment(invoice_id: str, amount: int, currency: str, intent_id: str | None,
                    charge_id: str | None, now: int) -> dict[str, Any]:
    """The paid InvoicePayment linking an invoice to its PaymentIntent (or out-of-band payment)."""
    payment: dict[str, Any] = {"type": "payment_intent", "payment_intent": intent_id}
    if intent_id is None:
        payment = {"type": "charge", "charge": charge_id} if charge_id else {"type": "out_of_band_payment"}
    return {
        "id": new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": now,
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": payment,
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": now},
        "_charge": charge_id,
    }


def recurring_price(product_id: str, unit_amount: int, currency: str, interval: str, now: int) -> dict[str, Any]:
    """A licensed, per-unit recurring price."""
    return {**price(product_id, unit_amount, currency, now),
            "recurring": {"interval": interval, "interval_count": 1, "meter": None,
                          "usage_type": "licensed", "trial_period_days": None},
            "type": "recurring"}


def subscription(customer_id: str, currency: str, metadata: dict[str, Any], now: int) -> dict[str, Any]:
    """An incomplete subscription; items and status are filled in by the caller."""
    return {
        "id": new_id("sub"),
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": now,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": None,
        "items": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""},
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "pause_collection": None,
        "start_date": now,
        "status": "incomplete",
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }


def subscription_item(subscription_id: str, price: dict[str, Any], quantity: int, period: dict[str, int],
                      now: int) -> dict[str, Any]:
    """A subscription item with its full price and its current period (basil keeps periods here)."""
    return {
        "id": new_id("si"),
        "object": "subscription_item",
        "created": now,
        "current_period_end": period["end"],
        "current_period_start": period["start"],
        "discounts": [],
        "metadata": {},
        "price": price,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def payout(amount: int, currency: str, now: int) -> dict[str, Any]:
    """A paid automatic payout to the account's bank; `balance_transaction` is set by the caller."""
    return {
        "id": new_id("po"),
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": now,
        "automatic": True,
        "balance_transaction": None,
        "created": now,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": "ba_sandboxbankaccount0000000",
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "completed",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": "paid",
        "trace_id": {"status": "supported", "value": None},
        "type": "bank_account",
    }


def payout_transaction(payout_id: str, amount: int, currency: str, now: int) -> dict[str, Any]:
    """The balance transaction of a payout: the payout amount leaving the balance."""
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": -amount,
        "available_on": now,
        "balance_type": "payments",
        "created": now,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": -amount,
        "reporting_category": "payout",
        "source": payout_id,
        "status": "available",
        "type": "payout",
        "_payout": payout_id,
    }
