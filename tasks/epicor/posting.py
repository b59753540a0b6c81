"""Posting one payment's documents to Epicor, each exactly once.

Order of writes: customer → sales order → order lines → invoice group → AR invoice (``Adv``) →
invoice lines → cash group → cash receipt (``PayInv``) → receipt line applying it to the invoice.
A child is created only after its parent is confirmed, so:

- a document is looked up by its external reference (contract §4) unless the payment's journal
  already records it with its lines, or its parent was created in this same run (then it cannot
  exist yet); the journal is written once per document, after its lines;
- lines of a parent found by look-up are listed and only the missing ones created (a crash between a
  header and its lines is repaired on the next attempt);
- a 409 on create means the row exists (our own earlier create that timed out): look it up.

With warm caches a new payment costs one look-up and six writes; a second event of the same payment
costs none.

Locks: a payment's documents are posted under that payment's lock (``payment_lock_name``), because
two of its events (or a redelivery beside a ``dlq retry``) could otherwise both miss the look-up of
its sales order and create it twice; Epicor enforces no uniqueness on ``IntExternalKey``. Payments of
one customer need no common lock: each has its own documents, and the daily groups are created
idempotently (a 409 means another worker made it). The customer is found without a lock; only when
it must be created is the customer's creation lock taken, and the look-up repeated under it, so a
burst of guest payments to the one catch-all customer posts side by side once that customer exists.

Reference data (``tasks.mapping.reference``): Epicor's 400 on a reference column (a part, currency,
terms code, bank account …) is turned into the accountant's error that names the mapping key and the
Epicor screen (``reference_refusals``); the catch-all customer is found or created by its CustID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tasks import store
from tasks.connectors.epicor import AlreadyExists, EpicorError, eq_filter
from tasks.context import Context
from tasks.documents import Document, fill_values
from tasks.epicor.schemas import to_wire
from tasks.errors import PermanentError
from tasks.mapping import reference

CUSTOMERS = ("Erp.BO.CustomerSvc", "Customers")
PARTS = ("Erp.BO.PartSvc", "Parts")
ORDERS = ("Erp.BO.SalesOrderSvc", "SalesOrders")
ORDER_LINES = ("Erp.BO.SalesOrderSvc", "OrderDtls")
INVOICE_GROUPS = ("Erp.BO.InvcGrpSvc", "InvcGrps")
INVOICES = ("Erp.BO.ARInvoiceSvc", "ARInvoices")
INVOICE_LINES = ("Erp.BO.ARInvoiceSvc", "InvcDtls")
CASH_GROUPS = ("Erp.BO.CashGrpSvc", "CashGrps")
RECEIPTS = ("Erp.BO.CashRecSvc", "CashRecs")
RECEIPT_LINES = ("Erp.BO.CashRecSvc", "CashDtls")
# Document kinds whose lines carry parts and units of measure.
ITEM_KINDS = ("sales_order", "ar_invoice", "credit_memo")

log = logging.getLogger(__name__)


# -- master data ---------------------------------------------------------------------------------
def part_exists(ctx: Context, part_num: str) -> bool:
    if store.cache_get("part", part_num):
        return True
    found = ctx.epicor.get(*PARTS, part_num) is not None
    if found:
        store.cache_set(1, "part", part_num)
    return found


def check_parts(ctx: Context, parts: list[str]) -> None:
    """Parts are required reference data (``tasks.mapping.reference``): a missing one stops the payment
    at validate, before any write, with the part, Part Maintenance and the parts.yaml key that maps to it."""
    missing = [part for part in parts if not part_exists(ctx, part)]
    if missing:
        raise reference.missing("part", missing, ctx.mappings)


def customer_lock_name(match: dict[str, Any]) -> str:
    """The lock of flows that change one customer (contact sync, subscriptions)."""
    identity = match.get("external_id") or match.get("cust_num") or match.get("cust_id") or match.get("email")
    return f"customer:{identity or 'catch-all'}"


def customer_creation_lock_name(match: dict[str, Any]) -> str:
    """Taken only to create a customer; its own name, so a flow holding ``customer_lock_name`` may create."""
    return "customer-create:" + customer_lock_name(match).partition(":")[2]


def payment_lock_name(payment_key: str) -> str:
    """The lock of one payment's documents: its sale, and the refunds, disputes and holds against it."""
    return f"payment:{payment_key}"


