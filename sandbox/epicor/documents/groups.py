"""Invoice groups and cash receipt groups: caller-chosen GroupID (1-8 characters), one per day.

A duplicate GroupID is a 409. An invoice group defaults InvoiceDate to today and ApplyDate to the
invoice date; a cash group defaults TranDate to today and needs a known BankAcctID. ``CreatedBy`` is
the calling user. Totals (``TotalInvAmt``; ``TotalCashReceived``, ``TotalApplied``,
``UnappliedBalance``) are recomputed by the server whenever a document in the group changes.

The integration never posts; the accountant does, in Epicor. Epicor deletes a group when it posts it,
so an existing group is an unposted one; an invoice group whose ``PostInProcess`` is true is treated
as being posted and refuses new invoices. ``post_group`` (the admin route ``POST
/_sandbox/epicor/groups/<InvcGrps|CashGrps>/<GroupID>/post``) emulates posting as far as the
integration can see it: the group's documents are marked ``Posted`` and the group is removed, so a
document sent to it is refused and a group with the same ``GroupID`` can be created again, whose
totals count only its own (unposted) documents. Balances and the general ledger are not emulated.
"""

from __future__ import annotations

from typing import Any

from ..dates import fiscal_fields, today
from ..errors import business_error
from ..store import RowStore, Txn
from .bank import post_receipt_rows
from .common import WriteContext, bank_or_fail, group_id_or_fail, insert_new, text

INVOICE_GROUP, CASH_GROUP = "InvcGrp", "CashGrp"


def create_invoice_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert an invoice group."""
    row["GroupID"] = group_id_or_fail(row, INVOICE_GROUP)
    row["CreatedBy"] = ctx.username
    _default_invoice_dates(row)
    return insert_new(txn, "InvcGrps", row)


def update_invoice_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                         current: dict) -> None:
    """Save a changed invoice group."""
    _default_invoice_dates(row)
    txn.update("InvcGrps", row)


def _default_invoice_dates(row: dict) -> None:
    row["InvoiceDate"] = row["InvoiceDate"] or today()
    row["ApplyDate"] = row["ApplyDate"] or row["InvoiceDate"]
    row.update(fiscal_fields(row["InvoiceDate"]))


def create_cash_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert a cash receipt group."""
    row["GroupID"] = group_id_or_fail(row, CASH_GROUP)
    row["CreatedBy"] = ctx.username
    _validate_cash_group(txn, ctx, row)
    return insert_new(txn, "CashGrps", row)


def update_cash_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                      current: dict) -> None:
    """Validate and save a changed cash group."""
    _validate_cash_group(txn, ctx, row)
    txn.update("CashGrps", row)


def _validate_cash_group(txn: Txn, ctx: WriteContext, row: dict) -> None:
    row["TranDate"] = row["TranDate"] or today()
    row["BankAcctID"] = bank_or_fail(text(row, "BankAcctID"), CASH_GROUP, txn, ctx.company)
    row.update(fiscal_fields(row["TranDate"]))


def open_invoice_group(txn: Txn, ctx: WriteContext, group_id: str, table: str) -> dict:
    """The invoice group an invoice goes into: it must exist and not be posting."""
    group = txn.get("InvcGrps", (ctx.company, group_id))
    if group is None:
        raise business_error(f"Invoice group {group_id or '(blank)'} is not valid.", table,
                             "GroupID")
    if group["PostInProcess"]:
        raise business_error(f"Invoice group {group_id} is being posted.", table, "GroupID")
    return group


def open_cash_group(txn: Txn, ctx: WriteContext, group_id: str, table: str) -> dict:
    """The cash group a receipt goes into: it must exist (posted groups no longer do)."""
    group = txn.get("CashGrps", (ctx.company, group_id))
    if group is None:
        raise business_error(f"Cash receipt group {group_id or '(blank)'} is not valid.",
                             table, "GroupID")
    return group


def recompute_invoice_group(txn: Txn, company: str, group_id: str) -> None:
    """``TotalInvAmt`` from the group's invoices (not those of an earlier, posted group of that id)."""
    group = txn.get("InvcGrps", (company, group_id))
    group["TotalInvAmt"] = txn.total("ARInvoices", "DocInvoiceAmt", Company=company, GroupID=group_id,
                                     Posted=False)
    txn.update("InvcGrps", group)


def recompute_cash_group(txn: Txn, company: str, group_id: str) -> None:
    """Received, applied and unapplied totals from the group's receipts (unposted ones)."""
    group = txn.get("CashGrps", (company, group_id))
    received = txn.total("CashRecs", "DocTranAmt", Company=company, GroupID=group_id, Posted=False)
    applied = txn.total("CashRecs", "DocAppliedAmt", Company=company, GroupID=group_id, Posted=False)
    group.update(TotalCashReceived=received, TotalApplied=applied,
                 UnappliedBalance=received - applied)
    txn.update("CashGrps", group)


# Each group set, with the document sets (and their GroupID column) whose rows posting marks.
POSTED_WITH = {"InvcGrps": ("ARInvoices",), "CashGrps": ("CashRecs", "CashDtls")}


def post_group(store: RowStore, company: str, set_name: str, group_id: str) -> dict[str, Any] | None:
    """Post a group as the accountant would: its documents marked posted, the group removed.
    What was posted (counts by set), or None when there is no such group."""
    if set_name not in POSTED_WITH:
        raise ValueError(f"not a group set: {set_name}")
    with store.transaction() as txn:
        if txn.get(set_name, (company, group_id)) is None:
            return None
        posted: dict[str, Any] = {"set": set_name, "GroupID": group_id}
        for documents in POSTED_WITH[set_name]:
            rows = [dict(row) for row in txn.where(documents, Company=company, GroupID=group_id, Posted=False)]
            for row in rows:
                txn.update(documents, {**row, "Posted": True})
            posted[documents] = len(rows)
        if set_name == "CashGrps":
            post_receipt_rows(txn, company, group_id)  # the receipts' bank rows are posted with them
    store.remove(set_name, (company, group_id))
    return posted
