"""GL journals of the journal shape (contract §5b, GL journals): groups, headers and manual lines.

Group (``GLJrnGrps``): ``GroupID`` 1-8 characters and unique (409); ``JEDate`` required (an open
period); ``JournalCode`` required, existing and not a system journal; ``BookID`` defaults to the main
book; ``BookMode`` ``S``; the fiscal fields, ``COACode`` and ``CurrencyCode`` come from the date and
the book and values sent must agree. Once it holds journals its book, journal code and period stay.

Header (``GLJournalEntries``): the group must exist; book, journal code and fiscal fields default to
the group's and must equal them; ``JournalNum`` 0 is max + 1 for (book, year, suffix, journal code),
posted journals included; ``JEDate`` defaults to the group's and lies in its period; ``CurrencyCode``
defaults to the book's (any seeded currency); totals and ``Balance`` are computed.

Line (``GLJrnDtlMnls``): its header must exist; ``GroupID`` is the header's; ``GLAccount`` non-blank,
an account of the book's chart in internal form (``1015|00|00``), active and effective on the date;
``SegValueN`` come from it (sent ones must match); exactly one of ``TotDebit``/``TotCredit`` is
non-zero, positive, in the journal currency's decimals; ``JournalLine`` 0 is max + 1; currency,
period and chart are the journal's (sent values must agree); ``TransAmt`` = debit - credit. Saving
an unbalanced journal is allowed; ``PostGroupJournals`` (``journal_posting.py``) checks balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..dates import today
from ..errors import business_error
from ..fiscal import FISCAL_FIELDS, check_agrees, main_book, period_of
from ..money import check_decimals
from ..schema import JOURNAL_KEYS
from ..store import Txn
from .bank import MAX_REFERENCE, known_currency
from .common import WriteContext, amount, group_id_or_fail, insert_new, text

GROUP, HEAD, LINE = "GLJrnGrp", "GLJrnHed", "GLJrnDtlMnl"
SEGMENTS = 20


def _book(txn: Txn, ctx: WriteContext, book_id: str, table: str) -> dict:
    if not book_id:
        return main_book(txn, ctx.company, table)
    book = txn.get("GLBooks", (ctx.company, book_id))
    if book is None:
        raise business_error(f"Book {book_id} is not valid.", table, "BookID")
    return book


def _check_description(row: dict, table: str) -> None:
    if len(row.get("Description") or "") > MAX_REFERENCE:
        raise business_error(f"Description is longer than {MAX_REFERENCE} characters.", table, "Description")


# ---- groups ------------------------------------------------------------------------------------

def create_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default and insert a journal group."""
    row["GroupID"] = group_id_or_fail(row, GROUP)
    row.update(CreatedBy=ctx.username, ActiveUserID=ctx.username)
    _validate_group(txn, ctx, row, sent)
    return insert_new(txn, "GLJrnGrps", row)


def update_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Validate and save a changed group; book, journal code and period stay once it holds journals."""
    _validate_group(txn, ctx, row, sent)
    if journals_of(txn, current):
        for field in ("BookID", "JournalCode", "FiscalYear", "FiscalPeriod"):
            if row[field] != current[field]:
                raise business_error(f"Group {current['GroupID']} holds journals: its {field} cannot change.",
                                     GROUP, "JEDate" if field.startswith("Fiscal") else field)
    txn.update("GLJrnGrps", row)


def _validate_group(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> None:
    code = text(row, "JournalCode")
    if not code:
        raise business_error("Journal code is required.", GROUP, "JournalCode")
    journal = txn.get("JrnlCodes", (ctx.company, code))
    if journal is None:
        raise business_error(f"Journal code {code} is not valid.", GROUP, "JournalCode")
    if journal["SystemJournal"]:
        raise business_error(f"Journal code {code} is a system journal.", GROUP, "JournalCode")
    row["BookMode"] = text(row, "BookMode") or "S"
    if row["BookMode"] != "S":
        raise business_error(f"Book mode {row['BookMode']} is not valid: only S.", GROUP, "BookMode")
    book = _book(txn, ctx, text(row, "BookID"), GROUP)
    fiscal = period_of(txn, ctx.company, row["JEDate"], GROUP, "JEDate", book)
    server = {**fiscal, "COACode": book["COACode"], "CurrencyCode": book["CurrencyCode"]}
    check_agrees(sent, server, GROUP)
    row.update(server, BookID=book["BookID"], BookIDCurrencyCode=book["CurrencyCode"],
               BookIDDescription=book["Description"], JournalCodeJrnlDescription=journal["JrnlDescription"])


def journals_of(txn: Txn, group: dict) -> list[dict]:
    """The (unposted) journal headers of a group."""
    return txn.where("GLJournalEntries", Company=group["Company"], GroupID=group["GroupID"])


# ---- headers -----------------------------------------------------------------------------------

def create_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, default, number and insert a journal header."""
    group = _group(txn, ctx, text(row, "GroupID"), HEAD)
    for field in ("BookID", "JournalCode", *FISCAL_FIELDS):
        if field not in sent or sent[field] in ("", 0):
            row[field] = group[field]
    row["JEDate"] = row["JEDate"] or group["JEDate"]
    _validate_header(txn, ctx, row, group)
    if row["JournalNum"] == 0:
        row["JournalNum"] = _next_journal(txn, row)
    row.update(EnteredBy=ctx.username, CreateDate=today(), Posted=False, TotDebit=0, TotCredit=0, Balance=0)
    return insert_new(txn, "GLJournalEntries", row)


