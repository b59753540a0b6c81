"""AR invoice and credit memo rules (contract §5).

Header: GroupID must be an existing invoice group that is not posting; InvoiceType is one of
``Shp``, ``Adv``, ``Dep``, ``Mis``; an ``Adv`` invoice needs an existing OrderNum of the same customer
and takes that order's currency (a different CurrencyCode sent is a 400). Any OrderNum given must
exist and belong to the invoice's customer; CustNum defaults from the order. Dates default from the
group, DueDate from the terms. InvoiceNum is assigned from 70001.

Credit memo (``CreditMemo: true``): ``InvoiceRef`` must be a non-credit-memo invoice of the same
customer and currency, ``CMReason`` an existing reason code, and its lines carry a negative
``SellingShipQty`` (an ordinary invoice's lines a positive one).

Lines: the invoice must exist and be unposted; ``SellingShipQty`` and ``DocUnitPrice`` must be sent
on create; OrderNum/OrderLine must exist when given (OrderLine alone takes the invoice's OrderNum).
``DocExtPrice`` = quantity x price. The header's ``DocInvoiceAmt`` is the sum of line amounts net of
discounts, and ``DocUnpostedBal`` that amount minus cash applied; ``DocInvoiceBal`` moves only on
posting, which is not emulated, so it stays 0. A posted invoice cannot be changed, and a header with
cash applied cannot change customer or currency.
"""

from __future__ import annotations

from typing import Any

from ..dates import add_days
from ..errors import business_error
from ..money import round_money
from ..reference import BASE_CURRENCY, FIRST_NUMBERS, TERMS
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
from .groups import open_invoice_group, recompute_invoice_group

HEAD, LINE = "InvcHead", "InvcDtl"
INVOICE_TYPES = ("Shp", "Adv", "Dep", "Mis")


