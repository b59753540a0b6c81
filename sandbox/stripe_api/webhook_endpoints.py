"""Webhook endpoints and the account: what the pre-flight check (``tasks.doctor``) reads from Stripe.

`GET/POST /v1/webhook_endpoints`, `GET/POST /v1/webhook_endpoints/<id>` (an update may change `url`,
`enabled_events`, `description`, `metadata`, `disabled`) and `GET /v1/account`. An endpoint has
`api_version` null unless one was given at creation: it then receives events in the account's
default version, as on Stripe. The sandbox never delivers to these endpoints itself (the sandbox
CLI does); they exist so a set-up can be checked.

For the demo, a fresh or reset sandbox holds one endpoint subscribed to every event (`*`) at
`SANDBOX_WEBHOOK_URL` (default `http://127.0.0.1:8000/webhooks/stripe`, where `make run` puts the
receiver), so `celery -A tasks doctor` passes against it; a test registers its own receiver's
address with `POST /v1/webhook_endpoints`, as an administrator does in the Stripe Dashboard.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Response, request

from sandbox.stripe_api import errors, queries
from sandbox.stripe_api.api import serve
from sandbox.stripe_api.ids import new_id, random_alnum
from sandbox.stripe_api.state import StripeState

OBJECT = "webhook_endpoint"
DEMO_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/stripe"
ACCOUNT_ID = "acct_1SandboxEpicor0"
CREATE_FIELDS = ("url", "enabled_events", "api_version", "description", "metadata", "connect")
UPDATE_FIELDS = ("url", "enabled_events", "description", "metadata", "disabled")


def add_webhook_endpoint_routes(blueprint: Blueprint, state: StripeState) -> None:
    """The `/v1/webhook_endpoints` and `/v1/account` routes."""
    def collection() -> Response:
        if request.method == "POST":
            return serve(state, lambda params, version: create_endpoint(state, params))
        return serve(state, lambda params, version: _list(state, params))

    def single(endpoint_id: str) -> Response:
        if request.method == "POST":
            return serve(state, lambda params, version: update_endpoint(state, endpoint_id, params))
        return serve(state, lambda params, version: _public(_stored(state, endpoint_id)))

    blueprint.add_url_rule("/v1/webhook_endpoints", "webhook_endpoints_collection", collection,
                           methods=["GET", "POST"])
    blueprint.add_url_rule("/v1/webhook_endpoints/<endpoint_id>", "webhook_endpoints_single", single,
                           methods=["GET", "POST"])
    blueprint.add_url_rule("/v1/account", "account", lambda: serve(state, lambda params, version: account()),
                           methods=["GET"])


def account() -> dict[str, Any]:
    """The sandbox's one account, in the fields a set-up check reads."""
    return {"id": ACCOUNT_ID, "object": "account", "business_profile": {"name": "Sandbox shop"},
            "charges_enabled": True, "payouts_enabled": True, "country": "US", "default_currency": "usd",
            "details_submitted": True, "type": "standard", "settings": {"dashboard": {"display_name": "Sandbox"}}}


def create_endpoint(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """A new endpoint; `url` and `enabled_events` are required, as on Stripe."""
    _reject_unknown(params, CREATE_FIELDS)
    url, events = params.get("url"), _events(params.get("enabled_events"))
    if not url or not isinstance(url, str):
        raise errors.invalid_request("Missing required param: url.", param="url")
    endpoint = {"id": new_id("we"), "object": OBJECT, "api_version": params.get("api_version") or None,
                "application": None, "created": int(time.time()), "description": params.get("description"),
                "enabled_events": events, "livemode": False, "metadata": params.get("metadata") or {},
                "secret": "whsec_" + random_alnum(32), "status": "enabled", "url": url}
    state.insert(endpoint)
    return _public(endpoint, with_secret=True)  # Stripe shows the signing secret on creation only


def update_endpoint(state: StripeState, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
    _reject_unknown(params, UPDATE_FIELDS)
    with state.lock:
        endpoint = _stored(state, endpoint_id)
        if "url" in params:
            endpoint["url"] = str(params["url"])
        if "enabled_events" in params:
            endpoint["enabled_events"] = _events(params["enabled_events"])
        if "disabled" in params:
            endpoint["status"] = "disabled" if str(params["disabled"]).lower() == "true" else "enabled"
        for name in ("description", "metadata"):
            if name in params:
                endpoint[name] = params[name]
        state.save(endpoint)
    return _public(endpoint)


def ensure_demo_endpoint(state: StripeState) -> None:
    """One endpoint for every event at the demo receiver, unless the account already has one."""
    with state.lock:
        if not state.all_of(OBJECT):
            url = os.environ.get("SANDBOX_WEBHOOK_URL") or DEMO_WEBHOOK_URL
            create_endpoint(state, {"url": url, "enabled_events": ["*"], "description": "make run demo receiver"})


def _events(value: Any) -> list[str]:
    events = list(value.values()) if isinstance(value, dict) else value  # form arrays parse as {index: v}
    if not isinstance(events, list) or not events or not all(isinstance(e, str) and e for e in events):
        raise errors.invalid_request("Missing required param: enabled_events.", param="enabled_events")
    return events


def _list(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    endpoints = queries.matching(state, OBJECT, params, ("created",))
    listing = queries.page(endpoints, params, "/v1/webhook_endpoints")
    listing["data"] = [_public(endpoint) for endpoint in listing["data"]]
    return listing


def _stored(state: StripeState, endpoint_id: str) -> dict[str, Any]:
    endpoint = state.get(endpoint_id, OBJECT)
    if endpoint is None:
        raise errors.resource_missing(OBJECT, endpoint_id)
    return endpoint


def _public(endpoint: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    return {key: value for key, value in endpoint.items() if with_secret or key != "secret"}


def _reject_unknown(params: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise errors.invalid_request(f"Received unknown parameter: {name}", param=name)
