"""Epicor ``Customer.Created`` / ``Customer.Updated`` → the Stripe customer, and its id back into Epicor.

Policy:

- The event only names the customer (``CustNum``); the record is always read from Epicor. A
  ``CustNum`` Epicor does not have is a permanent error: the event is dead-lettered at once, never
  retried, since no retry can make the record appear.
- One Stripe customer per Epicor customer. The Stripe customer is found through the Epicor
  ``ExternalID`` (``cus_…``, also set by the payment flow for customers that started in Stripe), or
  the link this flow recorded in Redis; only when neither exists is one created, with an idempotency
  key made of company, ``CustNum`` and ``SysRevID``, under a per-customer lock. A retried or
  concurrent event therefore finds the same customer or replays the same create.
- Only differences are written to Stripe, and the Stripe id is written into ``ExternalID`` only when
  it is not there yet (a non-Stripe value a site keeps there is left alone).
- Loop safety (``tasks.sync_marks``): a ``Customer.Updated`` whose shared values are what the last
  sync left (our own ``ExternalID`` write-back, or a field update made from Stripe) is ``ignored``
  before any Stripe call; after a sync both records' fingerprints are recorded so the
  ``customer.updated`` Stripe sends for our own write is recognised by the Stripe → Epicor flow.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from tasks import store, sync_marks
from tasks.connectors.stripe_api import StripeNotFound
from tasks.context import Context
from tasks.documents import Document
from tasks.epicor.posting import CUSTOMERS
from tasks.errors import PermanentError, ValidationFailed
from tasks.flows import Flow, RetryPolicy, SkipEvent
from tasks.mapping import epicor_to_stripe as mapping
from tasks.mapping.building import documents_for

log = logging.getLogger(__name__)

FLOW_NAME = "epicor_customer"
CUSTOMER_COLUMNS = ("CustNum", "CustID", "Name", "EMailAddress", "PhoneNum", "Address1", "Address2", "Address3",
                    "City", "State", "Zip", "Country", "ExternalID", "TermsCode", "CurrencyCode", "SysRevID")
STRIPE_COLUMNS = ("id", "name", "email", "phone", "address", "metadata")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- reading -------------------------------------------------------------------------------------
def event_number(envelope: dict[str, Any]) -> int:
    """The ``CustNum`` / ``OrderNum`` the receiver put in the envelope's ``object_id``."""
    return int(envelope["object_id"])


def read_customer(ctx: Context, cust_num: int) -> dict[str, Any]:
    row = ctx.epicor.get(*CUSTOMERS, cust_num)
    if row is None:
        raise PermanentError(f"Customer {cust_num} is not in Epicor company {ctx.settings.epicor_company}",
                             reason="epicor.record_missing")
    return {name: row.get(name) for name in CUSTOMER_COLUMNS}


def stripe_id_of(row: dict[str, Any]) -> str | None:
    external_id = str(row.get("ExternalID") or "").strip()
    return external_id if external_id.startswith("cus_") else None


def current_stripe_customer(ctx: Context, customer_id: str | None) -> dict[str, Any] | None:
    """The live Stripe customer, or None when there is none (never created, deleted, unknown id)."""
    if not customer_id:
        return None
    try:
        found = ctx.stripe.customer(customer_id)
    except StripeNotFound:
        log.warning("linked Stripe customer no longer exists; a new one will be created")
        return None
    return {name: found.get(name) for name in STRIPE_COLUMNS} if found else None


def is_own_echo(company: str, row: dict[str, Any]) -> bool:
    """Linked to Stripe and still saying what the last sync left it saying."""
    linked = stripe_id_of(row) or sync_marks.linked_stripe_id(company, row["CustNum"])
    return bool(linked) and sync_marks.epicor_customer_in_sync(company, row)


# -- stages --------------------------------------------------------------------------------------
def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    row = read_customer(ctx, event_number(envelope))
    if envelope["type"] == "Customer.Updated" and is_own_echo(ctx.settings.epicor_company, row):
        raise SkipEvent("no change to the values shared with Stripe since the last sync")
    linked = stripe_id_of(row) or sync_marks.linked_stripe_id(ctx.settings.epicor_company, row["CustNum"])
    return {"customer": row, "stripe_customer": current_stripe_customer(ctx, linked)}