def create_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert an invoice or credit memo header."""
    row.update(OpenInvoice=True, ExchangeRate=1)
    _validate_header(txn, ctx, row, sent)
    assign_number(txn, row, "InvoiceNum", FIRST_NUMBERS["InvoiceNum"])
    stored = insert_new(txn, "ARInvoices", row)
    recompute_invoice_group(txn, ctx.company, row["GroupID"])
    return stored


def update_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                  current: dict) -> None:
    """Validate and save a changed header; recompute its amounts."""
    _refuse_posted(current, HEAD)
    _refuse_frozen_changes(txn, row, current)
    _validate_header(txn, ctx, row, sent)
    txn.update("ARInvoices", row)
    recompute_invoice(txn, row)
    if current["GroupID"] != row["GroupID"]:
        recompute_invoice_group(txn, ctx.company, current["GroupID"])


def _validate_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> None:
    group = open_invoice_group(txn, ctx, text(row, "GroupID"), HEAD)
    if row["InvoiceType"] not in INVOICE_TYPES:
        raise business_error(f"Invoice type {row['InvoiceType'] or '(blank)'} is not valid.",
                             HEAD, "InvoiceType")
    order = _order_of(txn, ctx, row)
    customer = customer_or_fail(txn, ctx, row["CustNum"], HEAD)
    _default_from(row, order, customer)
    _default_dates(row, group)
    if row["CreditMemo"]:
        _check_credit_memo(txn, ctx, row)


def _order_of(txn: Txn, ctx: WriteContext, row: dict) -> dict | None:
    if not row["OrderNum"]:
        if row["InvoiceType"] == "Adv":
            raise business_error("An advance billing invoice needs a sales order.", HEAD, "OrderNum")
        return None
    order = order_or_fail(txn, ctx, row["OrderNum"], HEAD)
    row["CustNum"] = row["CustNum"] or order["CustNum"]
    if order["CustNum"] != row["CustNum"]:
        raise business_error(f"Sales order {order['OrderNum']} belongs to another customer.",
                             HEAD, "OrderNum")
    return order


def _default_from(row: dict, order: dict | None, customer: dict) -> None:
    if row["InvoiceType"] == "Adv":
        if text(row, "CurrencyCode") not in ("", order["CurrencyCode"]):
            raise business_error(f"Currency must be the sales order's ({order['CurrencyCode']}).",
                                 HEAD, "CurrencyCode")
        row["CurrencyCode"] = order["CurrencyCode"]
    source = order or customer
    row["CurrencyCode"] = text(row, "CurrencyCode") or source["CurrencyCode"] or BASE_CURRENCY
    currency_or_fail(row["CurrencyCode"], HEAD)
    row["TermsCode"] = terms_or_fail(text(row, "TermsCode") or source["TermsCode"], HEAD)
    row["PONum"] = row["PONum"] or (order or {}).get("PONum", "")
    row["SoldToCustNum"] = row["CustNum"]


def _default_dates(row: dict, group: dict) -> None:
    row["InvoiceDate"] = row["InvoiceDate"] or group["InvoiceDate"]
    row["ApplyDate"] = row["ApplyDate"] or row["InvoiceDate"]
    row["DueDate"] = row["DueDate"] or add_days(row["InvoiceDate"], TERMS.get(row["TermsCode"], 0))
    row["FiscalYear"], row["FiscalPeriod"] = group["FiscalYear"], group["FiscalPeriod"]


def _check_credit_memo(txn: Txn, ctx: WriteContext, row: dict) -> None:
    original = txn.get("ARInvoices", (ctx.company, row["InvoiceRef"]))
    if original is None or original["CreditMemo"]:
        raise business_error(f"Invoice {row['InvoiceRef']} is not valid for a credit memo.",
                             HEAD, "InvoiceRef")
    if original["CustNum"] != row["CustNum"] or original["CurrencyCode"] != row["CurrencyCode"]:
        raise business_error(
            f"Invoice {row['InvoiceRef']} has another customer or currency than the credit memo.",
            HEAD, "InvoiceRef")
    reason = text(row, "CMReason")
    if not reason or not txn.where("Reasons", Company=ctx.company, ReasonCode=reason):
        raise business_error(f"Reason code {reason or '(blank)'} is not valid.", HEAD, "CMReason")


def _refuse_posted(invoice: dict, table: str) -> None:
    if invoice["Posted"]:
        raise business_error(f"Invoice {invoice['InvoiceNum']} is posted.", table, "InvoiceNum")


def _refuse_frozen_changes(txn: Txn, row: dict, current: dict) -> None:
    if _applied_cash(txn, current) != 0:
        for field in ("CustNum", "CurrencyCode"):
            if row[field] != current[field]:
                raise business_error("An invoice with cash applied cannot change customer or "
                                     "currency.", HEAD, field)
    if row["CreditMemo"] != current["CreditMemo"] and _lines_of(txn, current):
        raise business_error("An invoice with lines cannot change CreditMemo.", HEAD, "CreditMemo")


def create_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, compute and insert an invoice line; recompute the invoice."""
    invoice = _invoice_of(txn, ctx, row)
    for field in ("SellingShipQty", "DocUnitPrice"):
        if field not in sent:
            raise business_error(f"{field} is required.", LINE, field)
    row["LineType"] = text(row, "LineType") or "PART"
    row["OurShipQty"] = row["OurShipQty"] if "OurShipQty" in sent else row["SellingShipQty"]
    _validate_line(txn, ctx, row, sent, invoice)
    assign_line(txn, row, "InvoiceLine", "InvcDtls", Company=invoice["Company"], InvoiceNum=invoice["InvoiceNum"])
    stored = insert_new(txn, "InvcDtls", row)
    recompute_invoice(txn, invoice)
    return stored