def update_header(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Validate and save a changed header (its key cannot change)."""
    group = _group(txn, ctx, text(row, "GroupID"), HEAD)
    _validate_header(txn, ctx, row, group)
    if row["CurrencyCode"] != current["CurrencyCode"] and lines_of(txn, current):
        raise business_error("A journal with lines cannot change currency.", HEAD, "CurrencyCode")
    txn.update("GLJournalEntries", row)


def _group(txn: Txn, ctx: WriteContext, group_id: str, table: str) -> dict:
    group = txn.get("GLJrnGrps", (ctx.company, group_id))
    if group is None:
        raise business_error(f"Journal group {group_id or '(blank)'} is not valid.", table, "GroupID")
    return group


def _validate_header(txn: Txn, ctx: WriteContext, row: dict, group: dict) -> None:
    for field in ("BookID", "JournalCode", *FISCAL_FIELDS):
        if row[field] != group[field]:
            raise business_error(f"{field} {row[field]!r} is not the group's ({group[field]!r}).", HEAD, field)
    book = _book(txn, ctx, row["BookID"], HEAD)
    fiscal = period_of(txn, ctx.company, row["JEDate"], HEAD, "JEDate", book)
    if fiscal != {name: group[name] for name in FISCAL_FIELDS}:
        raise business_error(f"JEDate {row['JEDate'][:10]} is not in the group's period "
                             f"{group['FiscalYear']}/{group['FiscalPeriod']}.", HEAD, "JEDate")
    row["CurrencyCode"] = known_currency(text(row, "CurrencyCode") or book["CurrencyCode"], HEAD)
    _check_description(row, HEAD)


def _next_journal(txn: Txn, row: dict) -> int:
    scope = {"Company": row["Company"], "BookID": row["BookID"], "FiscalYear": row["FiscalYear"],
             "FiscalYearSuffix": row["FiscalYearSuffix"], "JournalCode": row["JournalCode"]}
    open_max = txn.largest("GLJournalEntries", "JournalNum", **scope) or 0
    posted_max = txn.largest("GLJrnDtls", "JournalNum", **scope) or 0
    return max(open_max, posted_max) + 1


def header_key(row: dict) -> tuple:
    """The header key a header or line row names."""
    return tuple(row[name] for name in JOURNAL_KEYS)


def lines_of(txn: Txn, header: dict) -> list[dict]:
    """The manual lines of a journal header."""
    return txn.where("GLJrnDtlMnls", **{name: header[name] for name in JOURNAL_KEYS})


def recompute_header(txn: Txn, header: dict) -> None:
    """Totals and balance from the header's lines."""
    current = txn.get("GLJournalEntries", header_key(header))
    assert current is not None, "a line's header exists (checked before the line was written)"
    header = current
    lines = lines_of(txn, header)
    debit = sum((amount(line, "TotDebit") for line in lines), Decimal(0))
    credit = sum((amount(line, "TotCredit") for line in lines), Decimal(0))
    header.update(TotDebit=debit, TotCredit=credit, Balance=debit - credit, DispTotDebit=debit,
                  DispTotCredit=credit)
    txn.update("GLJournalEntries", header)


# ---- lines -------------------------------------------------------------------------------------

def create_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any]) -> dict:
    """Validate, number and insert a journal line; the header's totals follow."""
    header = _header(txn, row)
    _validate_line(txn, ctx, row, sent, header)
    if row["JournalLine"] == 0:
        largest = txn.largest("GLJrnDtlMnls", "JournalLine", **{name: header[name] for name in JOURNAL_KEYS})
        row["JournalLine"] = (largest or 0) + 1
    stored = insert_new(txn, "GLJrnDtlMnls", row)
    recompute_header(txn, header)
    return stored