def resolve_customer(ctx: Context, customer: dict[str, Any]) -> int:
    """The Epicor CustNum for the payment, creating the customer when it is new."""
    match = customer["match"]
    if match.get("catch_all"):
        return _customer_by(ctx, customer, CustID=customer["create"]["CustID"])
    if match.get("cust_num"):
        return _existing_customer(ctx, "CustNum", int(match["cust_num"]))
    if match.get("cust_id"):
        return _existing_customer(ctx, "CustID", str(match["cust_id"]))
    if match.get("external_id"):
        return _customer_by(ctx, customer, ExternalID=match["external_id"])
    if match.get("email"):
        return _customer_by(ctx, customer, EMailAddress=match["email"])
    return _customer_by(ctx, customer, CustID=customer["create"]["CustID"])


def _existing_customer(ctx: Context, field: str, value: str | int) -> int:
    """A customer the Stripe metadata (``epicor_cust_num`` / ``epicor_cust_id``) names: never created."""
    row = ctx.epicor.find_one(*CUSTOMERS, **{field: value})
    if not row:
        raise PermanentError(f"Customer {field} {value!r} named in the Stripe metadata is not in Epicor",
                             reason="mapping.unknown_customer")
    return int(row["CustNum"])


def _customer_by(ctx: Context, customer: dict[str, Any], **lookup: str) -> int:
    (field, value), = lookup.items()
    cached = store.cache_get("customer", field, value)
    if cached:
        return int(cached)
    row = ctx.epicor.find_one(*CUSTOMERS, **lookup) or _create_once(ctx, customer, lookup)
    store.cache_set(row["CustNum"], "customer", field, value)
    return int(row["CustNum"])


def _create_once(ctx: Context, customer: dict[str, Any], lookup: dict[str, str]) -> dict[str, Any]:
    """Create the customer under its creation lock, unless a worker that held it first has made it.

    The worker that creates notes the new CustNum before it lets the lock go, so one that waited finds
    it in the cache, with no second look-up in Epicor; should the note be lost, its create is refused
    with a 409 (the CustID is derived from the same Stripe id or e-mail) and it looks the customer up.
    """
    (field, value), = lookup.items()
    with store.locked(customer_creation_lock_name(customer["match"])):
        cached = store.cache_get("customer", field, value)
        if cached:
            return {"CustNum": int(cached)}
        row = _create_customer(ctx, customer, lookup)
        store.cache_set(row["CustNum"], "customer", field, value)
        return row


def _create_customer(ctx: Context, customer: dict[str, Any], lookup: dict[str, str]) -> dict[str, Any]:
    """Create with the deterministic CustID; on a collision with another customer try the next one."""
    candidates = [customer["create"]["CustID"], *customer.get("cust_id_alternates", [])]
    for cust_id in candidates:
        try:
            return ctx.epicor.create(*CUSTOMERS, to_wire("customer", {**customer["create"], "CustID": cust_id}))
        except AlreadyExists:
            found = ctx.epicor.find_one(*CUSTOMERS, **lookup)
            if found:
                return found
        except EpicorError as refused:
            raise _customer_refusal(ctx, customer, refused) from refused
    raise PermanentError(f"Every CustID tried for this customer is taken in Epicor: {', '.join(candidates)}",
                         reason="epicor.custid_exhausted")


def _customer_refusal(ctx: Context, customer: dict[str, Any], refused: EpicorError) -> Exception:
    """A refused create as the accountant's error: its terms or currency code, or the catch-all itself."""
    create = customer["create"]
    sent = {"TermsCode": create.get("TermsCode") or "", "CurrencyCode": create.get("CurrencyCode") or ""}
    explained = reference.from_refusal(refused.status, refused.error_type, refused.field, refused.message, sent,
                                       ctx.mappings)
    if explained is None and customer["match"].get("catch_all") and refused.status == 400:
        explained = reference.missing("catch_all_customer", create["CustID"], ctx.mappings, epicor_said=refused.message)
    return explained or refused


