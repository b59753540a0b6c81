"""Customer sync from Stripe: ``customer.created`` / ``customer.updated`` upsert the Epicor customer.

Policy: the Stripe customer is re-read (payloads may be stale or out of order) and found in Epicor
exactly as the payment flow finds a payer, under the same per-customer lock and with the same
cache, so a payment and a customer event racing each other make one Epicor customer, never two.
A customer not in Epicor yet is created with its contact details; one that is there gets only the
contact fields that differ (``tasks.mapping.customers``), and an empty ``ExternalID`` is filled in.

Loop safety with the Epicor → Stripe customer sync (``tasks.sync_marks``): a Stripe customer whose
shared values are the ones the integration last synced is our own echo and is ignored; after each
write both records are marked as in step, so Epicor's ``Customer.Updated`` for our change is
ignored too. Nothing is written when nothing differs, so even without the marks the systems settle
after one read. The Epicor ``CustNum`` is written back to the Stripe customer's metadata once.
"""

from __future__ import annotations

from typing import Any

from tasks import store, sync_marks
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import to_wire, validate_document
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.currency import epicor_currency_code
from tasks.mapping.customers import contact_changes, customer_match, wanted_contact

CUSTOMER_FIELDS = ("id", "name", "email", "phone", "address", "metadata", "currency", "shipping")


def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """The Stripe customer as it is now; an echo of our own sync is ignored."""
    customer = ctx.stripe.customer(envelope["object_id"])
    if not customer:
        raise SkipEvent("the Stripe customer has been deleted")
    if sync_marks.stripe_customer_in_sync(customer):
        raise SkipEvent("Stripe customer already in step with Epicor (our own change)")
    return {name: customer.get(name) for name in CUSTOMER_FIELDS}


def transform(ctx: Context, customer: dict[str, Any]) -> dict[str, Any]:
    currency = epicor_currency_code(customer["currency"], ctx.mappings) if customer.get("currency") else ""
    return {"stripe_customer": customer, "customer": customer_match(customer, ctx.mappings, currency),
            "contact": wanted_contact(customer, ctx.mappings)}


def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    create = stage_input["customer"]["create"]
    currency = create.get("CurrencyCode") or "USD"
    validate_document("customer", create, currency)
    validate_document("customer_contact", stage_input["contact"], currency)
    return stage_input


def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    customer = stage_input["stripe_customer"]
    with store.locked(epicor_docs.customer_lock_name(stage_input["customer"]["match"])):
        cust_num = epicor_docs.resolve_customer(ctx, stage_input["customer"])
        row = ctx.epicor.get(*epicor_docs.CUSTOMERS, cust_num) or {"CustNum": cust_num}
        changes = contact_changes(row, stage_input["contact"])
        if not str(row.get("ExternalID") or "").strip():
            changes["ExternalID"] = customer["id"]
        if changes:
            ctx.epicor.update(*epicor_docs.CUSTOMERS, [cust_num], to_wire("customer_contact", changes))
        sync_marks.remember_epicor_customer(ctx.epicor.company, {**row, **changes}, customer["id"])
        sync_marks.remember_stripe_customer(customer, cust_num)
    return {"keys": {"CustNum": cust_num, "updated": sorted(changes)}, "stripe_customer": customer}


def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write ``epicor_cust_num`` onto the Stripe customer when it does not carry it yet."""
    keys, customer = stage_input["keys"], stage_input["stripe_customer"]
    wanted = str(keys["CustNum"])
    if (customer.get("metadata") or {}).get("epicor_cust_num") != wanted:
        ctx.stripe.update_metadata(customer["id"], {"epicor_cust_num": wanted},
                                   idempotency_key=f"epicor-writeback-{customer['id']}-{wanted}")
    return {"keys": {"CustNum": keys["CustNum"]}}


FLOW = Flow(name="customer_sync", fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
