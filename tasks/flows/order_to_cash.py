"""Order-to-cash: one Stripe payment becomes an Epicor customer, sales order, invoice and receipt.

All the events of one payment (``charge.succeeded``, ``payment_intent.succeeded``,
``checkout.session.completed`` …) resolve to the same payment key (the PaymentIntent id, or the charge
id when there is none) and so to the same documents: each document is looked up by its external
reference before it is created (contract §4), and the postings of one payment are serialised by that
payment's Redis lock (a customer is created under its own lock, only when new). A journal per
payment remembers what is already posted so a second event costs no Epicor call; when the journal is
lost the look-ups still prevent duplicates.
"""

from __future__ import annotations

from typing import Any

from tasks import store
from tasks.connectors.stripe_objects import stripe_id
from tasks.context import Context
from tasks.epicor import posting as epicor_docs
from tasks.epicor.schemas import validate_documents
from tasks.flows import AlreadyPosted, Flow, RetryPolicy, SkipEvent
from tasks.mapping.building import documents_for

FLOW_NAME = "order_to_cash"
WRITEBACK_KEYS = ("epicor_cust_num", "epicor_order_num", "epicor_invoice_num")


# -- fetch ---------------------------------------------------------------------------------------
# Related objects come back expanded in the same round trip (one Stripe call instead of three).
CHARGE_EXPAND = ("payment_intent", "customer")
INTENT_EXPAND = ("latest_charge", "customer")


def fetch(ctx: Context, envelope: dict[str, Any]) -> dict[str, Any]:
    """Re-read the payment from Stripe; the webhook payload itself is never trusted.

    Only when the journal shows that another event of the same payment already posted every
    document does the event finish here, without a Stripe or Epicor call.
    """
    _finish_if_posted(envelope["object_id"])
    session = None
    intent: dict[str, Any] | None
    if envelope["type"].startswith("checkout.session."):
        session = _paid_session(ctx, envelope["object_id"])
        intent = ctx.stripe.payment_intent(session["payment_intent"], expand=INTENT_EXPAND)
        charge = _latest_charge(ctx, intent)
    elif envelope["type"].startswith("payment_intent."):
        intent = ctx.stripe.payment_intent(envelope["object_id"], expand=INTENT_EXPAND)
        charge = _latest_charge(ctx, intent)
    else:
        charge = ctx.stripe.charge(envelope["object_id"], expand=CHARGE_EXPAND)
        intent = _intent_of(ctx, charge)
    _ensure_postable(charge, intent)
    _skip_invoice_payment(ctx, charge, intent)
    if intent and session is None:
        session = ctx.stripe.checkout_session_for(intent["id"])
    return _normalized_payment(ctx, charge, intent, session)


def _finish_if_posted(object_id: str) -> None:
    keys = settled(object_id)
    if keys is not None:
        raise AlreadyPosted(keys)


def settled(object_id: str) -> dict[str, Any] | None:
    """The Epicor keys of the payment a charge, PaymentIntent or Checkout Session belongs to, once
    every document of it is posted; None before (or when the journal was lost)."""
    payment_key = store.payment_of(object_id)
    journal = store.journal(payment_key) if payment_key else {}
    return epicor_docs.keys_from(journal) if journal.get("complete") else None


def _paid_session(ctx: Context, session_id: str) -> dict[str, Any]:
    session = ctx.stripe.checkout_session(session_id)
    if session.get("payment_status") != "paid" or not session.get("payment_intent"):
        raise SkipEvent("checkout session is not paid (or was a subscription / setup session)")
    session["payment_intent"] = stripe_id(session["payment_intent"])
    return session


def _latest_charge(ctx: Context, intent: dict[str, Any]) -> dict[str, Any]:
    latest = intent.get("latest_charge")
    return latest if isinstance(latest, dict) else ctx.stripe.charge(_latest_charge_id(intent))


