"""Bank funds transfers: the ``Erp.BO.BankFundTranSvc`` methods of contract §5b.

A transfer has no entity set. It lives in the tableset ``{"BankFundsTransfer": [row]}`` that each
method takes and answers; ``CreateBankTranRecords`` turns it into two register rows (``BankTrans``,
``SourceModule`` ``BT``) under one new ``TranNum`` that is one above every ``TranNum`` of the
company, so it names the transfer alone: the source bank's row with -amount, the target bank's with
+amount, both carrying the row's ``TranRef``. Nothing deduplicates: the same tableset sent twice
makes two transfers, which is why the connector looks its reference up first. ``GetByTranNum`` reads
a transfer back from those two rows.

Each handler takes ``(state, ctx, args)`` (``args`` already typed by ``methods.py``) and answers the
method's JSON: ``returnObj`` at the top, output parameters under ``parameters``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .dates import today
from .documents.bank import TRANSFER, bank_balance, base_amount, check_reference, known_currency, open_bank
from .documents.common import WriteContext, amount, text
from .errors import EpicorError, business_error, not_found_error
from .fiscal import FISCAL_FIELDS, period_of
from .money import check_decimals
from .schema import blank_row
from .store import Txn

if TYPE_CHECKING:
    from .state import EpicorState

TABLE = "BankFundsTransfer"


def tableset(row: dict) -> dict[str, list[dict]]:
    """The transfer's tableset as JSON values (amounts as numbers)."""
    return {TABLE: [{name: float(value) if isinstance(value, Decimal) else value for name, value in row.items()}]}


def _answer(row: dict) -> dict[str, Any]:
    return {"parameters": {"ds": tableset(row)}}


