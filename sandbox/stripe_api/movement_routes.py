"""Admin routes for money movements after a sale: refunds, disputes, failed and delayed payments.

Each route runs one scenario (see `refunds.py`, `disputes.py`, `failures.py`, `async_checkout.py`)
and answers with the objects as they now stand and the events it emitted, rendered for the body's
`api_version`; the test harness delivers those events, signed, to the receiver. Like the other admin
routes they need no API key and speak plain JSON; Stripe-style errors come back with their status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from sandbox.stripe_api import errors
from sandbox.stripe_api.api import json_response
from sandbox.stripe_api.async_checkout import settle_async_checkout, start_async_checkout
from sandbox.stripe_api.disputes import close_dispute, open_dispute
from sandbox.stripe_api.failures import decline_payment, fail_payment
from sandbox.stripe_api.refunds import change_refund_status, create_refund
from sandbox.stripe_api.service import StripeAccount

ADMIN = "/_sandbox/stripe"


def add_movement_routes(blueprint: Blueprint, account: StripeAccount) -> None:
    """Register the refund, dispute, failed-payment and delayed-checkout scenarios."""
    routes: tuple[tuple[str, str, Callable[..., dict[str, Any]]], ...] = (
        ("/refunds", "refund_create", create_refund),
        ("/refunds/<object_id>/status", "refund_status", change_refund_status),
        ("/disputes", "dispute_open", open_dispute),
        ("/disputes/<object_id>/close", "dispute_close", close_dispute),
        ("/payments/declined", "payment_declined", decline_payment),
        ("/payments/<object_id>/fail", "payment_fail", fail_payment),
        ("/checkout/async", "checkout_async", start_async_checkout),
        ("/checkout/<object_id>/settle", "checkout_settle", settle_async_checkout),
    )
    for path, name, scenario in routes:
        blueprint.add_url_rule(f"{ADMIN}{path}", f"sandbox_{name}", _handler(account, scenario), methods=["POST"])


def _handler(account: StripeAccount, scenario: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
    def handle(object_id: str | None = None) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        try:
            result = scenario(account, body) if object_id is None else scenario(account, object_id, body)
        except errors.StripeApiError as failure:
            return json_response(failure.body(), failure.status)
        return json_response(result)
    return handle
