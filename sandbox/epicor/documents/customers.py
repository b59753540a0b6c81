"""Customer rules (contract §5): CustID non-blank, at most 10 characters and unique per company
(a duplicate is a 409, as on Epicor's OData POST); Name non-blank; CurrencyCode and TermsCode must
exist when given. CustNum is assigned from 201. Blank CurrencyCode defaults to the base currency.
"""

from __future__ import annotations

from typing import Any

from ..dates import today
from ..errors import business_error, duplicate_error
from ..reference import BASE_CURRENCY, FIRST_NUMBERS
from ..store import Txn
from .common import WriteContext, assign_number, check_sent_amounts, currency_or_fail, insert_new, terms_or_fail, text

TABLE = "Customer"


def create(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate and insert a new customer."""
    row["CustID"] = text(row, "CustID")
    row["CustomerType"] = text(row, "CustomerType") or "CUS"
    row["CurrencyCode"] = text(row, "CurrencyCode") or BASE_CURRENCY
    row["EstDate"] = row["EstDate"] or today()
    _validate(txn, ctx, row, sent)
    assign_number(txn, row, "CustNum", FIRST_NUMBERS["CustNum"])
    return insert_new(txn, "Customers", row)


def update(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Validate and save a changed customer."""
    row["CustID"] = text(row, "CustID")
    _validate(txn, ctx, row, sent)
    txn.update("Customers", row)


def _validate(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> None:
    _check_cust_id(txn, row)
    if not text(row, "Name"):
        raise business_error("Name is required.", TABLE, "Name")
    currency_or_fail(text(row, "CurrencyCode"), TABLE)
    terms_or_fail(text(row, "TermsCode"), TABLE)
    check_sent_amounts(TABLE, sent, row["CurrencyCode"])


def _check_cust_id(txn: Txn, row: dict) -> None:
    cust_id = text(row, "CustID")
    if not cust_id:
        raise business_error("Customer ID is required.", TABLE, "CustID")
    if len(cust_id) > 10:
        raise business_error(f"Customer ID {cust_id} is longer than 10 characters.", TABLE, "CustID")
    for other in txn.where("Customers", Company=row["Company"], CustID=cust_id):
        if other["CustNum"] != row["CustNum"] or row["CustNum"] == 0:
            raise duplicate_error(f"Customer ID {cust_id} already exists.", TABLE, "CustID")
