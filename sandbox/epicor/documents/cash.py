"""Cash receipt rules (contract §5).

Header: GroupID must be an existing cash group; TranType one of ``PayInv``, ``MisPay``, ``PrePay``;
a ``PayInv`` receipt needs an existing CustNum (others may name one, which must then exist);
DocTranAmt is non-zero with at most the currency's decimals; CurrencyCode must be known and defaults
to the customer's. TranDate and BankAcctID default from the group. HeadNum is max + 1 within the
group. Once lines are applied the receipt cannot change customer, currency or TranType, and its
amount cannot drop below what is applied.

Lines apply a receipt to an invoice: the receipt must be ``PayInv``, the invoice must exist, belong
to the receipt's customer and be in its currency. A positive amount pays an ordinary invoice, a
negative one (a refund receipt) a credit memo; the line's sign follows the receipt's. By absolute
value the line never exceeds the invoice's open ``DocUnpostedBal`` and the receipt's applied total
never exceeds its amount. Applying lowers the invoice's ``DocUnpostedBal`` at once and updates the
receipt's ``DocAppliedAmt``/``DocUnAppliedAmt`` and the group totals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import business_error
from ..reference import BASE_CURRENCY
from ..store import Txn
from .bank import sync_receipt_row
from .common import (
    WriteContext,
    amount,
    assign_line,
    bank_or_fail,
    check_sent_amounts,
    currency_or_fail,
    customer_or_fail,
    insert_new,
    text,
    total,
)
from .groups import open_cash_group, recompute_cash_group
from .invoices import recompute_invoice

HEAD, LINE = "CashHead", "CashDtl"
TRAN_TYPES = ("PayInv", "MisPay", "PrePay")


def create_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert a cash receipt header."""
    group = open_cash_group(txn, ctx, text(row, "GroupID"), HEAD)
    row.update(ExchangeRate=1, TranDate=row["TranDate"] or group["TranDate"],
               BankAcctID=text(row, "BankAcctID") or group["BankAcctID"],
               FiscalYear=group["FiscalYear"], FiscalPeriod=group["FiscalPeriod"])
    _validate_header(txn, ctx, row, sent)
    assign_line(txn, row, "HeadNum", "CashRecs", Company=ctx.company, GroupID=row["GroupID"])
    stored = insert_new(txn, "CashRecs", row)
    recompute_cash_group(txn, ctx.company, row["GroupID"])
    sync_receipt_row(txn, stored)  # the receipt's row in its bank's register (contract §5b)
    return stored


def update_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                  current: dict) -> None:
    """Validate and save a changed receipt; recompute its applied amounts."""
    _refuse_posted(current, HEAD)
    lines = _lines_of(txn, current)
    if lines:
        _refuse_frozen_changes(row, current)
    _validate_header(txn, ctx, row, sent)
    if abs(total(lines, "DocTranAmt")) > abs(amount(row, "DocTranAmt")):
        raise business_error("The receipt amount is less than the amount applied.", HEAD,
                             "DocTranAmt")
    txn.update("CashRecs", row)
    recompute_receipt(txn, row)
    sync_receipt_row(txn, row)


def _validate_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> None:
    if row["TranType"] not in TRAN_TYPES:
        raise business_error(f"Transaction type {row['TranType'] or '(blank)'} is not valid.",
                             HEAD, "TranType")
    customer = _customer_of(txn, ctx, row)
    if amount(row, "DocTranAmt") == 0:
        raise business_error("The receipt amount cannot be zero.", HEAD, "DocTranAmt")
    default_currency = customer["CurrencyCode"] if customer else BASE_CURRENCY
    row["CurrencyCode"] = currency_or_fail(text(row, "CurrencyCode") or default_currency, HEAD)
    check_sent_amounts(HEAD, sent, row["CurrencyCode"])
    bank_or_fail(row["BankAcctID"], HEAD, txn, ctx.company)
    received = amount(row, "DocTranAmt")
    row.update(TranAmt=received, ReceiptAmt=received, BankAmount=received,
               ReceiptCurrencyCode=row["CurrencyCode"], CustID=(customer or {}).get("CustID", ""))


def _customer_of(txn: Txn, ctx: WriteContext, row: dict) -> dict | None:
    if row["TranType"] == "PayInv" or row["CustNum"]:
        return customer_or_fail(txn, ctx, row["CustNum"], HEAD)
    return None


def _refuse_frozen_changes(row: dict, current: dict) -> None:
    for field in ("CustNum", "CurrencyCode", "TranType"):
        if row[field] != current[field]:
            raise business_error("A receipt with applied lines cannot change customer, currency "
                                 "or transaction type.", HEAD, field)


def _refuse_posted(receipt: dict, table: str) -> None:
    if receipt["Posted"]:
        raise business_error(f"Cash receipt {receipt['GroupID']}/{receipt['HeadNum']} is posted.",
                             table, "HeadNum")


