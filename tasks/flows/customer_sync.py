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

What is created and which contact values are brought is data: ``mappings/documents/customer_sync`` (customer,
customer_contact). Which of those values are sent is decided at post against Epicor's row.
"""

from __future__ import annotations

from typing import Any

from tasks import store, sync_marks
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import to_wire, validate_documents
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for
from tasks.mapping.customers import contact_changes

FLOW_NAME = "customer_sync"
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
    """The customer to create when new and the contact values to bring, from the mapping files
    (``mappings/documents/customer_sync``)."""
    documents = documents_for(ctx, FLOW_NAME, {"customer": customer})
    return {"stripe_customer": customer, "documents": documents}


def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    validate_documents(stage_input["documents"])
    return stage_input


def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    customer = stage_input["stripe_customer"]
    documents = {doc["kind"]: doc for doc in stage_input["documents"]}
    found = epicor_docs.customer_of(documents["customer"])
    with store.locked(epicor_docs.customer_lock_name(found["match"])):
        cust_num = epicor_docs.resolve_customer(ctx, found)
        row = ctx.epicor.get(*epicor_docs.CUSTOMERS, cust_num) or {"CustNum": cust_num}
        changes = contact_changes(row, documents["customer_contact"]["header"])
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


FLOW = Flow(name=FLOW_NAME, fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240))
