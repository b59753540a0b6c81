"""The Flask blueprint: Stripe's `/v1` routes and the `/_sandbox/stripe` admin routes.

Admin routes need no key and speak plain JSON: they are the test harness's controls (make a
payment, record a webhook delivery, read the request log, switch faults, reset, dump), never part
of the emulated API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from sandbox.stripe_api import errors
from sandbox.stripe_api.api import json_response, serve
from sandbox.stripe_api.billing_routes import add_billing_routes
from sandbox.stripe_api.movement_routes import add_movement_routes
from sandbox.stripe_api.payments import create_payment
from sandbox.stripe_api.queries import expand_paths
from sandbox.stripe_api.resources import RESOURCES, Resource
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.state import StripeFaults, StripeState
from sandbox.stripe_api.versions import public
from sandbox.stripe_api.webhook_endpoints import add_webhook_endpoint_routes, ensure_demo_endpoint

ADMIN = "/_sandbox/stripe"


def make_stripe_blueprint(state: StripeState) -> Blueprint:
    """A blueprint serving the emulated Stripe API and its admin controls from `state`."""
    blueprint = Blueprint("stripe_sandbox", __name__)
    account = StripeAccount(state)
    for resource in RESOURCES:
        _add_resource_routes(blueprint, state, account, resource)
    _add_line_items_route(blueprint, state, account)
    add_billing_routes(blueprint, state, account)
    add_movement_routes(blueprint, account)
    add_webhook_endpoint_routes(blueprint, state)
    ensure_demo_endpoint(state)
    _add_fallback_route(blueprint, state)
    _add_admin_routes(blueprint, state, account)
    return blueprint


def _add_resource_routes(blueprint: Blueprint, state: StripeState, account: StripeAccount,
                         resource: Resource) -> None:
    endpoint = resource.path.replace("/", "_")

    def collection() -> Response:
        if request.method == "POST":
            return serve(state, lambda params, version: _created(account, resource, params, version))
        return serve(state, lambda params, version: account.list(resource, params, version))

    def single(object_id: str) -> Response:
        if request.method == "POST":
            return serve(state, lambda params, version: _updated(account, resource, object_id, params, version))
        return serve(state, lambda params, version: account.rendered(
            account.retrieve(resource, object_id), version, expand_paths(params)))

    methods = ["GET", "POST"] if resource.creatable else ["GET"]
    blueprint.add_url_rule(f"/v1/{resource.path}", f"{endpoint}_collection", collection, methods=methods)
    single_methods = ["GET", "POST"] if resource.updatable else ["GET"]
    blueprint.add_url_rule(f"/v1/{resource.path}/<object_id>", f"{endpoint}_single", single,
                           methods=single_methods)


def _created(account: StripeAccount, resource: Resource, params: dict[str, Any], version: str) -> dict[str, Any]:
    return account.rendered(account.create(resource, params), version, expand_paths(params))


def _updated(account: StripeAccount, resource: Resource, object_id: str, params: dict[str, Any],
             version: str) -> dict[str, Any]:
    return account.rendered(account.update(resource, object_id, params), version, expand_paths(params))


def _add_line_items_route(blueprint: Blueprint, state: StripeState, account: StripeAccount) -> None:
    def line_items(session_id: str) -> Response:
        return serve(state, lambda params, version: account.list_line_items(session_id, params, version))

    blueprint.add_url_rule("/v1/checkout/sessions/<session_id>/line_items", "checkout_line_items",
                           line_items, methods=["GET"])


def _add_fallback_route(blueprint: Blueprint, state: StripeState) -> None:
    def unrecognized(rest: str) -> Response:
        def fail(params: dict[str, Any], version: str) -> dict[str, Any]:
            raise errors.unrecognized_url(request.method, request.path)
        return serve(state, fail)

    blueprint.add_url_rule("/v1/<path:rest>", "unrecognized", unrecognized,
                           methods=["GET", "POST", "DELETE", "PUT", "PATCH"])


def _add_admin_routes(blueprint: Blueprint, state: StripeState, account: StripeAccount) -> None:
    @blueprint.post(f"{ADMIN}/payments")
    def admin_payment() -> Response:
        try:
            return json_response(create_payment(account, request.get_json(force=True) or {}))
        except errors.StripeApiError as failure:
            return json_response(failure.body(), failure.status)

    @blueprint.post(f"{ADMIN}/events/<event_id>/deliveries")
    def admin_delivery(event_id: str) -> Response:
        return _record_delivery(state, event_id, request.get_json(force=True) or {})

    @blueprint.post(f"{ADMIN}/reset")
    def admin_reset() -> Response:
        state.reset()
        ensure_demo_endpoint(state)
        return json_response({"reset": True})

    @blueprint.get(f"{ADMIN}/dump")
    def admin_dump() -> Response:
        return json_response({kind: [public(obj) for obj in objs] for kind, objs in state.dump().items()})

    @blueprint.get(f"{ADMIN}/requests")
    def admin_requests() -> Response:
        return json_response({"requests": state.requests()})

    @blueprint.route(f"{ADMIN}/faults", methods=["GET", "PUT"])
    def admin_faults() -> Response:
        if request.method == "PUT":
            return _set_faults(state, request.get_json(force=True) or {})
        return json_response(state.faults.as_dict())


def _record_delivery(state: StripeState, event_id: str, delivery: dict[str, Any]) -> Response:
    with state.lock:
        event = state.get(event_id, "event")
        if event is None:
            return json_response(errors.resource_missing("event", event_id).body(), 404)
        status = int(delivery.get("status") or 0)
        event["_deliveries"].append({"url": delivery.get("url"), "status": status})
        if 200 <= status < 300:
            event["pending_webhooks"] = 0
        state.save(event)
    return json_response({"id": event_id, "deliveries": event["_deliveries"]})


def _set_faults(state: StripeState, body: dict[str, Any]) -> Response:
    current = state.faults.as_dict()
    unknown = set(body) - set(current)
    if unknown:
        return json_response({"error": {"type": "invalid_request_error",
                                        "message": f"unknown fault settings: {sorted(unknown)}"}}, 400)
    try:
        state.faults = StripeFaults(
            error_rate=float(body.get("error_rate", current["error_rate"])),
            rate_limit_rate=float(body.get("rate_limit_rate", current["rate_limit_rate"])),
            latency_ms=int(body.get("latency_ms", current["latency_ms"])),
        )
    except (TypeError, ValueError):
        return json_response({"error": {"type": "invalid_request_error",
                                        "message": "fault settings must be numbers"}}, 400)
    return json_response(state.faults.as_dict())