# -- reference data refused by Epicor ------------------------------------------------------------
def document_codes(documents: dict[str, Any] | list[Document]) -> dict[str, str]:
    """The reference codes a payment's (or adjustment's) documents send, by Epicor column."""
    if isinstance(documents, list):
        return _codes_of(documents)
    customer = (documents.get("customer") or {}).get("create") or {}
    receipt = (documents.get("receipt") or {}).get("header") or {}
    invoice = documents.get("invoice") or {}
    lines = [*((documents.get("order") or {}).get("lines") or []), *(invoice.get("lines") or [])]
    codes = {"CurrencyCode": documents.get("currency") or "", "TermsCode": customer.get("TermsCode") or "",
             "BankAcctID": receipt.get("BankAcctID") or (documents.get("cash_group") or {}).get("BankAcctID") or "",
             "SalesUM": next((line["SalesUM"] for line in lines if line.get("SalesUM")), ""),
             "CMReason": (invoice.get("header") or {}).get("CMReason") or ""}
    parts = list(dict.fromkeys(line["PartNum"] for line in lines if line.get("PartNum")))
    return codes | ({"PartNum": parts[0]} if len(parts) == 1 else {})


def _codes_of(documents: list[Document]) -> dict[str, str]:
    """``document_codes`` of documents in the one shape (``tasks.documents``)."""
    headers = {doc["kind"]: doc["header"] for doc in documents}
    memo = headers.get("ar_invoice") or headers.get("credit_memo") or {}
    lines = [line for doc in documents if doc["kind"] in ITEM_KINDS for line in doc["lines"]]
    codes = {"CurrencyCode": next((doc["currency"] for doc in documents if doc["currency"]), ""),
             "TermsCode": headers.get("customer", {}).get("TermsCode") or "",
             "BankAcctID": (headers.get("cash_receipt", {}).get("BankAcctID")
                            or headers.get("cash_group", {}).get("BankAcctID") or ""),
             "SalesUM": next((line["SalesUM"] for line in lines if line.get("SalesUM")), ""),
             "CMReason": memo.get("CMReason") or ""}
    parts = parts_of(documents)
    return codes | ({"PartNum": parts[0]} if len(parts) == 1 else {})


def parts_of(documents: list[Document]) -> list[str]:
    """The distinct parts the documents' order and invoice lines name, in line order."""
    return list(dict.fromkeys(line["PartNum"] for doc in documents if doc["kind"] in ITEM_KINDS
                              for line in doc["lines"] if line.get("PartNum")))


def explain_refusal(ctx: Context, refused: EpicorError, codes: dict[str, str],
                    parts: list[str] | None = None) -> Exception:
    """Epicor's refusal of a reference code as the accountant's error; any other refusal unchanged."""
    if refused.field == "PartNum" and parts:
        absent = [part for part in parts if not part_exists(ctx, part)]
        if absent:
            return reference.missing("part", absent, ctx.mappings, epicor_said=refused.message)
    explained = reference.from_refusal(refused.status, refused.error_type, refused.field, refused.message, codes,
                                       ctx.mappings)
    return explained or refused


@contextmanager
def reference_refusals(ctx: Context, documents: dict[str, Any] | list[Document]) -> Iterator[None]:
    """Post ``documents`` with Epicor's reference-data refusals explained (``explain_refusal``)."""
    try:
        yield
    except EpicorError as refused:
        parts = parts_of(documents) if isinstance(documents, list) else documents.get("parts")
        explained = explain_refusal(ctx, refused, document_codes(documents), parts)
        if explained is refused:
            raise
        raise explained from refused


# -- groups --------------------------------------------------------------------------------------
def ensure_group(ctx: Context, entity: tuple[str, str], kind: str, group: dict[str, Any]) -> str:
    group_id = group["GroupID"]
    if store.cache_get("group", entity[1], group_id):
        return group_id
    if ctx.epicor.get(*entity, group_id) is None:
        ctx.epicor.ensure(*entity, {"GroupID": group_id}, to_wire(kind, group), known_absent=True)
    store.cache_set(1, "group", entity[1], group_id, ttl=6 * 3600)
    return group_id


