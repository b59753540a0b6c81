"""Sales order rules (contract §5).

Header: CustNum must exist; OrderDate defaults to today; CurrencyCode must be known and defaults to
the customer's; TermsCode defaults to the customer's. OrderNum is assigned from 5001.

Lines: the order must exist and be open (``OpenOrder`` and not ``VoidOrder``); PartNum non-blank;
an unknown part is accepted as "part on the fly" with ``PartExists: false`` unless strict-parts mode
is on; SellingQuantity > 0; DocUnitPrice >= 0 with at most the order currency's decimals. OrderLine
is the caller's or max + 1. There is no screen defaulting from the part (entity-set writes run none):
the caller sends LineDesc, SalesUM and the price. ``OrderQty`` follows ``SellingQuantity`` unless
sent. The server computes ``DocExtPriceDtl`` = quantity x price and the header's ``DocOrderAmt`` as
the sum over lines that are not void, net of line discounts, bumping the header's ``SysRevID``.
"""

from __future__ import annotations

from typing import Any

from ..dates import today
from ..errors import business_error
from ..money import round_money
from ..reference import BASE_CURRENCY, FIRST_NUMBERS
from ..store import Txn
from .common import (
    WriteContext,
    amount,
    assign_line,
    assign_number,
    check_sent_amounts,
    currency_or_fail,
    customer_or_fail,
    insert_new,
    order_or_fail,
    terms_or_fail,
    text,
    total,
)

HEAD, LINE = "OrderHed", "OrderDtl"


def create_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert a sales order header."""
    row["OpenOrder"] = sent.get("OpenOrder", True)
    row["ExchangeRate"] = 1
    _validate_header(txn, ctx, row)
    assign_number(txn, row, "OrderNum", FIRST_NUMBERS["OrderNum"])
    return insert_new(txn, "SalesOrders", row)


def update_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                  current: dict) -> None:
    """Validate and save a changed header."""
    _validate_header(txn, ctx, row)
    txn.update("SalesOrders", row)


def _validate_header(txn: Txn, ctx: WriteContext, row: dict) -> None:
    customer = customer_or_fail(txn, ctx, row["CustNum"], HEAD)
    row["CustomerCustID"] = customer["CustID"]
    row["OrderDate"] = row["OrderDate"] or today()
    row["CurrencyCode"] = text(row, "CurrencyCode") or customer["CurrencyCode"] or BASE_CURRENCY
    currency_or_fail(row["CurrencyCode"], HEAD)
    row["TermsCode"] = terms_or_fail(text(row, "TermsCode") or customer["TermsCode"], HEAD)
    row["BTCustNum"] = row["BTCustNum"] or row["CustNum"]
    row["ShipToCustNum"] = row["ShipToCustNum"] or row["CustNum"]


def create_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, compute and insert an order line, then recompute the order's total."""
    order = _open_order(txn, ctx, row["OrderNum"])
    row["OpenLine"] = sent.get("OpenLine", True)
    row["LineType"] = text(row, "LineType") or "PART"
    row["OrderQty"] = row["OrderQty"] if "OrderQty" in sent else row["SellingQuantity"]
    _validate_line(txn, ctx, row, sent, order)
    assign_line(txn, row, "OrderLine", "OrderDtls", Company=order["Company"], OrderNum=order["OrderNum"])
    stored = insert_new(txn, "OrderDtls", row)
    recompute_order(txn, order)
    return stored


def update_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                current: dict) -> None:
    """Validate and save a changed line, then recompute the order's total."""
    order = _open_order(txn, ctx, row["OrderNum"])
    if "SellingQuantity" in sent and "OrderQty" not in sent:
        row["OrderQty"] = row["SellingQuantity"]
    _validate_line(txn, ctx, row, sent, order)
    txn.update("OrderDtls", row)
    recompute_order(txn, order)


def _open_order(txn: Txn, ctx: WriteContext, order_num: int) -> dict:
    order = order_or_fail(txn, ctx, order_num, LINE)
    if not order["OpenOrder"] or order["VoidOrder"]:
        raise business_error(f"Sales order {order_num} is closed.", LINE, "OrderNum")
    return order


def _validate_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                   order: dict) -> None:
    _check_part(txn, ctx, row)
    if amount(row, "SellingQuantity") <= 0:
        raise business_error("Selling quantity must be greater than zero.", LINE, "SellingQuantity")
    if amount(row, "DocUnitPrice") < 0:
        raise business_error("Unit price cannot be negative.", LINE, "DocUnitPrice")
    check_sent_amounts(LINE, sent, order["CurrencyCode"])
    extended = round_money(amount(row, "SellingQuantity") * amount(row, "DocUnitPrice"),
                           order["CurrencyCode"])
    row.update(UnitPrice=row["DocUnitPrice"], DocExtPriceDtl=extended, ExtPriceDtl=extended,
               CustNum=order["CustNum"])


def _check_part(txn: Txn, ctx: WriteContext, row: dict) -> None:
    part_num = text(row, "PartNum")
    if not part_num:
        raise business_error("Part is required.", LINE, "PartNum")
    row["PartExists"] = txn.get("Parts", (ctx.company, part_num)) is not None
    if ctx.strict_parts and not row["PartExists"]:
        raise business_error(f"Part {part_num} is not valid.", LINE, "PartNum")


def _lines_of(txn: Txn, order: dict) -> list[dict]:
    return txn.where("OrderDtls", Company=order["Company"], OrderNum=order["OrderNum"])


def recompute_order(txn: Txn, order: dict) -> None:
    """The header's totals from its lines (saved only when they changed)."""
    live = [line for line in _lines_of(txn, order) if not line["VoidLine"]]
    net = total(live, "DocExtPriceDtl") - total(live, "DocDiscount")
    order = txn.get("SalesOrders", (order["Company"], order["OrderNum"]))
    order.update(DocOrderAmt=net, OrderAmt=net, TotalLines=len(live))
    txn.update("SalesOrders", order)
