"""Bank adjustment groups, bank adjustments and the bank register rows of cash receipts (contract §5b).

Adjustment group (``BankAdjEntries``, table ``BankGrp``): caller-chosen ``GroupID`` of 1-8 characters
(a duplicate is a 409), ``BankAcctID`` (an open bank) and ``TranDate`` (in an open period) required;
the server fills the fiscal fields (values sent must agree), ``CreatedBy`` and ``ActiveUserID``. Its
bank and date change only while it holds no adjustment.

Adjustment (``BankTrans``, table ``BankTran``): the group must exist (a posted group is gone);
``BankAcctID`` defaults to the group's and must equal it; ``TranNum`` 0 is max + 1 for that bank;
``Voided`` false; ``DocTranAmt`` non-zero with its currency's decimals (``CurrencyCode`` defaults to
the bank's, any seeded currency is accepted); ``ExchangeRate`` defaults to 1 and ``TranAmt`` is
``DocTranAmt`` x ``ExchangeRate`` in base-currency decimals (a different value sent is a 400);
``TranDate`` defaults to the group's and must lie in its period; ``BankFeeID`` must exist when
given; ``TranRef`` at most 30 characters; ``GLPosted`` cannot be sent true. A PATCH only changes an
unposted adjustment; rows of transfers and cash receipts change only through their own documents.

Cash receipts: each receipt has one row in its bank's register (``SourceModule`` ``AR``, ``TranRef``
= its ``CheckRef``), kept in step with the receipt by ``cash.py`` and marked ``GLPosted`` when its
cash group is posted (``groups.post_group``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..dates import today
from ..errors import business_error
from ..fiscal import check_agrees, period_of
from ..money import check_decimals, round_money, to_decimal
from ..reference import BASE_CURRENCY, CURRENCIES
from ..schema import blank_row
from ..store import Txn
from .common import WriteContext, amount, group_id_or_fail, insert_new, text

GROUP, TRAN = "BankGrp", "BankTran"
ADJUSTMENT, TRANSFER, RECEIPT = "BK", "BT", "AR"
MAX_REFERENCE = 30


def open_bank(txn: Txn, company: str, bank_id: str, table: str, field: str = "BankAcctID") -> dict:
    """The bank account ``bank_id``: it must exist and not be closed (400 on ``table.field``)."""
    if not bank_id:
        raise business_error(f"{field} is required.", table, field)
    bank = txn.get("BankAccts", (company, bank_id))
    if bank is None:
        raise business_error(f"Bank account {bank_id} is not valid.", table, field)
    if bank["Closed"]:
        raise business_error(f"Bank account {bank_id} is closed.", table, field)
    return bank


def check_reference(row: dict, table: str) -> None:
    """``TranRef`` holds at most 30 characters (emulator's choice, contract §5b)."""
    if len(row.get("TranRef") or "") > MAX_REFERENCE:
        raise business_error(f"TranRef is longer than {MAX_REFERENCE} characters.", table, "TranRef")


def known_currency(code: str, table: str) -> str:
    """``code`` when it is a seeded currency, else a 400 on ``CurrencyCode``."""
    if code not in CURRENCIES:
        raise business_error(f"Currency code {code or '(blank)'} is not valid.", table, "CurrencyCode")
    return code


def base_amount(value: Decimal, rate: Decimal) -> Decimal:
    """An amount in base currency: document amount x exchange rate, in base-currency decimals."""
    return round_money(value * rate, BASE_CURRENCY)


def bank_balance(txn: Txn, company: str, bank_id: str) -> Decimal:
    """The bank's register balance in base currency: the sum of its rows' ``TranAmt``."""
    return txn.total("BankTrans", "TranAmt", Company=company, BankAcctID=bank_id)


# ---- adjustment groups -------------------------------------------------------------------------

def create_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert an adjustment group."""
    row["GroupID"] = group_id_or_fail(row, GROUP)
    row.update(CreatedBy=ctx.username, ActiveUserID=ctx.username)
    _validate_group(txn, ctx, row, sent)
    return insert_new(txn, "BankAdjEntries", row)


def update_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Validate and save a changed group; bank and date are frozen once it holds an adjustment."""
    _validate_group(txn, ctx, row, sent)
    moved = row["BankAcctID"] != current["BankAcctID"] or row["TranDate"] != current["TranDate"]
    if moved and adjustments_of(txn, current):
        field = "BankAcctID" if row["BankAcctID"] != current["BankAcctID"] else "TranDate"
        raise business_error(f"Group {current['GroupID']} holds adjustments: its bank and date cannot "
                             "change.", GROUP, field)
    txn.update("BankAdjEntries", row)


def _validate_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> None:
    bank = open_bank(txn, ctx.company, text(row, "BankAcctID"), GROUP)
    fiscal = period_of(txn, ctx.company, row["TranDate"], GROUP, "TranDate")
    check_agrees(sent, fiscal, GROUP)
    row.update(fiscal, BankAcctID=bank["BankAcctID"], BankAcctIDDescription=bank["Description"],
               BankAcctIDBankName=bank["BankName"])


def adjustments_of(txn: Txn, group: dict) -> list[dict]:
    """The unposted adjustments of a group (posted ones belong to an earlier group of that id)."""
    return txn.where("BankTrans", Company=group["Company"], GroupID=group["GroupID"],
                     SourceModule=ADJUSTMENT, GLPosted=False)


# ---- adjustments -------------------------------------------------------------------------------

def create_adjustment(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default, number and insert a bank adjustment."""
    group = _open_group(txn, ctx, text(row, "GroupID"))
    row["BankAcctID"] = text(row, "BankAcctID") or group["BankAcctID"]
    if row["BankAcctID"] != group["BankAcctID"]:
        raise business_error(f"Bank account {row['BankAcctID']} is not the bank of group "
                             f"{group['GroupID']} ({group['BankAcctID']}).", TRAN, "BankAcctID")
    row["TranDate"] = row["TranDate"] or group["TranDate"]
    _validate_adjustment(txn, ctx, row, sent, group)
    if row["TranNum"] == 0:
        largest = txn.largest("BankTrans", "TranNum", Company=ctx.company, BankAcctID=row["BankAcctID"])
        row["TranNum"] = (largest or 0) + 1
    row.update(SourceModule=ADJUSTMENT, EntryPerson=ctx.username, EntryDate=today())
    return insert_new(txn, "BankTrans", row)


def update_adjustment(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Change an unposted adjustment under the rules of a new one."""
    if current["SourceModule"] != ADJUSTMENT:
        raise business_error(f"Bank row {current['BankAcctID']}/{current['TranNum']} belongs to a "
                             f"{'transfer' if current['SourceModule'] == TRANSFER else 'cash receipt'} "
                             "and changes only through it.", TRAN, "TranNum")
    if current["GLPosted"]:
        raise business_error(f"Bank adjustment {current['BankAcctID']}/{current['TranNum']} is posted.",
                             TRAN, "GLPosted")
    group = _open_group(txn, ctx, text(row, "GroupID"))
    if row["BankAcctID"] != group["BankAcctID"]:
        raise business_error(f"Group {group['GroupID']} is for bank {group['BankAcctID']}.", TRAN, "GroupID")
    _validate_adjustment(txn, ctx, row, sent, group)
    txn.update("BankTrans", row)


def _open_group(txn: Txn, ctx: WriteContext, group_id: str) -> dict:
    group = txn.get("BankAdjEntries", (ctx.company, group_id))
    if group is None:
        raise business_error(f"Bank adjustment group {group_id or '(blank)'} is not valid.", TRAN, "GroupID")
    return group


def _validate_adjustment(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], group: dict) -> None:
    bank = open_bank(txn, ctx.company, row["BankAcctID"], TRAN)
    if row["Voided"]:
        raise business_error("A new bank adjustment cannot be voided.", TRAN, "Voided")
    if sent.get("GLPosted"):
        raise business_error("GLPosted is set by posting, not by the caller.", TRAN, "GLPosted")
    row["CurrencyCode"] = known_currency(text(row, "CurrencyCode") or bank["CurrencyCode"], TRAN)
    _check_amounts(row, sent)
    fiscal = period_of(txn, ctx.company, row["TranDate"], TRAN, "TranDate")
    if (fiscal["FiscalYear"], fiscal["FiscalPeriod"]) != (group["FiscalYear"], group["FiscalPeriod"]):
        raise business_error(f"TranDate {row['TranDate'][:10]} is not in the period of group "
                             f"{group['GroupID']} ({group['FiscalYear']}/{group['FiscalPeriod']}).",
                             TRAN, "TranDate")
    check_agrees(sent, fiscal, TRAN)
    row.update(fiscal, GLPosted=False)
    _check_fee(txn, ctx, row)
    check_reference(row, TRAN)


def _check_amounts(row: dict, sent: dict[str, Any]) -> None:
    doc_amount = amount(row, "DocTranAmt")
    if doc_amount == 0:
        raise business_error("DocTranAmt cannot be zero.", TRAN, "DocTranAmt")
    check_decimals(doc_amount, row["CurrencyCode"], TRAN, "DocTranAmt")
    rate = amount(row, "ExchangeRate") or Decimal(1)
    if rate < 0:
        raise business_error("ExchangeRate cannot be negative.", TRAN, "ExchangeRate")
    base = base_amount(doc_amount, rate)
    if "TranAmt" in sent and to_decimal(sent["TranAmt"]) != base:
        raise business_error(f"TranAmt {sent['TranAmt']} is not DocTranAmt x ExchangeRate ({base}).",
                             TRAN, "TranAmt")
    row.update(ExchangeRate=rate, TranAmt=base)


def _check_fee(txn: Txn, ctx: WriteContext, row: dict) -> None:
    fee_id = text(row, "BankFeeID")
    if not fee_id:
        return
    fee = txn.get("BankFees", (ctx.company, fee_id))
    if fee is None:
        raise business_error(f"Bank fee {fee_id} is not valid.", TRAN, "BankFeeID")
    row["BankFeeIDDescription"] = fee["Description"]


# ---- the register rows of cash receipts --------------------------------------------------------

def sync_receipt_row(txn: Txn, receipt: dict) -> None:
    """Create or update the bank row of a cash receipt (its bank, date, amount and reference)."""
    rows = [row for row in txn.where("BankTrans", Company=receipt["Company"], SourceModule=RECEIPT,
                                     GroupID=receipt["GroupID"], HeadNum=receipt["HeadNum"])
            if not row["GLPosted"]]
    current = dict(rows[0]) if rows else None
    if current is not None and current["BankAcctID"] != receipt["BankAcctID"]:
        raise business_error(f"Cash receipt {receipt['GroupID']}/{receipt['HeadNum']} already has its row "
                             f"in bank {current['BankAcctID']}: its bank cannot change.", "CashHead", "BankAcctID")
    row = current or _new_receipt_row(txn, receipt)
    rate = amount(receipt, "ExchangeRate") or Decimal(1)
    row.update(TranDate=receipt["TranDate"], DocTranAmt=receipt["DocTranAmt"], ExchangeRate=rate,
               TranAmt=base_amount(amount(receipt, "DocTranAmt"), rate), CurrencyCode=receipt["CurrencyCode"],
               TranRef=receipt["CheckRef"], FiscalYear=receipt["FiscalYear"], FiscalPeriod=receipt["FiscalPeriod"])
    (txn.update if current is not None else txn.insert)("BankTrans", row)


def _new_receipt_row(txn: Txn, receipt: dict) -> dict:
    largest = txn.largest("BankTrans", "TranNum", Company=receipt["Company"], BankAcctID=receipt["BankAcctID"])
    row = blank_row("BankTran", receipt["Company"])
    row.update(BankAcctID=receipt["BankAcctID"], TranNum=(largest or 0) + 1, SourceModule=RECEIPT,
               GroupID=receipt["GroupID"], HeadNum=receipt["HeadNum"], EntryDate=today(),
               FiscalCalendarID="MAIN", FiscalYearSuffix="")
    return row


def post_receipt_rows(txn: Txn, company: str, group_id: str) -> None:
    """Mark the bank rows of a posted cash group's receipts ``GLPosted``."""
    for row in txn.where("BankTrans", Company=company, SourceModule=RECEIPT, GroupID=group_id, GLPosted=False):
        txn.update("BankTrans", {**row, "GLPosted": True})