def ensure_in_group(ctx: Context, groups: tuple[str, str], kind: str, group: dict[str, Any],
                    documents: tuple[str, str], lookup: dict[str, str | int],
                    row_for: Callable[[str], dict[str, Any]], *, known_absent: bool = False,
                    ) -> tuple[dict[str, Any], bool]:
    """``ensure`` a document (invoice, receipt) in the day's group; (row, created).

    That a group exists is cached for hours, but the accountant may post the day's group meanwhile,
    and Epicor removes a group once it is posted. So when Epicor refuses the document and the group
    is indeed gone, the cached fact is dropped, the group created again and the document tried once
    more; a refusal with the group still there is the document's own problem and is raised as is.
    """
    group_id = ensure_group(ctx, groups, kind, group)
    try:
        return ctx.epicor.ensure(*documents, lookup, row_for(group_id), known_absent=known_absent)
    except EpicorError as refused:
        if refused.status != 400 or isinstance(refused, AlreadyExists) or ctx.epicor.get(*groups, group_id):
            raise
    log.warning("group %s of %s is gone from Epicor (posted?); creating it again", group_id, groups[1])
    store.cache_forget("group", groups[1], group_id)
    group_id = ensure_group(ctx, groups, kind, group)
    return ctx.epicor.ensure(*documents, lookup, row_for(group_id), known_absent=known_absent)