def transform(ctx: Context, fetched: dict[str, Any]) -> dict[str, Any]:
    """The Stripe customer from its mapping file (``mappings/documents/epicor_customer``), and as the Stripe
    parameters it gives with the metadata linking the records (``wanted``: what validate and post send)."""
    documents = customer_documents(ctx, fetched["customer"])
    wanted = mapping.customer_params(documents[0], fetched["customer"], ctx.settings.epicor_company)
    return {**fetched, "documents": documents, "wanted": wanted}


def customer_documents(ctx: Context, row: dict[str, Any]) -> list[Document]:
    """The Stripe customer document of an Epicor customer row (also the sales order flow's customer)."""
    return documents_for(ctx, FLOW_NAME, {"customer": row, "stripe_customer": None})


def check_customer(row: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Values Stripe would refuse, reported before any call, with the Epicor field to fix."""
    if wanted["email"] and not EMAIL.match(wanted["email"]):
        raise ValidationFailed(f"Customer {row['CustNum']} ({row.get('CustID')}): EMailAddress "
                               f"'{wanted['email']}' is not an e-mail address", reason="validation.email")
    if len(wanted["name"]) > 256:
        raise ValidationFailed(f"Customer {row['CustNum']}: Name is longer than Stripe's 256 characters",
                               reason="validation.name")


def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    check_customer(stage_input["customer"], stage_input["wanted"])
    return stage_input


def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    row = stage_input["customer"]
    customer_id, action = sync_customer(ctx, row, stage_input["wanted"], stage_input.get("stripe_customer"))
    return {"keys": {"CustNum": int(row["CustNum"]), "StripeCustomer": customer_id, "stripe_action": action}}


def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    return {"keys": stage_input["keys"]}


# -- the sync itself (also used by the sales order flow) ----------------------------------------
def customer_lock_name(company: str, cust_num: int) -> str:
    return f"epicor-customer:{company}:{int(cust_num)}"


def sync_customer(ctx: Context, row: dict[str, Any], wanted: dict[str, Any],
                  known: dict[str, Any] | None = None) -> tuple[str, str]:
    """Make the Stripe customer say what the Epicor customer says; (cus id, created|updated|unchanged)."""
    company = ctx.settings.epicor_company
    with store.locked(customer_lock_name(company, row["CustNum"])):
        current = _current_under_lock(ctx, company, row, known)
        if current is None:
            current, action = _create(ctx, company, row, wanted), "created"
        else:
            current, action = _update(ctx, company, row, wanted, current)
        sync_marks.remember_stripe_customer(current, row["CustNum"])
        _write_back_external_id(ctx, row, current["id"])
        sync_marks.remember_epicor_customer(company, row, current["id"])
    return current["id"], action


def _current_under_lock(ctx: Context, company: str, row: dict[str, Any],
                        known: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Stripe customer as it is now; another event may have created it since this one's fetch."""
    linked = stripe_id_of(row) or sync_marks.linked_stripe_id(company, row["CustNum"])
    if known and known.get("id") == linked:
        return known
    return current_stripe_customer(ctx, linked)


def _create(ctx: Context, company: str, row: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    key = mapping.customer_create_key(company, int(row["CustNum"]), int(row.get("SysRevID") or 0))
    created = ctx.stripe.create_customer(mapping.create_params(wanted), idempotency_key=key)
    sync_marks.remember_epicor_customer(company, row, created["id"])  # the link, before anything can fail
    log.info("stripe customer created for epicor customer")
    return created


def _update(ctx: Context, company: str, row: dict[str, Any], wanted: dict[str, Any],
            current: dict[str, Any]) -> tuple[dict[str, Any], str]:
    changes = mapping.customer_changes(wanted, current)
    if not changes:
        return current, "unchanged"
    key = mapping.customer_update_key(company, int(row["CustNum"]), int(row.get("SysRevID") or 0), changes)
    updated = ctx.stripe.update_customer(current["id"], changes, idempotency_key=key)
    log.info("stripe customer updated from epicor customer")
    return updated, "updated"


def _write_back_external_id(ctx: Context, row: dict[str, Any], customer_id: str) -> None:
    external_id = str(row.get("ExternalID") or "").strip()
    if external_id == customer_id:
        return
    if external_id and not external_id.startswith("cus_"):
        log.warning("epicor customer ExternalID holds a non-Stripe value; left unchanged")
        return
    ctx.epicor.update(*CUSTOMERS, [int(row["CustNum"])], {"ExternalID": customer_id})
    row["ExternalID"] = customer_id


FLOW = Flow(name=FLOW_NAME, fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=8, backoff_base=5, backoff_max=600))
