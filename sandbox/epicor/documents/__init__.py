"""Business documents: the rules each entity set enforces on create (POST) and update (PATCH).

``create_row``/``update_row`` are the only entry points. They build the candidate row (Epicor's
empty values, then the caller's fields minus the server-owned ones listed in ``schema.COMPUTED``),
check the Company and the key, and hand over to the set's writer, which validates, defaults,
numbers, stores and recomputes dependent totals inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import api_error, business_error, not_found_error
from ..schema import COMPUTED, EntitySet, blank_row
from ..store import Txn
from . import bank, cash, customers, groups, invoices, journals, orders
from .common import WriteContext

Create = Callable[[Txn, WriteContext, dict, dict], dict]
Update = Callable[[Txn, WriteContext, dict, dict, dict], None]

WRITERS: dict[str, tuple[Create, Update]] = {
    "Customers": (customers.create, customers.update),
    "SalesOrders": (orders.create_header, orders.update_header),
    "OrderDtls": (orders.create_line, orders.update_line),
    "InvcGrps": (groups.create_invoice_group, groups.update_invoice_group),
    "ARInvoices": (invoices.create_header, invoices.update_header),
    "InvcDtls": (invoices.create_line, invoices.update_line),
    "CashGrps": (groups.create_cash_group, groups.update_cash_group),
    "CashRecs": (cash.create_header, cash.update_header),
    "CashDtls": (cash.create_line, cash.update_line),
    "BankAdjEntries": (bank.create_group, bank.update_group),
    "BankTrans": (bank.create_adjustment, bank.update_adjustment),
    "GLJrnGrps": (journals.create_group, journals.update_group),
    "GLJournalEntries": (journals.create_header, journals.update_header),
    "GLJrnDtlMnls": (journals.create_line, journals.update_line),
}

__all__ = ["WriteContext", "create_row", "update_row"]


def create_row(txn: Txn, ctx: WriteContext, entity_set: EntitySet, sent: dict[str, Any]) -> dict:
    """Create one row from a POST body; returns the stored row."""
    create, _ = _writers(entity_set)
    _check_company(ctx, entity_set, sent)
    row = blank_row(entity_set.table, ctx.company)
    row.update(_writable(entity_set, sent))
    return create(txn, ctx, row, sent)


def update_row(txn: Txn, ctx: WriteContext, entity_set: EntitySet, key: tuple,
               sent: dict[str, Any]) -> None:
    """Apply a PATCH body to the row at ``key``."""
    _, update = _writers(entity_set)
    current = txn.get(entity_set.name, key)
    if current is None:
        raise not_found_error(entity_set.table)
    _check_company(ctx, entity_set, sent)
    for name in entity_set.keys:
        if name in sent and sent[name] != current[name]:
            raise business_error(f"{name} is a key and cannot be changed.", entity_set.table, name)
    update(txn, ctx, {**current, **_writable(entity_set, sent)}, sent, current)


def _writers(entity_set: EntitySet) -> tuple[Create, Update]:
    if entity_set.name not in WRITERS:
        raise api_error(405, f"Entity set {entity_set.name} is read-only.")
    return WRITERS[entity_set.name]


def _check_company(ctx: WriteContext, entity_set: EntitySet, sent: dict[str, Any]) -> None:
    if sent.get("Company", ctx.company) != ctx.company:
        raise business_error(f"Company {sent['Company']} is not valid.", entity_set.table, "Company")


def _writable(entity_set: EntitySet, sent: dict[str, Any]) -> dict[str, Any]:
    server_owned = COMPUTED[entity_set.table]
    return {name: value for name, value in sent.items() if name not in server_owned}
