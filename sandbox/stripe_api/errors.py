"""Stripe's error bodies, so stripe-python raises the same exception classes it raises in production.

400/404 → `InvalidRequestError`, 401 → `AuthenticationError`, 429 → `RateLimitError`,
500 → `APIError`, idempotency conflicts → `IdempotencyError`.
"""

from __future__ import annotations

from typing import Any


class StripeApiError(Exception):
    """An error answered to the client with Stripe's body and status."""

    def __init__(self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"error": {...}}`."""
        return {"error": self.error}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> StripeApiError:
    """400 `invalid_request_error`, e.g. an unknown or malformed parameter."""
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return StripeApiError(400, error)


def resource_missing(label: str, object_id: str, param: str = "id") -> StripeApiError:
    """404 for an id that does not exist: `No such charge: 'ch_x'`."""
    return StripeApiError(404, {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "message": f"No such {label}: '{object_id}'",
        "param": param,
    })


def unrecognized_url(method: str, path: str) -> StripeApiError:
    """404 for a route the emulator does not serve."""
    return StripeApiError(404, {
        "type": "invalid_request_error",
        "message": f"Unrecognized request URL ({method}: {path}). The Stripe sandbox serves only the "
                   "resources the connector uses.",
    })


def authentication(message: str) -> StripeApiError:
    """401 for a missing or non-test API key."""
    return StripeApiError(401, {"type": "invalid_request_error", "message": message})


def idempotency_conflict(key: str) -> StripeApiError:
    """400 `idempotency_error`: the key was used before with other parameters."""
    return StripeApiError(400, {
        "type": "idempotency_error",
        "message": f"Keys for idempotent requests can only be used with the same parameters they were "
                   f"first used with. Try using a key other than '{key}' if you meant to execute a "
                   "different request.",
    })


def injected_server_error() -> StripeApiError:
    """500 `api_error` produced by the fault switch."""
    return StripeApiError(500, {
        "type": "api_error",
        "message": "An unknown error occurred (injected by the Stripe sandbox fault switch).",
    })


def injected_rate_limit() -> StripeApiError:
    """429 `rate_limit` produced by the fault switch, with `Retry-After: 1`."""
    return StripeApiError(429, {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
        "message": "Request rate limit exceeded. Learn more about rate limits here "
                   "https://stripe.com/docs/rate-limits.",
    }, headers={"Retry-After": "1"})