def update_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], current: dict) -> None:
    """Validate and save a changed line; the header's totals follow."""
    header = _header(txn, row)
    _validate_line(txn, ctx, row, sent, header)
    txn.update("GLJrnDtlMnls", row)
    recompute_header(txn, header)


def _header(txn: Txn, row: dict) -> dict:
    header = txn.get("GLJournalEntries", header_key(row))
    if header is None:
        raise business_error(f"Journal {row['JournalCode']} {row['JournalNum']} of book {row['BookID'] or '(blank)'} "
                             f"{row['FiscalYear']} is not valid.", LINE, "JournalNum")
    return header


def _validate_line(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], header: dict) -> None:
    row["GroupID"] = text(row, "GroupID") or header["GroupID"]
    if row["GroupID"] != header["GroupID"]:
        raise business_error(f"GroupID {row['GroupID']} is not the journal's ({header['GroupID']}).", LINE, "GroupID")
    book = _book(txn, ctx, header["BookID"], LINE)
    row["JEDate"] = row["JEDate"] or header["JEDate"]
    server = {"CurrencyCode": header["CurrencyCode"], "FiscalPeriod": header["FiscalPeriod"],
              "COACode": book["COACode"]}
    check_agrees(sent, server, LINE)
    row.update(server)
    if period_of(txn, ctx.company, row["JEDate"], LINE, "JEDate", book)["FiscalPeriod"] != header["FiscalPeriod"]:
        raise business_error("JEDate is not in the journal's period.", LINE, "JEDate")
    _check_account(txn, ctx, row, sent, book)
    _check_amounts(row, sent)
    _check_description(row, LINE)


def _check_account(txn: Txn, ctx: WriteContext, row: dict, sent: dict[str, Any], book: dict) -> None:
    account = text(row, "GLAccount")
    if not account:
        raise business_error("G/L Account is required.", LINE, "GLAccount")
    found = txn.get("GLAccounts", (ctx.company, book["COACode"], account))
    if found is None:
        raise business_error(f"G/L Account {account} is not valid for chart {book['COACode']} (internal form "
                             "joins the segments with '|').", LINE, "GLAccount")
    if not found["Active"]:
        raise business_error(f"G/L Account {account} is inactive.", LINE, "GLAccount")
    day = row["JEDate"][:10]
    if (found["EffFrom"] and day < found["EffFrom"][:10]) or (found["EffTo"] and day > found["EffTo"][:10]):
        raise business_error(f"G/L Account {account} is not effective on {day}.", LINE, "GLAccount")
    segments = account.split("|")
    for number in range(1, SEGMENTS + 1):
        field, value = f"SegValue{number}", segments[number - 1] if number <= len(segments) else ""
        if sent.get(field) not in (None, "", value):
            raise business_error(f"{field} {sent[field]!r} does not match G/L Account {account}.", LINE, field)
        row[field] = value


def _check_amounts(row: dict, sent: dict[str, Any]) -> None:
    debit, credit = amount(row, "TotDebit"), amount(row, "TotCredit")
    if (debit != 0) == (credit != 0):
        raise business_error("Exactly one of TotDebit and TotCredit must be non-zero.", LINE, "TotDebit")
    for field, value in (("TotDebit", debit), ("TotCredit", credit)):
        if value < 0:
            raise business_error(f"{field} cannot be negative.", LINE, field)
        check_decimals(value, row["CurrencyCode"], LINE, field)
    if "TransAmt" in sent and amount(sent, "TransAmt") != debit - credit:
        raise business_error(f"TransAmt {sent['TransAmt']} is not TotDebit - TotCredit ({debit - credit}).",
                             LINE, "TransAmt")
    row.update(TransAmt=debit - credit, DebitAmount=debit, CreditAmount=credit)