# -- documents -----------------------------------------------------------------------------------
def post_payment(ctx: Context, payment_key: str, documents: list[Document],
                 object_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """Post every document not posted yet, filling in the keys Epicor assigns as they come; then the
    journal is complete and ``object_ids`` (the payment's charge, PaymentIntent, Checkout Session) are
    remembered as belonging to it."""
    journal = store.journal(payment_key)
    if journal.get("complete"):
        if object_ids:  # an event whose object the payment's first poster did not know (a Checkout Session)
            store.complete_payment(payment_key, *object_ids)
        return keys_from(journal)
    docs = {doc["kind"]: doc for doc in documents}
    cust_num = journal.get("CustNum") or resolve_customer(ctx, customer_of(docs["customer"]))
    keys: dict[str, Any] = {"CustNum": int(cust_num)}
    keys["OrderNum"], fresh = _ensure_order(ctx, payment_key, docs["sales_order"], journal, keys)
    keys["InvoiceNum"], fresh = _ensure_invoice(ctx, payment_key, docs, journal, keys, parent_fresh=fresh)
    group_id, head_num = ensure_cash_receipt(ctx, docs["cash_group"], docs["cash_receipt"], payment_key, keys,
                                             parent_fresh=fresh)
    store.complete_payment(payment_key, *object_ids)
    return keys | {"CashGroupID": group_id, "HeadNum": head_num}


# How the history names the documents of each kind (``history.extract``).
HISTORY_ENTITIES = {"customer": "Customer", "sales_order": "SalesOrder", "ar_invoice": "ARInvoice",
                    "credit_memo": "CreditMemo", "cash_receipt": "CashReceipt"}


def document_references(documents: list[Document]) -> dict[str, str]:
    """Each posted document's own external reference, by history entity: the customer's Stripe id (none
    for a guest), the order's payment key, the invoice's and receipt's charge id."""
    references = {}
    for doc in documents:
        entity = HISTORY_ENTITIES.get(doc["kind"])
        own = (doc["reference"].get("match") or {}).get("external_id") if doc["kind"] == "customer" else \
            next((value for value in doc["reference"].values() if isinstance(value, str)), None)
        if entity and own:
            references[entity] = own
    return references


def customer_of(doc: Document) -> dict[str, Any]:
    """A customer document as ``resolve_customer`` reads it: how to find it, and what to create."""
    return {"match": doc["reference"]["match"], "create": doc["header"],
            "cust_id_alternates": doc["reference"].get("cust_id_alternates") or []}


def keys_from(journal: dict[str, str]) -> dict[str, Any]:
    return {"CustNum": int(journal["CustNum"]), "OrderNum": int(journal["OrderNum"]),
            "InvoiceNum": int(journal["InvoiceNum"]), "CashGroupID": journal["CashGroupID"],
            "HeadNum": int(journal["HeadNum"])}


def _ensure_order(ctx: Context, payment_key: str, order: Document, journal: dict[str, str],
                  keys: dict[str, Any]) -> tuple[int, bool]:
    if journal.get("OrderNum") and journal.get("order_lines"):
        return int(journal["OrderNum"]), False
    header = to_wire("order_header", fill_values(order["header"], keys))
    row, fresh = ctx.epicor.ensure(*ORDERS, fill_values(order["reference"], keys), header)
    order_num = int(row["OrderNum"])
    lines = [to_wire("order_line", fill_values(line, keys | {"OrderNum": order_num})) for line in order["lines"]]
    ensure_lines(ctx, ORDER_LINES, "OrderLine", {"OrderNum": order_num}, lines, parent_fresh=fresh)
    store.journal_set(payment_key, CustNum=keys["CustNum"], OrderNum=order_num, order_lines=1)
    return order_num, fresh


def _ensure_invoice(ctx: Context, payment_key: str, docs: dict[str, Document], journal: dict[str, str],
                    keys: dict[str, Any], *, parent_fresh: bool) -> tuple[int, bool]:
    if journal.get("InvoiceNum") and journal.get("invoice_lines"):
        return int(journal["InvoiceNum"]), False
    invoice_num, fresh = ensure_ar_document(ctx, docs["invoice_group"], docs["ar_invoice"], keys,
                                            known_absent=parent_fresh)
    store.journal_set(payment_key, InvoiceNum=invoice_num, invoice_lines=1)
    return invoice_num, fresh


def ensure_ar_document(ctx: Context, group: Document, invoice: Document, keys: dict[str, Any], *,
                       known_absent: bool = False, journal_key: str | None = None) -> tuple[int, bool]:
    """An AR invoice or credit memo in its day's group, and its lines; (InvoiceNum, created). With a
    ``journal_key`` its number is journalled as soon as the header exists (before the lines)."""
    row, fresh = ensure_in_group(
        ctx, INVOICE_GROUPS, "invoice_group", group["header"], INVOICES, fill_values(invoice["reference"], keys),
        lambda group_id: to_wire("invoice_header", fill_values(invoice["header"], keys | {"GroupID": group_id})),
        known_absent=known_absent)
    invoice_num = int(row["InvoiceNum"])
    if journal_key:
        store.journal_set(journal_key, InvoiceNum=invoice_num)
    assigned = keys | {"InvoiceNum": invoice_num}
    lines = [to_wire("invoice_line", fill_values(line, assigned)) for line in invoice["lines"]]
    ensure_lines(ctx, INVOICE_LINES, "InvoiceLine", {"InvoiceNum": invoice_num}, lines, parent_fresh=fresh)
    return invoice_num, fresh


def ensure_cash_receipt(ctx: Context, group: Document, receipt: Document, journal_key: str, keys: dict[str, Any],
                        *, parent_fresh: bool) -> tuple[str, int]:
    """The cash receipt and its line applying it to ``keys["InvoiceNum"]``, as transform built them;
    (GroupID, HeadNum)."""
    row, fresh = ensure_in_group(
        ctx, CASH_GROUPS, "cash_group", group["header"], RECEIPTS, fill_values(receipt["reference"], keys),
        lambda group_id: to_wire("receipt_header", fill_values(receipt["header"], keys | {"GroupID": group_id})),
        known_absent=parent_fresh)
    group_id, head_num = str(row["GroupID"]), int(row["HeadNum"])
    store.journal_set(journal_key, CashGroupID=group_id, HeadNum=head_num)
    assigned = keys | {"GroupID": group_id, "HeadNum": head_num}
    lines = [to_wire("receipt_line", fill_values(line, assigned)) for line in receipt["lines"]]
    ensure_lines(ctx, RECEIPT_LINES, "InvoiceNum", {"GroupID": group_id, "HeadNum": head_num}, lines,
                 parent_fresh=fresh)
    return group_id, head_num


def ensure_lines(ctx: Context, entity: tuple[str, str], line_key: str, parent: dict[str, Any],
                 lines: list[dict[str, Any]], *, parent_fresh: bool) -> None:
    """Create the lines that are not there yet (all of them when the parent is brand new)."""
    existing: set[Any] = set()
    if not parent_fresh:
        existing = {row.get(line_key) for row in ctx.epicor.query(*entity, eq_filter(**parent))}
    for line in lines:
        if line[line_key] in existing:
            continue
        try:
            ctx.epicor.create(*entity, line)
        except AlreadyExists:
            continue