def _intent_of(ctx: Context, charge: dict[str, Any]) -> dict[str, Any] | None:
    intent = charge.get("payment_intent")
    if not intent or isinstance(intent, dict):
        return intent or None
    return ctx.stripe.payment_intent(intent)


def _latest_charge_id(intent: dict[str, Any]) -> str:
    charge_id = stripe_id(intent.get("latest_charge"))
    if not charge_id:
        charges = (intent.get("charges") or {}).get("data") or []  # API versions before 2022-11-15
        charge_id = charges[-1]["id"] if charges else None
    if not charge_id:
        raise SkipEvent("payment intent has no charge")
    return charge_id


def _ensure_postable(charge: dict[str, Any], intent: dict[str, Any] | None) -> None:
    if charge.get("status") != "succeeded" or charge.get("captured") is False:
        raise SkipEvent("charge has not succeeded and been captured yet")
    if charge.get("invoice") or (intent or {}).get("invoice"):
        raise SkipEvent("payment of a Stripe invoice: posted by the invoice flow")


def _skip_invoice_payment(ctx: Context, charge: dict[str, Any], intent: dict[str, Any] | None) -> None:
    """From basil on a charge no longer names its invoice: ask Stripe's InvoicePayments instead.

    Objects of an earlier API version still carry the ``invoice`` field (null when the payment paid
    no invoice, which ``_ensure_postable`` has already checked), so they need no such call."""
    if "invoice" in charge or "invoice" in (intent or {}):
        return
    if intent:
        invoice = ctx.stripe.invoice_paid_by(payment_intent=intent["id"])
    else:
        invoice = ctx.stripe.invoice_paid_by(charge=charge["id"])
    if invoice:
        raise SkipEvent(f"payment of Stripe invoice {invoice}: posted by the invoice flow")


def _normalized_payment(ctx: Context, charge: dict[str, Any], intent: dict[str, Any] | None,
                        session: dict[str, Any] | None) -> dict[str, Any]:
    customer_id = stripe_id(charge.get("customer")) or stripe_id((intent or {}).get("customer"))
    return {
        "payment_key": intent["id"] if intent else charge["id"],
        "charge": _pick(charge, "id", "amount", "amount_captured", "currency", "created", "description",
                        "metadata", "billing_details", "status", "captured") | {
            "customer": customer_id, "payment_intent": (intent or {}).get("id")},
        "payment_intent": _pick(intent, "id", "amount", "amount_received", "currency", "created",
                                "description", "metadata") | {"customer": customer_id} if intent else None,
        "customer": _pick(_customer(ctx, customer_id, charge, intent), "id", "name", "email", "phone",
                          "address", "metadata") if customer_id else None,
        "checkout_session": _pick(session, "id", "customer_details", "metadata") if session else None,
        "line_items": _line_items(ctx, session["id"]) if session else None,
    }


