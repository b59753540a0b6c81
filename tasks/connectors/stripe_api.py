"""Stripe connector on ``stripe.StripeClient``: the only place the pipeline calls Stripe.

Policy: explicit timeouts and ``max_network_retries`` (stripe-python retries connection errors, 409
and 5xx itself when told to, with its own backoff); no global ``stripe.api_key``; objects come back
as plain dicts so nothing downstream depends on SDK types. Errors are mapped once, here, onto the
pipeline's taxonomy: connection errors, timeouts, 409, 5xx and 429 are retryable (429 honours
``Retry-After``, which the SDK ignores); authentication, permission and invalid requests are
permanent. Unknown means permanent. In a worker, every call first takes a token of the account's
deployment-wide ``STRIPE_MAX_CALLS_PER_SECOND`` (``tasks.budget``; tokens come in blocks, so this
costs no Redis round trip per call); none due in time is retryable (``stripe.rate_budget``).

CPU (every payment makes several of these calls): reads and metadata writes go through
``StripeClient.raw_request``, the SDK's own requestor (API version, retries, idempotency keys, the
same parameter encoding, the same ``StripeError`` subclasses), without building StripeObjects only to
turn them back into dicts; the HTTP session reads the environment once (``connectors.http``); and
the SDK's per-call log lines are formatted only when its logger (or ``STRIPE_LOG``) would show them
(``tasks.patches``, applied at worker start).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote_plus

import stripe

from history import recorder
from tasks import budget, liveness
from tasks.connectors.http import PinnedSession
from tasks.errors import PermanentError, RetryableError
from tasks.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Where metadata is written back, by id prefix (the same endpoints as the typed services' `update`).
_METADATA_PATHS = {"in_": "/v1/invoices/", "ch_": "/v1/charges/", "py_": "/v1/charges/",
                   "pi_": "/v1/payment_intents/", "cus_": "/v1/customers/", "re_": "/v1/refunds/",
                   "pyr_": "/v1/refunds/", "dp_": "/v1/disputes/", "du_": "/v1/disputes/"}


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
        if http_client is None:
            session = PinnedSession(settings.stripe_api_base or stripe.DEFAULT_API_BASE, system="stripe")
            http_client = stripe.RequestsClient(session=session, timeout=settings.stripe_timeout)
        self.client = stripe.StripeClient(
            settings.stripe_api_key,
            stripe_account=settings.stripe_account or None,  # a Connect account's event (tasks.pairs)
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=settings.stripe_max_network_retries,
            http_client=http_client,
        )
        self.calls = 0
        self.rate = budget.stripe_rate(settings)  # STRIPE_MAX_CALLS_PER_SECOND for the account, deployment-wide
        self.rate_wait = settings.stripe_timeout

    def _call(self, func: Callable[[], T]) -> T:
        self.calls += 1
        if not self.rate.acquire(timeout=self.rate_wait):
            raise StripeUnavailable("STRIPE_MAX_CALLS_PER_SECOND left no call free in time",
                                    reason="stripe.rate_budget", retry_after=2.0)
        try:
            answer = func()
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.APIConnectionError) or (getattr(exc, "http_status", None) or 0) >= 500:
                liveness.note_unreachable("stripe", type(exc).__name__)
            raise classify_stripe_error(exc) from None
        liveness.note_success("stripe")  # the console's health tile; throttled in memory (tasks.liveness)
        return answer

    def _raw(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        """One call through the SDK's requestor; the answer as plain JSON dicts.

        ``params`` are encoded exactly as the typed services encode them (``expand[0]=…``,
        ``metadata[key]=…``); option names (``idempotency_key``, ``max_network_retries``, …) are
        taken out as request options. ``.data`` is built of OrderedDicts: the body is parsed again,
        which is cheaper than converting them.
        """
        return json.loads(self._call(lambda: self.client.raw_request(method, path, **params)).body)

    def charge(self, charge_id: str, *, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        return self._retrieve("/v1/charges/", charge_id, expand)

    def payment_intent(self, intent_id: str, *, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        return self._retrieve("/v1/payment_intents/", intent_id, expand)

    def _retrieve(self, collection: str, object_id: str, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        """One object, with related objects expanded in the same round trip when Stripe allows it.

        A refused expansion (an old API version, a restricted key) falls back to the bare object;
        callers fetch what is still an id.
        """
        path = collection + quote_plus(object_id)  # as the SDK's sanitize_id
        if expand:
            try:
                return self._raw("get", path, expand=list(expand))
            except StripeNotFound:
                raise
            except StripeRejected:
                log.info("expansion refused; retrieving the object alone")
        return self._raw("get", path)

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        found = self._retrieve("/v1/customers/", customer_id)
        return None if found.get("deleted") else found

    def checkout_session_for(self, intent_id: str) -> dict[str, Any] | None:
        """The Checkout Session that created a payment, if any (lists are exact, never search)."""
        try:
            page = self._raw("get", "/v1/checkout/sessions", payment_intent=intent_id, limit=1)
        except StripeRejected:
            log.info("checkout session lookup not available; using payment metadata")
            return None
        sessions = page.get("data") or []
        return sessions[0] if sessions else None

    def checkout_session(self, session_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/checkout/sessions/", session_id)

    def line_items(self, session_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        path = f"/v1/checkout/sessions/{quote_plus(session_id)}/line_items"
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self._raw("get", path, **params)
            items.extend(page.get("data") or [])
            if not page.get("has_more") or not items:
                return items
            params = {"limit": 100, "starting_after": items[-1]["id"]}

    def product(self, product_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/products/", product_id)

    def update_metadata(self, object_id: str, metadata: dict[str, str], *, idempotency_key: str) -> None:
        """Write Epicor numbers back onto a charge, payment intent, customer, invoice, refund or dispute."""
        collection = next((path for prefix, path in _METADATA_PATHS.items() if object_id.startswith(prefix)), None)
        if collection is None:
            raise StripeRejected(f"Cannot write metadata onto {object_id!r}")
        self._raw("post", collection + quote_plus(object_id), metadata=metadata, idempotency_key=idempotency_key)
        recorder.record("writeback", stripe_object=object_id, fields=metadata)  # the audit trail's copy

    # -- writes for customers and orders that start in Epicor (each with an idempotency key) ------
    def create_customer(self, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self.client.v1.customers.create(params=params, options=options)))  # type: ignore[arg-type]

    def update_customer(self, customer_id: str, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self.client.v1.customers.update(customer_id, params=params, options=options)))  # type: ignore[arg-type]

    def create_invoice(self, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self.client.v1.invoices.create(params=params, options=options)))  # type: ignore[arg-type]

    def create_invoice_item(self, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self.client.v1.invoice_items.create(params=params, options=options)))  # type: ignore[arg-type]

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        params = {"auto_advance": False}  # sending is an explicit, once-only step of the flow
        service = self.client.v1.invoices
        return plain(self._call(lambda: service.finalize_invoice(invoice_id, params=params, options=options)))  # type: ignore[arg-type]

    def send_invoice(self, invoice_id: str, *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self.client.v1.invoices.send_invoice(invoice_id, options=options)))  # type: ignore[arg-type]

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/invoices/", invoice_id)

    def invoices_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        """Every invoice of a customer, newest first (a list, never search: lists are consistent)."""
        return self._all_pages(self.client.v1.invoices, {"customer": customer_id})

    def invoice_items_of(self, invoice_id: str) -> list[dict[str, Any]]:
        return self._all_pages(self.client.v1.invoice_items, {"invoice": invoice_id})

    def _all_pages(self, service: Any, filters: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {**filters, "limit": 100}
        while True:
            page = plain(self._call(lambda query=params: service.list(params=query)))  # type: ignore[misc]
            found.extend(page.get("data") or [])
            if not page.get("has_more") or not found:
                return found
            params = {**filters, "limit": 100, "starting_after": found[-1]["id"]}

    # -- reads for subscription invoices, customer status, payouts and catch-up -------------------
    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every line of an invoice (the invoice object embeds only the first page)."""
        lines = self._call(lambda: self.client.v1.invoices.line_items.list(invoice_id, params={"limit": 100}))
        return [plain(line) for line in self._call(lambda: list(lines.auto_paging_iter()))]

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        """The InvoicePayments of an invoice (basil and later); [] where the API has none."""
        try:
            return self._all_pages(self.client.v1.invoice_payments, {"invoice": invoice_id})
        except StripeRejected:
            log.info("invoice payments list not available; using the invoice's own payment fields")
            return []

    def invoice_paid_by(self, *, payment_intent: str | None = None, charge: str | None = None) -> str | None:
        """The invoice a payment paid, if any: `invoice_payments` by payment (charges lost `invoice` in basil)."""
        payment = {"type": "payment_intent", "payment_intent": payment_intent} if payment_intent \
            else {"type": "charge", "charge": charge}
        try:
            page = self._raw("get", "/v1/invoice_payments", payment=payment, limit=1)
        except StripeRejected:
            log.info("invoice payments lookup not available; relying on the payment's invoice field")
            return None
        found = page.get("data") or []
        invoice = found[0].get("invoice") if found else None
        return invoice.get("id") if isinstance(invoice, dict) else invoice

    # -- reads for refunds and disputes -----------------------------------------------------------
    def refund(self, refund_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/refunds/", refund_id)

    def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        """Every refund of a charge (all versions; `charge.refunds` is gone since 2022-11-15)."""
        return self._all_pages(self.client.v1.refunds, {"charge": charge_id})

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/disputes/", dispute_id)

    def price(self, price_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/prices/", price_id)

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/subscriptions/", subscription_id)

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        """Every subscription of a customer, cancelled ones included."""
        return self._all_pages(self.client.v1.subscriptions, {"customer": customer_id, "status": "all"})

    def payout(self, payout_id: str) -> dict[str, Any]:
        return self._retrieve("/v1/payouts/", payout_id)

    def balance_transaction(self, txn_id: str) -> dict[str, Any]:
        """One balance transaction (a failed payout's ``failure_balance_transaction``: when the money came back)."""
        return self._retrieve("/v1/balance_transactions/", txn_id)

    def payout_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """Every balance transaction paid out by an automatic payout, sources expanded, all pages."""
        params = {"payout": payout_id, "expand": ["data.source"], "limit": 100}
        first = self._call(lambda: self.client.v1.balance_transactions.list(params=params))  # type: ignore[arg-type]
        return [plain(txn) for txn in self._call(lambda: list(first.auto_paging_iter()))]

    def events_page(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page of `GET /v1/events` (the catch-up walks the pages itself to checkpoint)."""
        return plain(self._call(lambda: self.client.v1.events.list(params=params)))  # type: ignore[arg-type]

    # -- read-only set-up checks (tasks.doctor) ----------------------------------------------------
    def account(self) -> dict[str, Any]:
        """`GET /v1/account`: the account the key belongs to (proves the key works)."""
        return self._raw("get", "/v1/account")

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        """Every webhook endpoint of the account, all pages (`GET /v1/webhook_endpoints`)."""
        endpoints: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self._raw("get", "/v1/webhook_endpoints", **params)
            endpoints.extend(page.get("data") or [])
            if not page.get("has_more") or not endpoints:
                return endpoints
            params = {"limit": 100, "starting_after": endpoints[-1]["id"]}