def create_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Apply a receipt to an invoice."""
    receipt, invoice = _receipt_and_invoice(txn, ctx, row)
    _check_application(txn, row, sent, receipt, invoice, previous=Decimal(0))
    stored = insert_new(txn, "CashDtls", row)
    _recompute_after_application(txn, receipt, invoice)
    return stored


def update_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any],
                current: dict) -> None:
    """Change an application's amount."""
    receipt, invoice = _receipt_and_invoice(txn, ctx, row)
    _check_application(txn, row, sent, receipt, invoice, previous=amount(current, "DocTranAmt"))
    txn.update("CashDtls", row)
    _recompute_after_application(txn, receipt, invoice)


def _receipt_and_invoice(txn: Txn, ctx: WriteContext, row: dict) -> tuple[dict, dict]:
    receipt = txn.get("CashRecs", (ctx.company, row["GroupID"], row["HeadNum"]))
    if receipt is None:
        raise business_error(f"Cash receipt {row['GroupID']}/{row['HeadNum']} is not valid.",
                             LINE, "HeadNum")
    _refuse_posted(receipt, LINE)
    if receipt["TranType"] != "PayInv":
        raise business_error("Only PayInv receipts are applied to invoices.", LINE, "TranType")
    invoice = txn.get("ARInvoices", (ctx.company, row["InvoiceNum"]))
    if invoice is None:
        raise business_error(f"Invoice {row['InvoiceNum']} is not valid.", LINE, "InvoiceNum")
    if invoice["CustNum"] != receipt["CustNum"]:
        raise business_error(f"Invoice {row['InvoiceNum']} belongs to another customer.",
                             LINE, "InvoiceNum")
    if invoice["CurrencyCode"] != receipt["CurrencyCode"]:
        raise business_error(f"Invoice {row['InvoiceNum']} is in {invoice['CurrencyCode']}, the "
                             f"receipt in {receipt['CurrencyCode']}.", LINE, "InvoiceNum")
    return receipt, invoice


def _check_application(txn: Txn, row: dict, sent: dict[str, Any], receipt: dict, invoice: dict,
                       previous: Decimal) -> None:
    applied = amount(row, "DocTranAmt")
    check_sent_amounts(LINE, sent, receipt["CurrencyCode"])
    _check_sign(applied, receipt, invoice)
    open_balance = amount(invoice, "DocUnpostedBal") + previous
    if abs(applied) > abs(open_balance) or applied * open_balance < 0:
        raise business_error(f"Amount {applied} exceeds the open balance {open_balance} of "
                             f"invoice {invoice['InvoiceNum']}.", LINE, "DocTranAmt")
    already = total(_lines_of(txn, receipt), "DocTranAmt") - previous
    if abs(already + applied) > abs(amount(receipt, "DocTranAmt")):
        raise business_error("The amount applied exceeds the receipt amount.", LINE, "DocTranAmt")
    row.update(TranType=receipt["TranType"], TranAmt=applied, CustNum=receipt["CustNum"],
               TranDate=receipt["TranDate"], FiscalYear=receipt["FiscalYear"],
               FiscalPeriod=receipt["FiscalPeriod"], CheckRef=row["CheckRef"] or receipt["CheckRef"],
               ExchangeRate=1, InvoiceAmt=invoice["DocInvoiceAmt"], InvoiceBal=open_balance,
               DocInvoiceBal=open_balance, NewBalance=open_balance - applied,
               DocNewBalance=open_balance - applied, FullyPaid=open_balance == applied,
               OrderNum=invoice["OrderNum"], InvDueDate=invoice["DueDate"])


def _check_sign(applied: Decimal, receipt: dict, invoice: dict) -> None:
    if applied == 0:
        raise business_error("The amount applied cannot be zero.", LINE, "DocTranAmt")
    if (applied > 0) != (amount(receipt, "DocTranAmt") > 0):
        raise business_error("The amount applied must have the receipt's sign.", LINE, "DocTranAmt")
    if applied > 0 and invoice["CreditMemo"]:
        raise business_error("A payment cannot be applied to a credit memo.", LINE, "InvoiceNum")
    if applied < 0 and not invoice["CreditMemo"]:
        raise business_error("A refund can only be applied to a credit memo.", LINE, "InvoiceNum")


def _lines_of(txn: Txn, receipt: dict) -> list[dict]:
    return txn.where("CashDtls", Company=receipt["Company"], GroupID=receipt["GroupID"],
                     HeadNum=receipt["HeadNum"])


def _recompute_after_application(txn: Txn, receipt: dict, invoice: dict) -> None:
    recompute_invoice(txn, invoice)
    recompute_receipt(txn, receipt)


def recompute_receipt(txn: Txn, receipt: dict) -> None:
    """Applied and unapplied amounts from the receipt's lines; then the group totals."""
    receipt = txn.get("CashRecs", (receipt["Company"], receipt["GroupID"], receipt["HeadNum"]))
    applied = total(_lines_of(txn, receipt), "DocTranAmt")
    unapplied = amount(receipt, "DocTranAmt") - applied
    receipt.update(DocAppliedAmt=applied, AppliedAmt=applied, DocUnAppliedAmt=unapplied,
                   UnAppliedAmt=unapplied)
    txn.update("CashRecs", receipt)
    recompute_cash_group(txn, receipt["Company"], receipt["GroupID"])
