"""Admin scenarios for subscriptions: start, change with proration, renew, fail and cancel one.

Each call produces the objects and the events Stripe produces for the same action, rendered for the
body's `api_version` (default: the current one), in Stripe's order:

- `POST /_sandbox/stripe/subscriptions` `{customer: {...}|"cus_…", currency, interval, metadata,
  items: [{product_name, product_metadata, unit_amount, quantity}], fail}` →
  `customer.subscription.created`, `invoice.created`, `invoice.finalized`, `charge.succeeded`,
  `payment_intent.succeeded`, `invoice.paid`, `invoice.payment_succeeded` (with `fail`:
  `invoice.payment_failed`, subscription `incomplete`).
- `POST /_sandbox/stripe/subscriptions/<id>/update` `{quantity, unit_amount, item, remaining}` →
  `customer.subscription.updated` (with `previous_attributes`) and a `subscription_update` invoice
  of two proration lines: the unused time of the old terms as a negative line and the remaining
  time of the new terms; `remaining` (default 0.5) is the share of the period left, so amounts are
  predictable. A net credit is not charged (the invoice is paid at zero, as Stripe does with the
  customer's credit balance).
- `POST /_sandbox/stripe/subscriptions/<id>/renew` `{fail}` → the next period's
  `subscription_cycle` invoice, paid; with `fail`, `invoice.payment_failed` then
  `customer.subscription.updated` to `past_due`.
- `POST /_sandbox/stripe/subscriptions/<id>/cancel` → `customer.subscription.deleted`.

Answers `{"subscription", "invoice", "customer", "events"}`.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import billing_objects, errors, objects
from sandbox.stripe_api.invoices import InvoiceBook
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

PERIOD_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


class SubscriptionDesk:
    """Subscription scenarios on one emulated account."""

    def __init__(self, book: InvoiceBook):
        self.book = book
        self.account = book.account
        self.state = book.state

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new subscription and its first invoice, paid (or failed)."""
        version, now = _version(body), int(time.time())
        currency = str(body.get("currency") or "usd").lower()
        interval = body.get("interval") or "month"
        if interval not in PERIOD_SECONDS:
            raise errors.invalid_request(f"Invalid interval: {interval}", param="interval")
        with self.state.lock:
            customer = self._customer(body.get("customer"), now)
            subscription = billing_objects.subscription(customer["id"], currency, body.get("metadata") or {}, now)
            period = {"start": now, "end": now + PERIOD_SECONDS[interval]}
            for spec in _item_specs(body.get("items")):
                price = self._price(spec, currency, interval, now)
                item = billing_objects.subscription_item(subscription["id"], price, spec["quantity"], period, now)
                subscription["items"]["data"].append(item)
            subscription["items"]["url"] = f"/v1/subscription_items?subscription={subscription['id']}"
            subscription["items"]["total_count"] = len(subscription["items"]["data"])
            self.state.insert(subscription)
            invoice = self._period_invoice(subscription, "subscription_create", now)
            invoice_created = self._created_event(invoice["id"], version)
            paid = self.book.pay(invoice["id"], {"fail": body.get("fail")}, version)
            subscription = self._settle(subscription, invoice["id"])
            created = self.account.emit("customer.subscription.created", subscription, now, api_version=version)
            events = [created, invoice_created] + paid["events"]
        return self._answer(subscription, invoice["id"], events, version)

    def update(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change an item's quantity or unit amount mid-period, with proration invoiced at once."""
        version, now = _version(body), int(time.time())
        remaining = float(body.get("remaining", 0.5))
        if not 0 < remaining <= 1:
            raise errors.invalid_request("remaining must be in (0, 1]", param="remaining")
        with self.state.lock:
            subscription = self._active(subscription_id)
            index = int(body.get("item", 0))
            old_item = subscription["items"]["data"][index]
            new_item = self._changed_item(old_item, subscription, body, now)
            subscription["items"]["data"][index] = new_item
            self.state.save(subscription)
            updated = self.account.emit("customer.subscription.updated", subscription, now, api_version=version,
                                        previous={"items": {"data": [old_item]}})
            invoice = self._proration_invoice(subscription, old_item, new_item, remaining, now)
            invoice_created = self._created_event(invoice["id"], version)
            paid = self.book.pay(invoice["id"], {}, version)
            subscription = self._settle(subscription, invoice["id"])
            events = [updated, invoice_created] + paid["events"]
        return self._answer(subscription, invoice["id"], events, version)

    def renew(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Bill the next period; a failed payment makes the subscription past_due."""
        version, now = _version(body), int(time.time())
        with self.state.lock:
            subscription = self._active(subscription_id)
            for item in subscription["items"]["data"]:
                length = item["current_period_end"] - item["current_period_start"]
                item["current_period_start"], item["current_period_end"] = (
                    item["current_period_end"], item["current_period_end"] + length)
            self.state.save(subscription)
            invoice = self._period_invoice(subscription, "subscription_cycle", now)
            events = [self._created_event(invoice["id"], version)]
            events += self.book.pay(invoice["id"], {"fail": body.get("fail")}, version)["events"]
            previous_status = subscription["status"]
            subscription = self._settle(subscription, invoice["id"])
            if subscription["status"] != previous_status:
                events.append(self.account.emit("customer.subscription.updated", subscription, now,
                                                api_version=version, previous={"status": previous_status}))
        return self._answer(subscription, invoice["id"], events, version)

    def cancel(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """End the subscription now: `customer.subscription.deleted`."""
        version, now = _version(body), int(time.time())
        with self.state.lock:
            subscription = self._subscription(subscription_id)
            subscription.update({"status": "canceled", "canceled_at": now, "ended_at": now})
            subscription["cancellation_details"]["reason"] = "cancellation_requested"
            self.state.save(subscription)
            deleted = self.account.emit("customer.subscription.deleted", subscription, now, api_version=version)
        return self._answer(subscription, None, [deleted], version)

    # parts -------------------------------------------------------------------------------------

    def _period_invoice(self, subscription: dict[str, Any], reason: str, now: int) -> dict[str, Any]:
        invoice = self.book.create_invoice({"customer": subscription["customer"], "currency": subscription["currency"],
                                            "subscription": subscription["id"]}, now)
        invoice["billing_reason"] = reason
        for item in subscription["items"]["data"]:
            period = {"start": item["current_period_start"], "end": item["current_period_end"]}
            description = f"{item['quantity']} × {self._product_name(item)}"
            line = billing_objects.line_from_subscription_item(item, subscription, invoice["id"],
                                                               item["price"]["unit_amount"], period, False,
                                                               description)
            invoice = self.book.add_line(invoice, line)
        return invoice

    def _proration_invoice(self, subscription: dict[str, Any], old_item: dict[str, Any], new_item: dict[str, Any],
                           remaining: float, now: int) -> dict[str, Any]:
        invoice = self.book.create_invoice({"customer": subscription["customer"], "currency": subscription["currency"],
                                            "subscription": subscription["id"]}, now)
        invoice["billing_reason"] = "subscription_update"
        period = {"start": now, "end": old_item["current_period_end"]}
        name = self._product_name(old_item)
        for item, sign, words in ((old_item, -1, "Unused time on"), (new_item, 1, "Remaining time on")):
            unit = item["price"]["unit_amount"]
            line = billing_objects.line_from_subscription_item(item, subscription, invoice["id"], unit, period,
                                                               True, f"{words} {item['quantity']} × {name}")
            line["amount"] = line["subtotal"] = sign * round(unit * item["quantity"] * remaining)
            invoice = self.book.add_line(invoice, line)
        return invoice

    def _changed_item(self, old_item: dict[str, Any], subscription: dict[str, Any], body: dict[str, Any],
                      now: int) -> dict[str, Any]:
        price = old_item["price"]
        if body.get("unit_amount") is not None:
            product = self.state.get(price["product"], "product")
            price = self._recurring_price(product, int(body["unit_amount"]), subscription["currency"],
                                          price["recurring"]["interval"], now)
        quantity = int(body.get("quantity", old_item["quantity"]))
        if quantity < 1:
            raise errors.invalid_request("quantity must be at least 1", param="quantity")
        return {**old_item, "price": price, "quantity": quantity}

    def _settle(self, subscription: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        """The subscription's status after its invoice was paid or not."""
        invoice = self.state.get(invoice_id, "invoice")
        first = subscription["status"] == "incomplete"
        status = "active" if invoice["status"] == "paid" else ("incomplete" if first else "past_due")
        subscription.update({"status": status, "latest_invoice": invoice_id})
        return self.state.save(subscription)

    def _created_event(self, invoice_id: str, version: str) -> dict[str, Any]:
        """The invoice's `invoice.created` event, re-rendered with its lines for `version`.

        Stripe sends a subscription invoice's `invoice.created` once its lines exist; the draft here
        is built line by line, so its event snapshot is taken again before it is paid.
        """
        event = next(e for e in self.state.having("event", "type", "invoice.created")
                     if e["type"] == "invoice.created" and e["data"]["object"].get("id") == invoice_id)
        event["api_version"] = version
        event["data"]["object"] = render(self.state.get(invoice_id), version, self.state.get)
        return self.state.save(event)

    def _answer(self, subscription: dict[str, Any], invoice_id: str | None, events: list[dict[str, Any]],
                version: str) -> dict[str, Any]:
        def shown(object_id: str | None) -> dict[str, Any] | None:
            stored = self.state.get(object_id) if object_id else None
            return render(stored, version, self.state.get) if stored else None
        return {"subscription": shown(subscription["id"]), "invoice": shown(invoice_id),
                "customer": shown(subscription["customer"]), "events": [public(e) for e in events]}

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        subscription = self.state.get(subscription_id, "subscription")
        if subscription is None:
            raise errors.resource_missing("subscription", subscription_id)
        return subscription

    def _active(self, subscription_id: str) -> dict[str, Any]:
        subscription = self._subscription(subscription_id)
        if subscription["status"] in ("canceled", "incomplete_expired"):
            raise errors.invalid_request("This subscription is canceled.", param="subscription")
        return subscription

    def _customer(self, spec: Any, now: int) -> dict[str, Any]:
        if isinstance(spec, str):
            existing = self.state.get(spec, "customer")
            if existing is None:
                raise errors.resource_missing("customer", spec, param="customer")
            return existing
        if not isinstance(spec, dict):
            raise errors.invalid_request("customer must be an object or a cus_ id", param="customer")
        return self.state.insert(objects.customer(spec, now))

    def _price(self, spec: dict[str, Any], currency: str, interval: str, now: int) -> dict[str, Any]:
        metadata = {k: str(v) for k, v in (spec.get("product_metadata") or {}).items()}
        name = spec.get("product_name") or "Sandbox plan"
        product = next((p for p in self.state.having("product", "name", name)
                        if p["name"] == name and p["metadata"] == metadata), None)
        product = product or self.state.insert(objects.product(name, metadata, now))
        return self._recurring_price(product, spec["unit_amount"], currency, interval, now)

    def _recurring_price(self, product: dict[str, Any], unit_amount: int, currency: str, interval: str,
                         now: int) -> dict[str, Any]:
        for price in self.state.having("price", "product", product["id"]):
            if (price["product"], price["unit_amount"], price["currency"], (price.get("recurring") or {})
                    .get("interval")) == (product["id"], unit_amount, currency, interval):
                return price
        price = self.state.insert(billing_objects.recurring_price(product["id"], unit_amount, currency, interval, now))
        if product["default_price"] is None:
            self.state.save({**product, "default_price": price["id"]})
        return price

    def _product_name(self, item: dict[str, Any]) -> str:
        product = self.state.get(item["price"]["product"], "product")
        return product["name"] if product else "Plan"


def _version(body: dict[str, Any]) -> str:
    return body.get("api_version") or DEFAULT_API_VERSION


def _item_specs(items: Any) -> list[dict[str, Any]]:
    specs = items or [{"product_name": "Sandbox plan", "unit_amount": 2000, "quantity": 1}]
    for spec in specs:
        unit, quantity = spec.get("unit_amount"), spec.setdefault("quantity", 1)
        if not isinstance(unit, int) or unit < 0 or not isinstance(quantity, int) or quantity < 1:
            raise errors.invalid_request("each item needs integer unit_amount >= 0 and quantity >= 1",
                                         param="items")
    return specs
