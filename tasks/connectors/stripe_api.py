"""Stripe connector on ``stripe.StripeClient``: the only place the pipeline calls Stripe.

Policy: explicit timeouts and ``max_network_retries`` (stripe-python retries connection errors, 409
and 5xx itself when told to, with its own backoff); no global ``stripe.api_key``; objects come back
as plain dicts so nothing downstream depends on SDK types. Errors are mapped once, here, onto the
pipeline's taxonomy: connection errors, timeouts, 409, 5xx and 429 are retryable (429 honours
``Retry-After``, which the SDK ignores); authentication, permission and invalid requests are
permanent. Unknown means permanent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from tasks.errors import PermanentError, RetryableError
from tasks.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class StripeUnavailable(RetryableError):
    reason = "stripe.unavailable"


class StripeRejected(PermanentError):
    reason = "stripe.rejected"


class StripeNotFound(StripeRejected):
    reason = "stripe.not_found"


def classify_stripe_error(exc: stripe.StripeError) -> Exception:
    status = getattr(exc, "http_status", None) or 0
    text = getattr(exc, "user_message", None) or str(exc)
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        return StripeUnavailable(f"Stripe rate limit: {text}", reason="stripe.rate_limited",
                                 retry_after=_retry_after(exc) or 2.0)
    if isinstance(exc, stripe.APIConnectionError):
        return StripeUnavailable(f"Stripe could not be reached: {text}", reason="stripe.connection")
    if status == 409 or status >= 500 or isinstance(exc, stripe.APIError):
        return StripeUnavailable(f"Stripe answered {status}: {text}")
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return StripeRejected(f"Stripe refused the API key ({status})", reason="stripe.auth")
    if isinstance(exc, stripe.InvalidRequestError) and getattr(exc, "code", None) == "resource_missing":
        return StripeNotFound(f"Stripe has no such object: {text}")
    return StripeRejected(f"Stripe rejected the request: {text}")


def _retry_after(exc: stripe.StripeError) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        return float(headers.get("Retry-After") or headers.get("retry-after") or "")
    except (TypeError, ValueError):
        return None


def plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as a plain JSON dict (v15+ objects are not dicts)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeConnector:
    """The calls the flows need, each returning plain dicts."""

    def __init__(self, settings: Settings, http_client: stripe.HTTPClient | None = None):
        settings.require_stripe()
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self.client = stripe.StripeClient(
            settings.stripe_api_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=settings.stripe_max_network_retries,
            http_client=http_client or stripe.RequestsClient(timeout=settings.stripe_timeout),
        )
        self.calls = 0

    def _call(self, func: Callable[[], T]) -> T:
        self.calls += 1
        try:
            return func()
        except stripe.StripeError as exc:
            raise classify_stripe_error(exc) from None

    def charge(self, charge_id: str) -> dict[str, Any]:
        return plain(self._call(lambda: self.client.v1.charges.retrieve(charge_id)))

    def payment_intent(self, intent_id: str) -> dict[str, Any]:
        return plain(self._call(lambda: self.client.v1.payment_intents.retrieve(intent_id)))

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        found = plain(self._call(lambda: self.client.v1.customers.retrieve(customer_id)))
        return None if found.get("deleted") else found

    def checkout_session_for(self, intent_id: str) -> dict[str, Any] | None:
        """The Checkout Session that created a payment, if any (lists are exact, never search)."""
        params = {"payment_intent": intent_id, "limit": 1}
        try:
            page = self._call(lambda: self.client.v1.checkout.sessions.list(params=params))  # type: ignore[arg-type]
        except StripeRejected:
            log.info("checkout session lookup not available; using payment metadata")
            return None
        sessions = plain(page).get("data") or []
        return sessions[0] if sessions else None

    def checkout_session(self, session_id: str) -> dict[str, Any]:
        return plain(self._call(lambda: self.client.v1.checkout.sessions.retrieve(session_id)))

    def line_items(self, session_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = plain(self._call(
                lambda: self.client.v1.checkout.sessions.line_items.list(session_id, params=params)))
            items.extend(page.get("data") or [])
            if not page.get("has_more") or not items:
                return items
            params = {"limit": 100, "starting_after": items[-1]["id"]}

    def product(self, product_id: str) -> dict[str, Any]:
        return plain(self._call(lambda: self.client.v1.products.retrieve(product_id)))

    def update_metadata(self, object_id: str, metadata: dict[str, str], *, idempotency_key: str) -> None:
        """Write Epicor numbers back onto a charge, payment intent or customer."""
        service = self._service_for(object_id)
        options = {"idempotency_key": idempotency_key}
        self._call(lambda: service.update(object_id, params={"metadata": metadata}, options=options))  # type: ignore[arg-type]

    def _service_for(self, object_id: str) -> Any:
        prefixes = {"ch_": self.client.v1.charges, "py_": self.client.v1.charges,
                    "pi_": self.client.v1.payment_intents, "cus_": self.client.v1.customers}
        for prefix, service in prefixes.items():
            if object_id.startswith(prefix):
                return service
        raise StripeRejected(f"Cannot write metadata onto {object_id!r}")
