"""The emulated Stripe account's behaviour: retrieve, list, create and update, with the events
Stripe emits for them.

Updates follow Stripe's rules: metadata is merged key by key, an empty value deletes a key and an
empty `metadata` clears it all; an empty string unsets any other field. Creating or updating a
customer emits `customer.created` / `customer.updated` (with `previous_attributes`), updating a
charge emits `charge.updated`, so the connector's write-backs are visible as events, as in
production, and loop-safety can be tested. Events made here use the account's default API version.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.stripe_api import errors, objects, queries
from sandbox.stripe_api.ids import new_idempotency_key, new_request_id
from sandbox.stripe_api.resources import Resource
from sandbox.stripe_api.state import StripeState
from sandbox.stripe_api.versions import DEFAULT_API_VERSION, render

UPDATE_EVENTS = {"customer": "customer.updated", "charge": "charge.updated", "refund": "refund.updated",
                 "dispute": "charge.dispute.updated"}
NOT_UPDATABLE = ("expand",)


class StripeAccount:
    """Operations on one emulated account, rendered for one API version per call."""

    def __init__(self, state: StripeState, account_api_version: str = DEFAULT_API_VERSION):
        self.state = state
        self.account_api_version = account_api_version

    # reading -----------------------------------------------------------------------------------

    def rendered(self, stored: dict[str, Any], api_version: str, expand: list[str]) -> dict[str, Any]:
        """A stored object rendered for `api_version`, with its expansions applied."""
        return self._expand(render(stored, api_version, self.state.get), expand, api_version)

    def _resolve(self, object_id: str, api_version: str) -> dict[str, Any] | None:
        stored = self.state.get(object_id)
        return render(stored, api_version, self.state.get) if stored else None

    def retrieve(self, resource: Resource, object_id: str) -> dict[str, Any]:
        """The stored object, or Stripe's 404."""
        stored = self.state.get(object_id, resource.object_type)
        if stored is None:
            raise errors.resource_missing(resource.label, object_id)
        return stored

    def param_object(self, object_type: str, object_id: Any) -> dict[str, Any]:
        """The object a required request param (``charge``, ``customer``) names: 400 when the param is missing,
        404 when no such object is stored."""
        if not object_id:
            raise errors.invalid_request(f"Missing required param: {object_type}.", param=object_type)
        stored = self.state.get(str(object_id), object_type)
        if stored is None:
            raise errors.resource_missing(object_type, str(object_id), param=object_type)
        return stored

    def list(self, resource: Resource, params: dict[str, Any], api_version: str) -> dict[str, Any]:
        """A filtered, paginated list, each object rendered and expanded (`data.` paths)."""
        matching = queries.matching(self.state, resource.object_type, params, resource.filters)
        listing = queries.page(matching, params, f"/v1/{resource.path}")
        listing["data"] = [render(obj, api_version, self.state.get) for obj in listing["data"]]
        return self._expand(listing, queries.expand_paths(params), api_version)

    def list_line_items(self, session_id: str, params: dict[str, Any], api_version: str) -> dict[str, Any]:
        """`GET /v1/checkout/sessions/<id>/line_items`: a page of the session's line items."""
        items = self.line_items(session_id, api_version)
        listing = queries.page(items, params, f"/v1/checkout/sessions/{session_id}/line_items")
        return self._expand(listing, queries.expand_paths(params), api_version)

    def _expand(self, rendered: dict[str, Any], paths: list[str], api_version: str) -> dict[str, Any]:
        return queries.expand(rendered, paths, lambda oid: self._resolve(oid, api_version),
                              lambda sid: self.line_items(sid, api_version))

    def line_items(self, session_id: str, api_version: str) -> list[dict[str, Any]]:
        """The line items of a Checkout Session, in order."""
        session = self.state.get(session_id, "checkout.session")
        if session is None:
            raise errors.resource_missing("checkout.session", session_id)
        items = [self.state.get(item_id) for item_id in session.get("_line_item_ids", [])]
        return [render(item, api_version, self.state.get) for item in items if item]

    # writing -----------------------------------------------------------------------------------

    def create(self, resource: Resource, params: dict[str, Any]) -> dict[str, Any]:
        """Create a customer, a charge or a PaymentIntent from API parameters."""
        _reject_unknown(params, resource.create_fields)
        creators = {"customer": self._create_customer, "charge": self._create_charge,
                    "payment_intent": self._create_intent}
        with self.state.lock:
            return creators[resource.object_type](params, int(time.time()))

    def update(self, resource: Resource, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Apply a POST to an existing object; emit the matching `*.updated` event."""
        _reject_unknown(params, resource.updatable)
        with self.state.lock:
            stored = self.retrieve(resource, object_id)
            previous = _apply_update(stored, params)
            self.state.save(stored)
            if previous and stored["object"] in UPDATE_EVENTS:
                self.emit(UPDATE_EVENTS[stored["object"]], stored, int(time.time()), previous=previous)
        return stored

    def emit(self, event_type: str, stored: dict[str, Any], now: int, *, api_version: str | None = None,
             request: dict[str, Any] | None = None,
             previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an event whose `data.object` is `stored` rendered for the event's API version."""
        version = api_version or self.account_api_version
        snapshot = render(stored, version, self.state.get)
        return self.state.insert(objects.event(event_type, snapshot, version, now, request, previous))

    def _create_customer(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        customer = self.state.insert(objects.customer(_clean(params), now))
        self.emit("customer.created", customer, now)
        return customer

    def _create_charge(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        payment = self._payment_params(params)
        charge = self.insert_charge(payment, now)
        self.emit("charge.succeeded", charge, now)
        return charge

    def _create_intent(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        intent = objects.payment_intent(self._payment_params(params), now)
        self.state.insert(intent)
        self.emit("payment_intent.created", intent, now)
        if str(params.get("confirm", "")).lower() == "true":
            self.succeed_intent(intent, _billing_of(params), now)
        return intent

    def succeed_intent(self, intent: dict[str, Any], billing: dict[str, Any] | None, now: int,
                       api_version: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Charge a PaymentIntent: a succeeded charge, `latest_charge`, and both success events.

        Both events come from the one confirming request, so they share its request id.
        """
        request = {"id": new_request_id(), "idempotency_key": new_idempotency_key()}
        payment = {**intent, "payment_intent": intent["id"], "billing_details": billing}
        charge = self.insert_charge(payment, now)
        self.state.save(objects.mark_intent_succeeded(intent, charge))
        events = [
            self.emit("charge.succeeded", charge, now, api_version=api_version, request=request),
            self.emit("payment_intent.succeeded", intent, now, api_version=api_version, request=request),
        ]
        return charge, events

    def insert_charge(self, payment: dict[str, Any], now: int) -> dict[str, Any]:
        """Store a succeeded charge and its balance transaction."""
        charge = objects.charge(payment, now)
        txn = objects.balance_transaction(charge["id"], charge["amount"], charge["currency"], now)
        charge["balance_transaction"] = txn["id"]
        self.state.insert(txn)
        return self.state.insert(charge)

    def _payment_params(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = params.get("amount")
        if amount in (None, ""):
            raise errors.invalid_request("Missing required param: amount.", param="amount")
        if not params.get("currency"):
            raise errors.invalid_request("Missing required param: currency.", param="currency")
        customer = params.get("customer") or None
        if customer and self.state.get(customer, "customer") is None:
            raise errors.resource_missing("customer", customer, param="customer")
        return {**_clean(params), "amount": queries.int_param("amount", amount),
                "currency": str(params["currency"]).lower(), "customer": customer}


def _reject_unknown(params: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed and name not in NOT_UPDATABLE:
            raise errors.invalid_request(f"Received unknown parameter: {name}", param=name)


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    """Create parameters with Stripe's empty-means-unset rule applied."""
    cleaned = {key: (None if value == "" else value) for key, value in params.items() if key != "expand"}
    cleaned["metadata"] = {k: str(v) for k, v in (params.get("metadata") or {}).items() if v != ""}
    return cleaned


def _billing_of(params: dict[str, Any]) -> dict[str, Any] | None:
    details = (params.get("payment_method_data") or {}).get("billing_details")
    return details if isinstance(details, dict) else None


def _apply_update(stored: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Change `stored` in place; return the previous values of what changed."""
    previous: dict[str, Any] = {}
    for name, value in params.items():
        if name in NOT_UPDATABLE:
            continue
        new_value = _merged_metadata(stored.get("metadata") or {}, value) if name == "metadata" \
            else _field_value(name, value)
        if stored.get(name) != new_value:
            previous[name] = stored.get(name)
            stored[name] = new_value
    return previous


def _merged_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise errors.invalid_request("Invalid object", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _field_value(name: str, value: Any) -> Any:
    if value == "":
        return None
    if name == "address":
        return objects.address(value)
    return value
