"""Helpers every document's rules share: lookups that fail as Epicor fails, numbering, amounts.

A lookup of a referenced record (customer, currency, order...) that finds nothing is a 400
``Ice.BLException`` naming the table and field of the row being written, because to the caller it is
a business error in that row, not a missing URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import business_error, duplicate_error
from ..money import check_decimals, to_decimal
from ..reference import BANK_ACCOUNTS, CURRENCIES, TERMS
from ..schema import ENTITY_SETS, MONEY, key_of
from ..store import Txn


@dataclass(frozen=True)
class WriteContext:
    """Who writes, for which company, under which emulator settings."""

    company: str
    username: str
    strict_parts: bool


def text(row: dict, field: str) -> str:
    """A text column stripped of surrounding blanks."""
    return (row.get(field) or "").strip()


def amount(row: dict, field: str) -> Decimal:
    """A numeric column as an exact decimal."""
    return to_decimal(row.get(field))


def customer_or_fail(txn: Txn, ctx: WriteContext, cust_num: int, table: str) -> dict:
    """The customer ``cust_num`` or a 400 on ``table.CustNum``."""
    customer = txn.get("Customers", (ctx.company, cust_num))
    if customer is None:
        raise business_error(f"Customer {cust_num} is not valid.", table, "CustNum")
    return customer


def order_or_fail(txn: Txn, ctx: WriteContext, order_num: int, table: str) -> dict:
    """The sales order ``order_num`` or a 400 on ``table.OrderNum``."""
    order = txn.get("SalesOrders", (ctx.company, order_num))
    if order is None:
        raise business_error(f"Sales order {order_num} is not valid.", table, "OrderNum")
    return order


def currency_or_fail(code: str, table: str) -> str:
    """``code`` when it is a known currency, else a 400."""
    if code not in CURRENCIES:
        raise business_error(f"Currency code {code} is not valid.", table, "CurrencyCode")
    return code


def terms_or_fail(code: str, table: str) -> str:
    """``code`` when blank or known terms, else a 400."""
    if code and code not in TERMS:
        raise business_error(f"Terms code {code} is not valid.", table, "TermsCode")
    return code


def bank_or_fail(code: str, table: str, txn: Txn | None = None, company: str = "") -> str:
    """``code`` when it is a known bank account, else a 400: with ``txn``, an open row of ``BankAccts``
    (a site's clearing bank per currency included), as §5b holds every bank; else the seeded one."""
    if txn is None:
        known = code in BANK_ACCOUNTS
    else:
        bank = txn.get("BankAccts", (company, code)) if code else None
        known = bank is not None and not bank["Closed"]
    if not known:
        raise business_error(f"Bank account {code or '(blank)'} is not valid.", table, "BankAcctID")
    return code


def check_sent_amounts(table: str, sent: dict[str, Any], currency: str) -> None:
    """Hold each caller-sent amount of ``table`` to ``currency``'s decimal places."""
    for field in MONEY.get(table, ()):
        if field in sent:
            check_decimals(sent[field], currency, table, field)


def group_id_or_fail(row: dict, table: str) -> str:
    """A caller-chosen group id: non-blank and at most 8 characters."""
    group_id = text(row, "GroupID")
    if not group_id or len(group_id) > 8:
        raise business_error("Group ID must be 1 to 8 characters.", table, "GroupID")
    return group_id


def insert_new(txn: Txn, set_name: str, row: dict) -> dict:
    """Insert ``row``; a row with the same key already there is a 409."""
    entity_set = ENTITY_SETS[set_name]
    if txn.get(set_name, key_of(entity_set, row)) is not None:
        keys = ", ".join(str(value) for value in key_of(entity_set, row))
        raise duplicate_error(f"A {entity_set.table} record with key ({keys}) already exists.",
                              entity_set.table)
    return txn.insert(set_name, row)


def assign_number(txn: Txn, row: dict, field: str, first: int) -> None:
    """A server-assigned document number: next in sequence when 0, else the caller's (kept)."""
    if row[field] == 0:
        row[field] = txn.next_number(field, first)
    else:
        txn.note_number(field, row[field])


def assign_line(txn: Txn, row: dict, field: str, set_name: str, **parent: Any) -> None:
    """A line number: max over the siblings (the rows of ``set_name`` equal to ``parent``) + 1 when
    0, else the caller's."""
    if row[field] == 0:
        largest = txn.largest(set_name, field, **parent)
        row[field] = (0 if largest is None else largest) + 1


def total(rows: list[dict], field: str) -> Decimal:
    """Exact sum of a numeric column."""
    return sum((amount(row, field) for row in rows), Decimal(0))
