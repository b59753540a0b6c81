"""Invoices in the Stripe sandbox: the API a connector uses to bill an order, and the admin switch
that pays an invoice the way a customer would.

Emulated API (stripe-python: `client.v1.invoices.*`, `client.v1.invoice_items.*`,
`client.v1.invoice_payments.*`):

- `POST /v1/invoices` — `customer` (required), `currency` (default usd), `collection_method`
  (`charge_automatically` | `send_invoice`), `days_until_due` (required with send_invoice),
  `description`, `metadata`, `auto_advance`. A draft; emits `invoice.created`.
- `POST /v1/invoiceitems` — `customer` (required), `invoice` (a draft of that customer; without it
  the item stays pending and is not billed), `quantity` (default 1), `unit_amount` or
  `unit_amount_decimal` or `price_data[currency|product|unit_amount]` or `price`, or `amount`,
  `currency`, `description`, `metadata`. Adds a line (`il_`) to the invoice and updates its totals.
- `POST /v1/invoices/<id>/finalize` — draft → open with a number (`<prefix>-0001`); emits
  `invoice.finalized` (a zero-total invoice is paid at once: `invoice.paid`).
- `POST /v1/invoices/<id>/send` — send_invoice invoices only; emits `invoice.sent`.
- `POST /v1/invoices/<id>/pay` — `paid_out_of_band=true` marks it paid with no money moving;
  otherwise charges the customer as below.
- `POST /v1/invoices/<id>` — `metadata`, `description`; emits `invoice.updated`.
- `GET /v1/invoices[/<id>]` (filters customer, status, subscription, created; `expand[]=payments`
  adds the InvoicePayment list, which Stripe never includes unasked), `GET /v1/invoices/<id>/lines`,
  `GET /v1/invoiceitems[/<id>]`, `GET /v1/invoice_payments[/<id>]` (filters `invoice`,
  `payment[type]`, `payment[payment_intent]`, `payment[charge]`).

Admin (plain JSON, no key):

- `POST /_sandbox/stripe/invoices/<id>/pay` — body `{"api_version": "2025-03-31.basil",
  "paid_out_of_band": false, "fail": false}`. Finalizes a draft, then pays it with a PaymentIntent and
  a succeeded charge (balance transaction included) and an InvoicePayment, and emits, rendered for
  `api_version`: `charge.succeeded`, `payment_intent.succeeded`, `invoice.paid`,
  `invoice.payment_succeeded` (and `customer.subscription.updated` when it brings a past-due
  subscription back to active). `paid_out_of_band` emits only `invoice.paid` (no charge); `fail`
  emits `invoice.payment_failed` and leaves it open. The customer's `delinquent` flag follows:
  set by a failed attempt, cleared by a payment. Answers
  `{"invoice", "payment_intent", "charge", "events"}`.

The PaymentIntent of an invoice payment carries the description Stripe gives it ("Payment for
Invoice", "Subscription creation", "Subscription update"); on API versions before basil the charge
and the PaymentIntent also carry `invoice`.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import billing_objects, errors, objects, queries
from sandbox.stripe_api.ids import new_idempotency_key, new_request_id
from sandbox.stripe_api.service import StripeAccount, _merged_metadata, _reject_unknown
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, public, render

INVOICE_FIELDS = ("customer", "currency", "collection_method", "days_until_due", "description",
                  "metadata", "auto_advance", "pending_invoice_items_behavior", "subscription")
ITEM_FIELDS = ("customer", "invoice", "quantity", "unit_amount", "unit_amount_decimal", "price",
               "price_data", "amount", "currency", "description", "metadata", "period", "subscription")
INTENT_DESCRIPTIONS = {"subscription_create": "Subscription creation",
                       "subscription_update": "Subscription update",
                       "subscription_cycle": "Subscription update"}


class InvoiceBook:
    """Invoice operations on one emulated account."""

    def __init__(self, account: StripeAccount):
        self.account = account
        self.state = account.state

    # reading -----------------------------------------------------------------------------------

    def retrieve(self, invoice_id: str) -> dict[str, Any]:
        """The stored invoice, or Stripe's 404."""
        stored = self.state.get(invoice_id, "invoice")
        if stored is None:
            raise errors.resource_missing("invoice", invoice_id)
        return stored

    def rendered(self, stored: dict[str, Any], version: str, expand: list[str]) -> dict[str, Any]:
        """An invoice (or list of invoices) for `version`, with `payments` when asked for."""
        wants_payments = [path for path in expand if path in ("payments", "data.payments")]
        rest = [path for path in expand if path not in wants_payments]
        shown = self.account.rendered(stored, version, rest)
        invoices = shown["data"] if shown.get("object") == "list" else [shown]
        for invoice in invoices if wants_payments else []:
            invoice["payments"] = self._payments_list(invoice["id"], version)
        return shown

    def _payments_list(self, invoice_id: str, version: str) -> dict[str, Any]:
        payments = [render(p, version, self.state.get)
                    for p in self.state.having("invoice_payment", "invoice", invoice_id) if p["invoice"] == invoice_id]
        return {"object": "list", "data": payments, "has_more": False,
                "url": f"/v1/invoice_payments?invoice={invoice_id}"}

    def list_invoices(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        """`GET /v1/invoices`, filtered by customer, status, subscription and created."""
        matching = queries.matching(self.state, "invoice", params, ("customer", "status", "created"))
        if params.get("subscription"):
            matching = [inv for inv in matching if _subscription_of(inv) == params["subscription"]]
        listing = queries.page(matching, params, "/v1/invoices")
        return self.rendered(listing_of(listing, self.state, version), version, queries.expand_paths(params))

    def list_lines(self, invoice_id: str, params: dict[str, Any], version: str) -> dict[str, Any]:
        """`GET /v1/invoices/<id>/lines`: a page of the invoice's lines."""
        lines = render(self.retrieve(invoice_id), version, self.state.get)["lines"]["data"]
        return queries.page(lines, params, f"/v1/invoices/{invoice_id}/lines")

    def list_payments(self, params: dict[str, Any], version: str) -> dict[str, Any]:
        """`GET /v1/invoice_payments`, filtered by invoice and by `payment[...]`."""
        matching = queries.matching(self.state, "invoice_payment", params, ("invoice", "created"))
        wanted = params.get("payment") or {}
        if not isinstance(wanted, dict):
            raise errors.invalid_request("Invalid hash", param="payment")
        matching = [p for p in matching if all(p["payment"].get(k) == v for k, v in wanted.items())]
        return listing_of(queries.page(matching, params, "/v1/invoice_payments"), self.state, version)

    # writing -----------------------------------------------------------------------------------

    def create_invoice(self, params: dict[str, Any], now: int | None = None) -> dict[str, Any]:
        """`POST /v1/invoices`: a draft invoice; emits `invoice.created`."""
        _reject_unknown(params, INVOICE_FIELDS)
        now = now or int(time.time())
        customer = self._customer(params.get("customer"))
        method = params.get("collection_method") or "charge_automatically"
        if method not in ("charge_automatically", "send_invoice"):
            raise errors.invalid_request(f"Invalid collection_method: {method}", param="collection_method")
        if method == "send_invoice" and params.get("days_until_due") in (None, ""):
            raise errors.invalid_request("Missing required param: days_until_due.", param="days_until_due")
        fields = {**params, "currency": str(params.get("currency") or "usd").lower(), "collection_method": method}
        with self.state.lock:
            invoice = self.state.insert(billing_objects.invoice(customer, fields, now))
            self.account.emit("invoice.created", invoice, now)
        return invoice

    def add_item(self, params: dict[str, Any], now: int | None = None) -> dict[str, Any]:
        """`POST /v1/invoiceitems`: an item, and a line on its (draft) invoice."""
        _reject_unknown(params, ITEM_FIELDS)
        now = now or int(time.time())
        customer = self._customer(params.get("customer"))
        with self.state.lock:
            invoice = self._draft_of(params.get("invoice"), customer["id"]) if params.get("invoice") else None
            fields = self._item_fields(params, invoice)
            item = self.state.insert(billing_objects.invoice_item(customer["id"], fields, now))
            if invoice is not None:
                self.add_line(invoice, billing_objects.line_from_item(item, invoice["id"]))
        return item

    def add_line(self, invoice: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
        """Append a line to an invoice and bring its totals up to date."""
        invoice["lines"]["data"].append(line)
        total = sum(existing["amount"] for existing in invoice["lines"]["data"])
        invoice.update({"subtotal": total, "subtotal_excluding_tax": total, "total": total,
                        "total_excluding_tax": total, "amount_due": max(total, 0),
                        "amount_remaining": max(total, 0) - invoice["amount_paid"]})
        return self.state.save(invoice)

    def update(self, invoice_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/invoices/<id>`: metadata and description; emits `invoice.updated`."""
        _reject_unknown(params, ("metadata", "description"))
        with self.state.lock:
            invoice = self.retrieve(invoice_id)
            previous: dict[str, Any] = {}
            for name, value in params.items():
                new = _merged_metadata(invoice["metadata"], value) if name == "metadata" else (value or None)
                if invoice.get(name) != new:
                    previous[name], invoice[name] = invoice.get(name), new
            self.state.save(invoice)
            if previous:
                self.account.emit("invoice.updated", invoice, int(time.time()), previous=previous)
        return invoice

    def finalize(self, invoice_id: str, api_version: str | None = None) -> dict[str, Any]:
        """`POST /v1/invoices/<id>/finalize`: open, numbered; a zero total is paid at once."""
        with self.state.lock:
            invoice = self.retrieve(invoice_id)
            self._finalize(invoice, int(time.time()), api_version)
        return invoice

    def _finalize(self, invoice: dict[str, Any], now: int, api_version: str | None) -> list[dict[str, Any]]:
        if invoice["status"] != "draft":
            raise errors.invalid_request(f"Invoice {invoice['id']} is already finalized.",
                                         code="invoice_not_editable")
        self._number(invoice, now)
        events = [self.account.emit("invoice.finalized", invoice, now, api_version=api_version)]
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice, now)
            events.append(self.account.emit("invoice.paid", invoice, now, api_version=api_version))
        return events

    def send(self, invoice_id: str) -> dict[str, Any]:
        """`POST /v1/invoices/<id>/send`: emits `invoice.sent`."""
        with self.state.lock:
            invoice = self.retrieve(invoice_id)
            if invoice["collection_method"] != "send_invoice":
                raise errors.invalid_request("You can only manually send an invoice if its collection "
                                             "method is 'send_invoice'.", code="invoice_not_editable")
            if invoice["status"] != "open":
                raise errors.invalid_request("You can only send an open invoice.", code="invoice_not_open")
            self.account.emit("invoice.sent", invoice, int(time.time()))
        return invoice

    def pay(self, invoice_id: str, body: dict[str, Any], api_version: str | None = None) -> dict[str, Any]:
        """Pay (or fail to pay) an invoice; returns the invoice, PaymentIntent, charge and events."""
        now = int(time.time())
        with self.state.lock:
            invoice = self.retrieve(invoice_id)
            finalized = self._finalize(invoice, now, api_version) if invoice["status"] == "draft" else []
            if finalized and invoice["status"] == "paid":
                return {"invoice": invoice, "payment_intent": None, "charge": None, "events": finalized}
            if invoice["status"] != "open":
                raise errors.invalid_request(f"Invoice is {invoice['status']}, not open.", code="invoice_not_open")
            paid = self._collect(invoice, body, now, api_version)
        return {**paid, "events": finalized + paid["events"]}

    def _collect(self, invoice: dict[str, Any], body: dict[str, Any], now: int,
                 api_version: str | None) -> dict[str, Any]:
        if _true(body.get("fail")):
            return {"invoice": invoice, "payment_intent": None, "charge": None,
                    "events": [self.fail(invoice, now, api_version)]}
        if _true(body.get("paid_out_of_band")):
            self._mark_paid(invoice, now)
            return {"invoice": invoice, "payment_intent": None, "charge": None,
                    "events": [self.account.emit("invoice.paid", invoice, now, api_version=api_version)]}
        return self._charge_invoice(invoice, now, api_version)

    def fail(self, invoice: dict[str, Any], now: int, api_version: str | None) -> dict[str, Any]:
        """A failed collection attempt: `invoice.payment_failed`, next attempt in three days."""
        invoice.update({"attempted": True, "attempt_count": invoice["attempt_count"] + 1,
                        "next_payment_attempt": now + 3 * 86400})
        self.state.save(invoice)
        self._set_delinquent(invoice["customer"], True)
        return self.account.emit("invoice.payment_failed", invoice, now, api_version=api_version)

    def _charge_invoice(self, invoice: dict[str, Any], now: int, api_version: str | None) -> dict[str, Any]:
        intent, charge, events = self._payment(invoice, now, api_version)
        payment = billing_objects.invoice_payment(invoice["id"], invoice["amount_due"], invoice["currency"],
                                                  intent["id"], charge["id"], now)
        self.state.insert(payment)
        invoice.update({"_charge": charge["id"], "_payment_intent": intent["id"],
                        "_payment_ids": invoice["_payment_ids"] + [payment["id"]],
                        "attempted": True, "attempt_count": invoice["attempt_count"] + 1})
        self._mark_paid(invoice, now)
        events.append(self.account.emit("invoice.paid", invoice, now, api_version=api_version))
        events.append(self.account.emit("invoice.payment_succeeded", invoice, now, api_version=api_version))
        events += self._reactivate(invoice, now, api_version)
        return {"invoice": invoice, "payment_intent": intent, "charge": charge, "events": events}

    def _reactivate(self, invoice: dict[str, Any], now: int, api_version: str | None) -> list[dict[str, Any]]:
        """A past-due subscription whose invoice is paid becomes active again (`customer.subscription.updated`)."""
        subscription = self.state.get(_subscription_of(invoice) or "", "subscription")
        if subscription is None or subscription["status"] not in ("past_due", "unpaid"):
            return []
        previous = subscription["status"]
        subscription.update({"status": "active", "latest_invoice": invoice["id"]})
        self.state.save(subscription)
        return [self.account.emit("customer.subscription.updated", subscription, now, api_version=api_version,
                                  previous={"status": previous})]

    def _payment(self, invoice: dict[str, Any], now: int,
                 api_version: str | None) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """A PaymentIntent and its charge for the amount due, linked to the invoice."""
        customer = self.state.get(invoice["customer"], "customer") or {}
        payment = {"amount": invoice["amount_due"], "currency": invoice["currency"], "customer": customer.get("id"),
                   "description": INTENT_DESCRIPTIONS.get(invoice["billing_reason"], "Payment for Invoice"),
                   "metadata": {}, "receipt_email": customer.get("email")}
        intent = {**objects.payment_intent(payment, now), "_invoice": invoice["id"]}
        self.state.insert(intent)
        billing = {key: customer.get(key) for key in ("name", "email", "phone", "address")}
        charge = self.account.insert_charge({**payment, "payment_intent": intent["id"],
                                             "billing_details": billing}, now)
        charge["_invoice"] = invoice["id"]
        self.state.save(charge)
        self.state.save(objects.mark_intent_succeeded(intent, charge))
        request = {"id": new_request_id(), "idempotency_key": new_idempotency_key()}
        events = [self.account.emit("charge.succeeded", charge, now, api_version=api_version, request=request),
                  self.account.emit("payment_intent.succeeded", intent, now, api_version=api_version,
                                    request=request)]
        return intent, charge, events

    def _mark_paid(self, invoice: dict[str, Any], now: int) -> None:
        invoice.update({"status": "paid", "amount_paid": invoice["amount_due"], "amount_remaining": 0,
                        "next_payment_attempt": None})
        invoice["status_transitions"]["paid_at"] = now
        self.state.save(invoice)
        self._set_delinquent(invoice["customer"], False)

    def _set_delinquent(self, customer_id: str, delinquent: bool) -> None:
        """Stripe's `customer.delinquent`: set by a failed automatic payment, cleared by a payment."""
        customer = self.state.get(customer_id, "customer")
        if customer is not None and customer.get("delinquent") != delinquent:
            self.state.save({**customer, "delinquent": delinquent})

    def _number(self, invoice: dict[str, Any], now: int) -> None:
        customer = self.state.get(invoice["customer"], "customer")
        sequence = customer.get("next_invoice_sequence") or 1
        self.state.save({**customer, "next_invoice_sequence": sequence + 1})
        invoice.update({"status": "open", "number": f"{customer['invoice_prefix']}-{sequence:04d}",
                        "effective_at": now, "amount_remaining": invoice["amount_due"],
                        "hosted_invoice_url": f"https://invoice.stripe.com/i/sandbox_{invoice['id']}",
                        "next_payment_attempt": now + 3600
                        if invoice["collection_method"] == "charge_automatically" else None})
        invoice["status_transitions"]["finalized_at"] = now
        self.state.save(invoice)

    # helpers -----------------------------------------------------------------------------------

    def _customer(self, customer_id: Any) -> dict[str, Any]:
        return self.account.param_object("customer", customer_id)

    def _draft_of(self, invoice_id: str, customer_id: str) -> dict[str, Any]:
        invoice = self.state.get(invoice_id, "invoice")
        if invoice is None:
            raise errors.resource_missing("invoice", invoice_id, param="invoice")
        if invoice["customer"] != customer_id:
            raise errors.invalid_request("The invoice belongs to another customer.", param="invoice")
        if invoice["status"] != "draft":
            raise errors.invalid_request("You can only add invoice items to draft invoices.",
                                         param="invoice", code="invoice_not_editable")
        return invoice

    def _item_fields(self, params: dict[str, Any], invoice: dict[str, Any] | None) -> dict[str, Any]:
        """Quantity, unit amount, currency, price and product of an invoice item."""
        quantity = queries.int_param("quantity", params.get("quantity") or 1)
        if quantity < 1:
            raise errors.invalid_request("quantity must be at least 1.", param="quantity")
        price_id, product_id, unit_amount, currency = self._priced(params, quantity)
        currency = str(currency or (invoice or {}).get("currency") or "usd").lower()
        if invoice is not None and currency != invoice["currency"]:
            raise errors.invalid_request("The currency of the invoice item must match the invoice's.",
                                         param="currency")
        return {**params, "quantity": quantity, "unit_amount": unit_amount, "currency": currency,
                "price": price_id, "product": product_id, "invoice": invoice and invoice["id"]}

    def _priced(self, params: dict[str, Any], quantity: int) -> tuple[str | None, str | None, int, str | None]:
        if params.get("price"):
            price = self.state.get(str(params["price"]), "price")
            if price is None:
                raise errors.resource_missing("price", str(params["price"]), param="price")
            return price["id"], price["product"], price["unit_amount"], price["currency"]
        data = params.get("price_data") or {}
        if data:
            product = data.get("product") or None
            return None, product, _integer("price_data[unit_amount]", data.get("unit_amount")), data.get("currency")
        if params.get("unit_amount") not in (None, "") or params.get("unit_amount_decimal") not in (None, ""):
            unit = params.get("unit_amount", params.get("unit_amount_decimal"))
            return None, None, _integer("unit_amount", unit), params.get("currency")
        if params.get("amount") not in (None, ""):
            amount = queries.int_param("amount", params["amount"])
            if amount % quantity:
                raise errors.invalid_request("amount must be a multiple of quantity.", param="amount")
            return None, None, amount // quantity, params.get("currency")
        raise errors.invalid_request("Missing required param: unit_amount, price, price_data or amount.",
                                     param="unit_amount")


def listing_of(listing: dict[str, Any], state: Any, version: str) -> dict[str, Any]:
    """A page whose objects are rendered for `version`."""
    listing["data"] = [render(obj, version, state.get) for obj in listing["data"]]
    return listing


def admin_pay(book: InvoiceBook, invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The admin pay switch: pay the invoice, answer every object rendered for the version."""
    version = body.get("api_version") or DEFAULT_API_VERSION
    paid = book.pay(invoice_id, body, version)
    answer = {name: render(book.state.get(obj["id"]), version, book.state.get) if obj else None
              for name, obj in paid.items() if name != "events"}
    answer["events"] = [public(event) for event in paid["events"]]
    return answer


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    return ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")


def _integer(name: str, value: Any) -> int:
    text = str(value)
    if "." in text:
        whole, _, fraction = text.partition(".")
        if fraction.strip("0"):
            raise errors.invalid_request(f"{name} must be a whole number of minor units.", param=name)
        text = whole
    return queries.int_param(name, text)


def _true(value: Any) -> bool:
    return str(value).lower() in ("true", "1") if not isinstance(value, bool) else value
