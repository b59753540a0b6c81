"""HTTP plumbing of the emulated `/v1` API: auth, form decoding, faults, idempotency, logging.

Every call is checked in the order Stripe's edge would: injected faults first (they stand for an
outage in front of the API), then the API key (test keys only: `sk_test_…` or `rk_test_…`, as
Bearer or Basic auth), then the handler. POSTs with an `Idempotency-Key` are answered from the
first response when repeated with the same parameters, and refused with `idempotency_error` when
the parameters differ. Every call, failed or not, lands in the request log that tests read through
`GET /_sandbox/stripe/requests`.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from typing import Any

from flask import Response, request

from sandbox.stripe_api import errors
from sandbox.stripe_api.forms import FormError, parse_form
from sandbox.stripe_api.ids import new_request_id
from sandbox.stripe_api.state import StripeState
from sandbox.stripe_api.versions import DEFAULT_API_VERSION

TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
Handler = Callable[[dict[str, Any], str], dict[str, Any]]


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response, pretty-printed like Stripe's."""
    return Response(json.dumps(body, indent=2), status=status, headers=headers or {},
                    mimetype="application/json")


def serve(state: StripeState, handler: Handler) -> Response:
    """Run one API call through faults, auth, idempotency and the log."""
    request_id = new_request_id()
    params: dict[str, Any] = {}
    idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    try:
        _inject_faults(state)
        _authenticate()
        params = _params()
        status, body = _answer(state, handler, params, idempotency_key)
        headers: dict[str, str] = {}
    except errors.StripeApiError as failure:
        status, body, headers = failure.status, failure.body(), failure.headers
    _log(state, params, status, request_id, idempotency_key)
    headers = {**headers, "Request-Id": request_id, "Stripe-Version": _api_version()}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return json_response(body, status, headers)


def _api_version() -> str:
    return request.headers.get("Stripe-Version") or DEFAULT_API_VERSION


def _inject_faults(state: StripeState) -> None:
    faults = state.faults
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if faults.error_rate and random.random() < faults.error_rate:
        raise errors.injected_server_error()
    if faults.rate_limit_rate and random.random() < faults.rate_limit_rate:
        raise errors.injected_rate_limit()


def _authenticate() -> None:
    key = _api_key(request.headers.get("Authorization", ""))
    if not key:
        raise errors.authentication(
            "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
    if not key.startswith(TEST_KEY_PREFIXES):
        raise errors.authentication(f"Invalid API Key provided: {key[:8]}{'*' * 8}")


def _api_key(authorization: str) -> str:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def _params() -> dict[str, Any]:
    raw = request.query_string.decode("utf-8")
    if request.method == "POST":
        body = request.get_data(as_text=True)
        raw = "&".join(part for part in (raw, body) if part)
    try:
        return parse_form(raw)
    except FormError as bad:
        raise errors.invalid_request(str(bad)) from None


def _answer(state: StripeState, handler: Handler, params: dict[str, Any],
            idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    if not idempotency_key:
        return 200, handler(params, _api_version())
    fingerprint = json.dumps([request.path, params], sort_keys=True)
    with state.lock:
        seen = state.idempotent_response(idempotency_key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise errors.idempotency_conflict(idempotency_key)
            return seen[1], seen[2]
        body = handler(params, _api_version())
        state.remember_response(idempotency_key, fingerprint, 200, body)
    return 200, body


def _log(state: StripeState, params: dict[str, Any], status: int, request_id: str,
         idempotency_key: str | None) -> None:
    entry: dict[str, Any] = {
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "status": status,
        "request_id": request_id,
        "stripe_version": request.headers.get("Stripe-Version"),
        "idempotency_key": idempotency_key,
    }
    entry["params" if request.method == "POST" else "query"] = params
    state.log_request(entry)
