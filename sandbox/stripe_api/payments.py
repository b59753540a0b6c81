"""The admin "make a payment" scenario: one consistent set of objects and events, like a real checkout.

A payment is a customer (new, existing, or none for a guest), a succeeded PaymentIntent whose
`latest_charge` is a succeeded, captured Charge with its balance transaction, and, for Checkout, a
paid Session with line items whose products carry the metadata the connector maps to Epicor parts.
Products and prices are reused when name, metadata, amount and currency match, so repeated triggers
do not grow the catalogue. The amount defaults to the sum of the line items; an amount that
disagrees with them is refused rather than producing an impossible payment. Events are rendered for
the requested API version, which is how an endpoint pinned to an old version would receive them.
The events are exactly `charge.succeeded`, `payment_intent.succeeded` and, with a session,
`checkout.session.completed`: a new customer is part of the payment, not a separate
`customer.created` flow (customers made through `POST /v1/customers` do emit it).
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

GUEST_BILLING = {
    "name": "Guest Buyer",
    "email": "guest.buyer@example.com",
    "phone": None,
    "address": {"line1": "1 Market St", "city": "San Francisco", "state": "CA",
                "postal_code": "94105", "country": "US"},
}
DEFAULT_LINE = {"product_name": "Sandbox item", "product_metadata": {}, "quantity": 1}


def create_payment(account: StripeAccount, body: dict[str, Any]) -> dict[str, Any]:
    """Create the objects and events of one payment; return them rendered for `api_version`."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    currency = str(body.get("currency") or "usd").lower()
    lines = body.get("line_items") or []
    amount = _amount(body.get("amount"), lines)
    now = int(time.time())
    with account.state.lock:
        customer = _customer(account, body.get("customer"), now)
        events: list[dict[str, Any]] = []
        billing = body.get("billing_details") or _billing_from(customer)
        payment = {"amount": amount, "currency": currency, "customer": customer and customer["id"],
                   "metadata": body.get("metadata") or {}, "description": body.get("description"),
                   "billing_details": billing, "receipt_email": billing.get("email")}
        intent = account.state.insert(objects.payment_intent(payment, now))
        charge, paid_events = account.succeed_intent(intent, billing, now, api_version=version)
        events += paid_events
        session = None
        if body.get("checkout") or lines:
            session = _checkout(account, {**payment, "payment_intent": intent["id"]},
                                lines or [{**DEFAULT_LINE, "unit_amount": amount}], now)
            events.append(account.emit("checkout.session.completed", session, now, api_version=version))
    return _summary(account, version, {"customer": customer, "payment_intent": intent,
                                       "charge": charge, "checkout_session": session}, events)


def _amount(amount: Any, lines: list[dict[str, Any]]) -> int:
    total = sum(_line_total(line) for line in lines)
    if amount is None:
        if not lines:
            raise errors.invalid_request("amount or line_items is required", param="amount")
        return total
    if not isinstance(amount, int) or amount <= 0:
        raise errors.invalid_request("amount must be a positive integer in minor units", param="amount")
    if lines and amount != total:
        raise errors.invalid_request(
            f"amount {amount} does not match the line items' total {total}", param="amount")
    return amount


def _line_total(line: dict[str, Any]) -> int:
    unit, quantity = line.get("unit_amount"), line.get("quantity", 1)
    if not isinstance(unit, int) or not isinstance(quantity, int) or unit < 0 or quantity < 1:
        raise errors.invalid_request("each line item needs integer unit_amount and quantity >= 1",
                                     param="line_items")
    return unit * quantity


def _customer(account: StripeAccount, spec: Any, now: int) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        existing = account.state.get(spec, "customer")
        if existing is None:
            raise errors.resource_missing("customer", spec, param="customer")
        return existing
    if not isinstance(spec, dict):
        raise errors.invalid_request("customer must be an object, a cus_ id or null", param="customer")
    return account.state.insert(objects.customer(spec, now))


def _billing_from(customer: dict[str, Any] | None) -> dict[str, Any]:
    if customer is None:
        return GUEST_BILLING
    return {key: customer.get(key) for key in ("name", "email", "phone", "address")}


def _checkout(account: StripeAccount, payment: dict[str, Any], lines: list[dict[str, Any]],
              now: int) -> dict[str, Any]:
    item_ids = [_line_item(account, line, payment["currency"], now)["id"] for line in lines]
    return account.state.insert(objects.checkout_session(payment, item_ids, now))


def _line_item(account: StripeAccount, line: dict[str, Any], currency: str, now: int) -> dict[str, Any]:
    name = line.get("product_name") or "Sandbox item"
    product = _product(account, name, line.get("product_metadata") or {}, now)
    price = _price(account, product, line["unit_amount"], currency, now)
    item = objects.line_item(price, product["name"], line.get("quantity", 1), now)
    return account.state.insert(item)


def _product(account: StripeAccount, name: str, metadata: dict[str, Any], now: int) -> dict[str, Any]:
    wanted = {key: str(value) for key, value in metadata.items()}
    for product in account.state.having("product", "name", name):
        if product["name"] == name and product["metadata"] == wanted:
            return product
    return account.state.insert(objects.product(name, wanted, now))


def _price(account: StripeAccount, product: dict[str, Any], unit_amount: int, currency: str,
           now: int) -> dict[str, Any]:
    for price in account.state.having("price", "product", product["id"]):
        if (price["product"], price["unit_amount"], price["currency"]) == (product["id"], unit_amount, currency):
            return price
    price = account.state.insert(objects.price(product["id"], unit_amount, currency, now))
    if product["default_price"] is None:
        account.state.save({**product, "default_price": price["id"]})
    return price


def _summary(account: StripeAccount, version: str, created: dict[str, dict[str, Any] | None],
             events: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        name: render(account.state.get(obj["id"]), version, account.state.get) if obj else None
        for name, obj in created.items()
    }
    session = created["checkout_session"]
    summary["line_items"] = account.line_items(session["id"], version) if session else []
    summary["events"] = [public(event) for event in events]
    return summary