def create_bank_tran(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """A new, empty transfer dated today."""
    row = blank_row(TABLE, ctx.company)
    row.update(TranNum=0, TranDate=today(), RowMod="A", ExchangeRate=1, ToExchangeRate=1,
               FiscalCalendarID="MAIN", EntryPerson=ctx.username, EntryDate=today())
    with state.store.transaction() as txn:
        try:
            row.update(period_of(txn, ctx.company, row["TranDate"], TABLE, "TranDate"))
        except EpicorError:  # today outside the calendar or closed: ChangeTranDate will say so
            pass
    return {"returnObj": tableset(row)}


def change_from_bank(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Choose the source bank: open, not the target; fills its currency and balance."""
    row = args["ds"]
    with state.store.transaction() as txn:
        bank = open_bank(txn, ctx.company, args["bankAcctID"], TABLE, "BankAcctID")
        if bank["BankAcctID"] == text(row, "ToBankAcctID"):
            raise business_error("The source bank must differ from the target bank.", TABLE, "BankAcctID")
        row.update(BankAcctID=bank["BankAcctID"], CurrencyCode=bank["CurrencyCode"],
                   FromBalance=bank_balance(txn, ctx.company, bank["BankAcctID"]),
                   BankAcctDescription=bank["Description"], BankAcctBankName=bank["BankName"])
        _new_balances(txn, ctx, row)
    return _answer(row)


def change_target_bank(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Choose the target bank: open, not the source; fills its currency, description and balance."""
    row = args["ds"]
    with state.store.transaction() as txn:
        bank = open_bank(txn, ctx.company, args["toBankAcctID"], TABLE, "ToBankAcctID")
        if bank["BankAcctID"] == text(row, "BankAcctID"):
            raise business_error("The target bank must differ from the source bank.", TABLE, "ToBankAcctID")
        row.update(ToBankAcctID=bank["BankAcctID"], ToCurrencyCode=bank["CurrencyCode"],
                   ToBankDesc=bank["Description"], BankAcctToDescription=bank["Description"],
                   BankAcctToCurrencyCode=bank["CurrencyCode"],
                   ToBalance=bank_balance(txn, ctx.company, bank["BankAcctID"]))
        _new_balances(txn, ctx, row)
    return _answer(row)


def change_tran_date(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Date the transfer: the date's period must be open; fills the fiscal fields."""
    row = args["ds"]
    with state.store.transaction() as txn:
        row.update(period_of(txn, ctx.company, args["tranDate"], TABLE, "TranDate"), TranDate=args["tranDate"])
    return _answer(row)


def change_from_amt(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set the amount: source bank chosen, > 0, the currency's decimals, one currency both sides."""
    row = args["ds"]
    if not text(row, "BankAcctID"):
        raise business_error("Choose the source bank before the amount.", TABLE, "BankAcctID")
    row["DocTranAmt"] = args["docTranAmt"]
    _check_amount(row)
    with state.store.transaction() as txn:
        _new_balances(txn, ctx, row)
    return _answer(row)


def validate_before_transfer(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Every check ``CreateBankTranRecords`` makes, without writing."""
    row = args["ds"]
    with state.store.transaction() as txn:
        _validate(txn, ctx, row)
    return _answer(row)


def create_bank_tran_records(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Validate, then write the transfer's two register rows under one new ``TranNum``."""
    row = args["ds"]
    with state.store.transaction() as txn:
        _validate(txn, ctx, row)
        row["TranNum"] = (txn.largest("BankTrans", "TranNum", Company=ctx.company) or 0) + 1
        for bank_id, sign in ((row["BankAcctID"], -1), (row["ToBankAcctID"], 1)):
            txn.insert("BankTrans", _register_row(ctx, row, bank_id, sign))
        row["RowMod"] = ""
    return {"returnObj": row["TranNum"], "parameters": {"ds": tableset(row)}}


def get_by_tran_num(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """The transfer ``TranNum`` read back from its register rows; 404 when there is none."""
    with state.store.transaction() as txn:
        rows = txn.where("BankTrans", Company=ctx.company, TranNum=args["TranNum"], SourceModule=TRANSFER)
    source = next((r for r in rows if amount(r, "DocTranAmt") < 0), None)
    target = next((r for r in rows if amount(r, "DocTranAmt") > 0), None)
    if source is None or target is None:
        raise not_found_error("BankFundsTransfer", f"Bank funds transfer {args['TranNum']} was not found.")
    row = blank_row(TABLE, ctx.company)
    row.update({name: source[name] for name in ("BankAcctID", "TranNum", "TranDate", "TranRef", "GLPosted",
                                                "CurrencyCode", "ExchangeRate", "JournalNum", "JournalCode",
                                                "EntryPerson", "EntryDate", *FISCAL_FIELDS)})
    row.update(DocTranAmt=-amount(source, "DocTranAmt"), TranAmt=-amount(source, "TranAmt"),
               ToBankAcctID=target["BankAcctID"], ToCurrencyCode=target["CurrencyCode"],
               ToDocTranAmt=amount(target, "DocTranAmt"), ToTranAmt=amount(target, "TranAmt"),
               ToExchangeRate=target["ExchangeRate"])
    return {"returnObj": tableset(row)}


def _check_amount(row: dict) -> None:
    value = amount(row, "DocTranAmt")
    if value <= 0:
        raise business_error("The transfer amount must be greater than zero.", TABLE, "DocTranAmt")
    known_currency(text(row, "CurrencyCode"), TABLE)
    check_decimals(value, row["CurrencyCode"], TABLE, "DocTranAmt")
    if text(row, "ToBankAcctID") and text(row, "ToCurrencyCode") != row["CurrencyCode"]:
        raise business_error(f"ToCurrencyCode {row['ToCurrencyCode'] or '(blank)'} must equal CurrencyCode "
                             f"{row['CurrencyCode']}: no cross-currency transfer.", TABLE, "ToCurrencyCode")
    rate = amount(row, "ExchangeRate") or Decimal(1)
    row.update(ExchangeRate=rate, ToExchangeRate=rate, ToDocTranAmt=value, TranAmt=base_amount(value, rate),
               ToTranAmt=base_amount(value, rate))


def _new_balances(txn: Txn, ctx: WriteContext, row: dict) -> None:
    moved = amount(row, "TranAmt")
    if text(row, "BankAcctID"):
        row["FromNewBalance"] = amount(row, "FromBalance") - moved
    if text(row, "ToBankAcctID"):
        row["ToNewBalance"] = amount(row, "ToBalance") + moved


def _validate(txn: Txn, ctx: WriteContext, row: dict) -> None:
    source = open_bank(txn, ctx.company, text(row, "BankAcctID"), TABLE, "BankAcctID")
    target = open_bank(txn, ctx.company, text(row, "ToBankAcctID"), TABLE, "ToBankAcctID")
    if source["BankAcctID"] == target["BankAcctID"]:
        raise business_error("The target bank must differ from the source bank.", TABLE, "ToBankAcctID")
    fiscal = period_of(txn, ctx.company, row["TranDate"], TABLE, "TranDate")
    for name, value in fiscal.items():
        if row.get(name) not in (value, 0, "") and row.get(name) is not None:
            raise business_error(f"{name} {row[name]!r} does not agree with TranDate ({value!r}).", TABLE, name)
    row.update(fiscal)
    if not text(row, "ToBankAcctID") or not text(row, "ToCurrencyCode"):
        raise business_error("ToCurrencyCode is required.", TABLE, "ToCurrencyCode")
    _check_amount(row)
    check_reference(row, TABLE)


def _register_row(ctx: WriteContext, row: dict, bank_id: str, sign: int) -> dict:
    register = blank_row("BankTran", ctx.company)
    register.update({name: row[name] for name in ("TranNum", "TranDate", "TranRef", "CurrencyCode", "ExchangeRate",
                                                  *FISCAL_FIELDS)})
    register.update(BankAcctID=bank_id, DocTranAmt=sign * amount(row, "DocTranAmt"),
                    TranAmt=sign * amount(row, "TranAmt"), GLPosted=False, Voided=False, SourceModule=TRANSFER,
                    EntryPerson=ctx.username, EntryDate=today())
    return register
