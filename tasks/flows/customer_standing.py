"""Flow ``customer_standing`` (``customer.subscription.*``, ``invoice.payment_failed``): the event is
only a trigger. The worker re-reads the customer and all its subscriptions from Stripe, so a
``customer.subscription.updated`` that arrives before ``.created``, or a stale retry, still applies
the current state; of two readings applied concurrently the older is discarded. The customer is put
on credit hold while Stripe says it is behind (``tasks.mapping.customers``), and released only from
a hold the integration placed. The ``stripe_invoice`` flow applies the same rule after a paid invoice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tasks import store
from tasks.connectors.stripe_api import StripeRejected
from tasks.connectors.stripe_objects import fields_of, stripe_id
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import to_wire, validate_documents
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for
from tasks.mapping.customers import should_hold, standing_changes, subscription_line

log = logging.getLogger(__name__)

FLOW_NAME = "customer_standing"
CUSTOMER_FIELDS = ("id", "name", "email", "phone", "address", "metadata", "currency", "delinquent")
SUBSCRIPTION_FIELDS = ("id", "status", "created", "customer")


def current_standing(ctx: Context, customer: dict[str, Any] | None) -> dict[str, Any] | None:
    """The customer's standing after this payment; None (left alone) when Stripe cannot list subscriptions."""
    if not customer:
        return None
    try:
        subscriptions = ctx.stripe.subscriptions_of(customer["id"])
    except StripeRejected:
        log.info("subscriptions not listable; the customer's standing is left as it is")
        return None
    return {"delinquent": bool(customer.get("delinquent")),
            "subscriptions": [fields_of(sub, SUBSCRIPTION_FIELDS) for sub in subscriptions]}


def fetch_standing(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the customer and all its subscriptions; the event only says which customer."""
    customer_id = _customer_behind(ctx, envelope)
    customer = ctx.stripe.customer(customer_id) if customer_id else None
    if not customer:
        raise SkipEvent("the Stripe customer no longer exists")
    subscriptions = _subscriptions_of(ctx, customer["id"], envelope)
    return {"customer": fields_of(customer, CUSTOMER_FIELDS),
            "subscriptions": [fields_of(sub, SUBSCRIPTION_FIELDS) for sub in subscriptions],
            "fetched_at": time.time()}


def _subscriptions_of(ctx: Context, customer_id: str, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """All the customer's subscriptions; the event's own one when Stripe cannot list them."""
    try:
        return ctx.stripe.subscriptions_of(customer_id)
    except StripeRejected:
        if envelope["type"].startswith("customer.subscription."):
            return [ctx.stripe.subscription(envelope["object_id"])]
        return []


def _customer_behind(ctx: Context, envelope: dict[str, Any]) -> str | None:
    if envelope["type"].startswith("invoice."):
        return stripe_id(ctx.stripe.retrieve_invoice(envelope["object_id"]).get("customer"))
    return stripe_id(ctx.stripe.subscription(envelope["object_id"]).get("customer"))


def standing_documents(customer: dict[str, Any], subscriptions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hold": should_hold(customer, subscriptions), "comment_line": subscription_line(subscriptions)}


def transform_standing(ctx: Context, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The customer to create when new from its mapping file (``mappings/documents/customer_standing``), and
    the standing the subscriptions call for (decided against Epicor's row at post, so not mapped)."""
    return {"documents": documents_for(ctx, FLOW_NAME, snapshot), "fetched_at": snapshot["fetched_at"],
            "standing": standing_documents(snapshot["customer"], snapshot["subscriptions"])}


def validate_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    validate_documents(stage_input["documents"])
    return stage_input


def post_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    [customer] = stage_input["documents"]
    found = epicor_docs.customer_of(customer)
    with store.locked(epicor_docs.customer_lock_name(found["match"])):
        cust_num = epicor_docs.resolve_customer(ctx, found)
        hold = apply_standing(ctx, cust_num, stage_input["standing"], stage_input["fetched_at"])
    return {"keys": {"CustNum": cust_num, "CreditHold": hold}}


def apply_standing(ctx: Context, cust_num: int, standing: dict[str, Any], fetched_at: float) -> bool:
    """PATCH CreditHold / Comment when they differ; a reading older than one applied is dropped."""
    marks = store.key("standing", ctx.epicor.company, str(cust_num))
    client = store.client()
    applied_at = float(client.hget(marks, "fetched_at") or 0)
    if fetched_at < applied_at:
        return client.hget(marks, "hold") == "1"
    row = ctx.epicor.get(*epicor_docs.CUSTOMERS, cust_num) or {}
    ours = client.hget(marks, "placed_hold") == "1"
    changes = standing_changes(row, standing["hold"], ours, standing["comment_line"])
    if changes:
        ctx.epicor.update(*epicor_docs.CUSTOMERS, [cust_num], to_wire("customer_standing", changes))
    if "CreditHold" in changes:
        client.hset(marks, "placed_hold", "1" if changes["CreditHold"] else "0")
    client.hset(marks, mapping={"fetched_at": str(fetched_at), "hold": "1" if standing["hold"] else "0"})
    return bool(changes.get("CreditHold", row.get("CreditHold")))


def status_update_standing(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    return {"keys": stage_input["keys"]}


FLOW = Flow(name=FLOW_NAME, fetch=fetch_standing, transform=transform_standing, validate=validate_standing,
            post=post_standing, status_update=status_update_standing,
            retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