def update_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                current: dict) -> None:
    """Validate and save a changed line; recompute the invoice."""
    invoice = _invoice_of(txn, ctx, row)
    if "SellingShipQty" in sent and "OurShipQty" not in sent:
        row["OurShipQty"] = row["SellingShipQty"]
    _validate_line(txn, ctx, row, sent, invoice)
    txn.update("InvcDtls", row)
    recompute_invoice(txn, invoice)


def _invoice_of(txn: Txn, ctx: WriteContext, row: dict) -> dict:
    invoice = txn.get("ARInvoices", (ctx.company, row["InvoiceNum"]))
    if invoice is None:
        raise business_error(f"Invoice {row['InvoiceNum']} is not valid.", LINE, "InvoiceNum")
    _refuse_posted(invoice, LINE)
    return invoice


def _validate_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                   invoice: dict) -> None:
    _check_quantity_sign(row, invoice)
    _check_order_link(txn, ctx, row, invoice)
    if ctx.strict_parts and text(row, "PartNum") and \
            txn.get("Parts", (ctx.company, text(row, "PartNum"))) is None:
        raise business_error(f"Part {text(row, 'PartNum')} is not valid.", LINE, "PartNum")
    check_sent_amounts(LINE, sent, invoice["CurrencyCode"])
    extended = round_money(amount(row, "SellingShipQty") * amount(row, "DocUnitPrice"),
                           invoice["CurrencyCode"])
    row.update(UnitPrice=row["DocUnitPrice"], DocExtPrice=extended, ExtPrice=extended,
               CustNum=invoice["CustNum"], ShipToCustNum=invoice["CustNum"])


def _check_quantity_sign(row: dict, invoice: dict) -> None:
    quantity = amount(row, "SellingShipQty")
    if invoice["CreditMemo"] and quantity >= 0:
        raise business_error("A credit memo line needs a negative quantity.", LINE, "SellingShipQty")
    if not invoice["CreditMemo"] and quantity <= 0:
        raise business_error("Quantity must be greater than zero.", LINE, "SellingShipQty")


def _check_order_link(txn: Txn, ctx: WriteContext, row: dict, invoice: dict) -> None:
    if row["OrderLine"] and not row["OrderNum"]:
        row["OrderNum"] = invoice["OrderNum"]
    if not row["OrderNum"]:
        return
    order = order_or_fail(txn, ctx, row["OrderNum"], LINE)
    if order["CustNum"] != invoice["CustNum"]:
        raise business_error(f"Sales order {row['OrderNum']} belongs to another customer.",
                             LINE, "OrderNum")
    if row["OrderLine"] and txn.get("OrderDtls", (ctx.company, row["OrderNum"],
                                                  row["OrderLine"])) is None:
        raise business_error(f"Order line {row['OrderNum']}/{row['OrderLine']} is not valid.",
                             LINE, "OrderLine")


def _lines_of(txn: Txn, invoice: dict) -> list[dict]:
    return txn.where("InvcDtls", Company=invoice["Company"], InvoiceNum=invoice["InvoiceNum"])


def _applied_cash(txn: Txn, invoice: dict):
    applied = txn.where("CashDtls", Company=invoice["Company"], InvoiceNum=invoice["InvoiceNum"])
    return total(applied, "DocTranAmt")


def recompute_invoice(txn: Txn, invoice: dict) -> None:
    """Invoice amount from the lines, unposted balance net of applied cash; then the group total."""
    invoice = txn.get("ARInvoices", (invoice["Company"], invoice["InvoiceNum"]))
    lines = _lines_of(txn, invoice)
    amount_due = total(lines, "DocExtPrice") - total(lines, "DocDiscount")
    unposted = amount_due - _applied_cash(txn, invoice)
    invoice.update(DocInvoiceAmt=amount_due, InvoiceAmt=amount_due,
                   DocUnpostedBal=unposted, UnpostedBal=unposted)
    txn.update("ARInvoices", invoice)
    recompute_invoice_group(txn, invoice["Company"], invoice["GroupID"])