def _customer(ctx: Context, customer_id: str, *holders: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Stripe customer, as expanded on the charge or intent when it was; None once deleted."""
    for holder in holders:
        expanded = (holder or {}).get("customer")
        if isinstance(expanded, dict) and expanded.get("id") == customer_id:
            return None if expanded.get("deleted") else expanded
    return ctx.stripe.customer(customer_id)


def _pick(source: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    return {name: (source or {}).get(name) for name in names}


def _line_items(ctx: Context, session_id: str) -> list[dict[str, Any]]:
    return [_line_item(ctx, item) for item in ctx.stripe.line_items(session_id)]


def _line_item(ctx: Context, item: dict[str, Any]) -> dict[str, Any]:
    price = item.get("price") or {}
    product = price.get("product")
    product = product if isinstance(product, dict) else (ctx.stripe.product(product) if product else {})
    return {
        "description": item.get("description") or product.get("name"), "quantity": item.get("quantity") or 1,
        "amount_total": item.get("amount_total"), "unit_amount": price.get("unit_amount"),
        "currency": item.get("currency"), "price_id": price.get("id"), "product_id": product.get("id"),
        "price_metadata": price.get("metadata") or {}, "product_metadata": product.get("metadata") or {},
    }


# -- transform -----------------------------------------------------------------------------------
def transform(ctx: Context, payment: dict[str, Any]) -> dict[str, Any]:
    """The payment's documents from the field mapping files (``mappings/documents/order_to_cash``). The
    engine re-reads a file only when its size or modification time changed, so an edited file takes
    effect on the next payment, without a restart, at the cost of a stat per file per event."""
    documents = documents_for(ctx, FLOW_NAME, payment)
    session_id = (payment.get("checkout_session") or {}).get("id")
    payment_key, charge_id = payment["payment_key"], payment["charge"]["id"]
    return {"documents": documents, "payment_key": payment_key, "charge_id": charge_id,
            "writeback": _writeback_targets(payment),
            "object_ids": [payment_key, charge_id, *([session_id] if session_id else [])]}


def _writeback_targets(payment: dict[str, Any]) -> list[dict[str, Any]]:
    """Objects that get the Epicor numbers, with the values they already carry."""
    objects = [payment["charge"], payment.get("payment_intent")]
    return [{"id": obj["id"], "metadata": {k: v for k, v in (obj.get("metadata") or {}).items()
                                           if k in WRITEBACK_KEYS}} for obj in objects if obj]


# -- validate ------------------------------------------------------------------------------------
def validate(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Every document against its Epicor schema, then the parts its lines name exist in Epicor."""
    validate_documents(stage_input["documents"])
    epicor_docs.check_parts(ctx, epicor_docs.parts_of(stage_input["documents"]))
    return stage_input


# -- post ----------------------------------------------------------------------------------------
def post(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Post under the payment's own lock (not the customer's: guests of the catch-all post side by side)."""
    documents, payment_key = stage_input["documents"], stage_input["payment_key"]
    object_ids = tuple(stage_input.get("object_ids") or (payment_key, stage_input["charge_id"]))
    with store.locked(epicor_docs.payment_lock_name(payment_key)), epicor_docs.reference_refusals(ctx, documents):
        keys = epicor_docs.post_payment(ctx, payment_key, documents, object_ids)
    return {"keys": keys, "writeback": stage_input["writeback"], "payment_key": payment_key,
            "references": epicor_docs.document_references(documents)}


# -- status-update -------------------------------------------------------------------------------
def status_update(ctx: Context, stage_input: dict[str, Any]) -> dict[str, Any]:
    """Write the Epicor numbers onto the charge and PaymentIntent, once per payment: the journal
    remembers what was written, so the payment's other events cost no Stripe call."""
    keys = stage_input["keys"]
    wanted = {"epicor_cust_num": str(keys["CustNum"]), "epicor_order_num": str(keys["OrderNum"]),
              "epicor_invoice_num": str(keys["InvoiceNum"])}
    payment_key = stage_input.get("payment_key")
    journal = store.journal(payment_key) if payment_key else {}
    written = {}
    for target in stage_input["writeback"]:
        idempotency_key = _writeback_key(target["id"], wanted)
        if target["metadata"] != wanted and journal.get(f"writeback:{target['id']}") != idempotency_key:
            ctx.stripe.update_metadata(target["id"], wanted, idempotency_key=idempotency_key)
            written[f"writeback:{target['id']}"] = idempotency_key
    if payment_key and written:
        store.journal_set(payment_key, **written)
    return {"keys": keys}


def _writeback_key(object_id: str, metadata: dict[str, str]) -> str:
    return "epicor-writeback-" + object_id + "-" + "-".join(metadata[k] for k in WRITEBACK_KEYS)


FLOW = Flow(name=FLOW_NAME, fetch=fetch, transform=transform, validate=validate, post=post,
            status_update=status_update, retry=RetryPolicy(max_retries=20, backoff_base=5, backoff_max=240),
            settled=settled)

