"""A Stripe payout as one GL journal (the "journal shape", contract §4b, §5b, §6b), for sites whose
Stripe clearing account is a GL account rather than an Epicor bank.

One journal per payout in the day's journal group ``SJ<YYMMDD>``: debit operating cash (the payout
amount) and each fee category's expense (a negative sum, fees returned, is a credit), credit clearing
(the payout amount + Σ fees), so debits equal credits. Header and lines carry ``Description`` = the
payout id. A failed payout after posting gets the journal ``po_…-R``: clearing debit, operating cash
credit, the payout amount.

Accounts are configured in display form (``1010-00-00``) and sent in Epicor's internal form
(``1010|00|00`` and ``SegValue1…n``), converted with the chart's ``SeparatorChar``.

Idempotency: the header is looked up by ``Description`` (and, when none is open, the posted lines,
``GLJrnDtls``) before anything is created; a header without all its lines is completed line by line,
a line being matched by account and amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tasks.connectors.epicor import AlreadyExists, odata_literal
from tasks.context import Context
from tasks.epicor.bank import amount_text, arrival_day, wire_amount
from tasks.errors import MappingError
from tasks.mapping.dates import group_id
from tasks.mapping.payout_settings import PayoutSettings
from tasks.mapping.payouts import FEE_CATEGORIES

GROUPS = ("Erp.BO.GLJrnGrpSvc", "GLJrnGrps")
HEADERS = ("Erp.BO.GLJournalEntrySvc", "GLJournalEntries")
LINES = ("Erp.BO.GLJournalEntrySvc", "GLJrnDtlMnls")
POSTED = ("Erp.BO.GLJrnDtlSvc", "GLJrnDtls")
COAS = ("Erp.BO.COASvc", "COAs")
HEADER_KEY = ("BookID", "FiscalYear", "FiscalYearSuffix", "JournalCode", "JournalNum", "FiscalCalendarID")
MAX_SEGMENTS = 20


def internal_account(display: str, separator: str) -> dict[str, Any]:
    """``1010-00-00`` with separator ``-`` → ``{"GLAccount": "1010|00|00", "SegValue1": "1010", …}``."""
    if not separator:
        raise MappingError("the chart of accounts has no SeparatorChar: cannot read display accounts",
                           reason="payout.chart")
    segments = display.split(separator)
    if not all(segments) or len(segments) > MAX_SEGMENTS or "|" in display:
        raise MappingError(f"GL account {display!r} is not in the chart's display form "
                           f"(segments joined by {separator!r}, e.g. 1010{separator}00{separator}00)",
                           reason="payout.chart")
    return {"GLAccount": "|".join(segments), **{f"SegValue{n}": value for n, value in enumerate(segments, 1)}}


def plan(payout: Mapping[str, Any], fees: Mapping[str, int], settings: PayoutSettings,
         currency_code: str) -> dict[str, Any]:
    """The journal of one payout, lines in display form with decimal text amounts (debit, credit)."""
    currency, accounts = str(payout["currency"]).lower(), settings.journal_accounts
    date = arrival_day(payout["arrival_date"])
    amount = int(payout["amount"])
    lines = [_line(accounts["operating_cash"], amount, currency)]
    lines += [_line(accounts[name], fees[name], currency) for name in FEE_CATEGORIES if fees.get(name)]
    lines.append(_line(accounts["clearing"], -(amount + sum(fees.get(name, 0) for name in FEE_CATEGORIES)), currency))
    return {"shape": "journal", "payout": payout["id"], "currency": currency, "CurrencyCode": currency_code,
            "date": date, "group": group_id(settings.journal_group_prefix, date), "JournalCode": settings.journal_code,
            "Description": payout["id"], "lines": lines}


def reversal_plan(journal_plan: Mapping[str, Any], settings: PayoutSettings, amount: int, date: str) -> dict[str, Any]:
    """The journal that reverses a failed payout's transfer: clearing debit, operating cash credit."""
    currency, accounts = journal_plan["currency"], settings.journal_accounts
    return {**journal_plan, "Description": journal_plan["payout"] + "-R", "date": date,
            "group": group_id(settings.journal_group_prefix, date),
            "lines": [_line(accounts["clearing"], amount, currency),
                      _line(accounts["operating_cash"], -amount, currency)]}


def _line(account: str, signed_minor: int, currency: str) -> dict[str, Any]:
    """A debit for a positive amount, a credit for a negative one (both positive on the wire)."""
    side = "TotDebit" if signed_minor > 0 else "TotCredit"
    return {"account": account, side: amount_text(abs(signed_minor), currency)}


def balanced(journal_plan: Mapping[str, Any]) -> bool:
    debit = sum(Decimal(line.get("TotDebit", "0")) for line in journal_plan["lines"])
    credit = sum(Decimal(line.get("TotCredit", "0")) for line in journal_plan["lines"])
    return debit == credit


# -- posting ------------------------------------------------------------------------------------------
def post_plan(ctx: Context, journal_plan: Mapping[str, Any]) -> dict[str, Any]:
    """Create the journal unless it exists (open or posted); complete a header missing lines."""
    description = journal_plan["Description"]
    header = open_header(ctx, description)
    if header is None and posted_exists(ctx, description):
        return {"shape": "journal", "documents": [{"kind": "journal", "Description": description, "posted": True,
                                                   "created": False}]}
    created = header is None
    if header is None:
        group = ensure_group(ctx, journal_plan)
        header = ctx.epicor.create(*HEADERS, _header_row(ctx, journal_plan, group))
    else:
        group = ctx.epicor.get(*GROUPS, header["GroupID"]) or {}
    separator = chart_separator(ctx, str(group.get("COACode") or ""))
    existing = ctx.epicor.query(*LINES, f"Description eq {odata_literal(description)} and "
                                f"JournalNum eq {int(header['JournalNum'])}") if not created else []
    added = 0
    for line in journal_plan["lines"]:
        row = {**internal_account(line["account"], separator), **_sides(line)}
        if _take_match(existing, row):
            continue
        ctx.epicor.create(*LINES, {"Company": ctx.epicor.company, **{k: header[k] for k in HEADER_KEY},
                                   "JournalLine": 0, "Description": description, **row})
        added += 1
    return {"shape": "journal", "documents": [{"kind": "journal", "Description": description,
                                               "GroupID": header.get("GroupID"), "JournalNum": header["JournalNum"],
                                               "lines_added": added, "created": created}]}


def open_header(ctx: Context, description: str) -> dict[str, Any] | None:
    rows = ctx.epicor.query(*HEADERS, f"Description eq {odata_literal(description)}",
                            select=",".join(("GroupID", "TotDebit", "TotCredit", *HEADER_KEY)))
    return rows[0] if rows else None


def posted_exists(ctx: Context, description: str) -> bool:
    return bool(ctx.epicor.query(*POSTED, f"Description eq {odata_literal(description)}", top=1))


def ensure_group(ctx: Context, journal_plan: Mapping[str, Any]) -> dict[str, Any]:
    """The day's journal group: its row carries the book, fiscal fields and chart the server derived."""
    found = ctx.epicor.get(*GROUPS, journal_plan["group"])
    if found is not None:
        return found
    try:
        return ctx.epicor.create(*GROUPS, {"Company": ctx.epicor.company, "GroupID": journal_plan["group"],
                                           "JEDate": journal_plan["date"], "JournalCode": journal_plan["JournalCode"]})
    except AlreadyExists:
        return ctx.epicor.get(*GROUPS, journal_plan["group"]) or {}


def _header_row(ctx: Context, journal_plan: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    payout = journal_plan["payout"]
    return {"Company": ctx.epicor.company, "GroupID": journal_plan["group"], "BookID": group["BookID"],
            "FiscalYear": group["FiscalYear"], "FiscalYearSuffix": group.get("FiscalYearSuffix") or "",
            "FiscalCalendarID": group["FiscalCalendarID"], "JournalCode": journal_plan["JournalCode"],
            "JournalNum": 0, "JEDate": journal_plan["date"], "CurrencyCode": journal_plan["CurrencyCode"],
            "Description": journal_plan["Description"],
            "CommentText": f"Stripe payout {payout} arriving {journal_plan['date'][:10]}",
            "ExtSysURL": f"https://dashboard.stripe.com/payouts/{payout}"}


def chart_separator(ctx: Context, coa_code: str) -> str:
    row = ctx.epicor.get(*COAS, coa_code) if coa_code else None
    if row is None:
        raise MappingError(f"chart of accounts {coa_code or '(none)'} not found in Epicor", reason="payout.chart")
    return str(row.get("SeparatorChar") or "")


def _sides(line: Mapping[str, Any]) -> dict[str, Any]:
    return {side: wire_amount(line[side]) for side in ("TotDebit", "TotCredit") if side in line}


def _take_match(existing: list[dict[str, Any]], row: Mapping[str, Any]) -> bool:
    """Remove and report the first existing line with the row's account and amount (a line made by an
    earlier, interrupted run)."""
    for index, line in enumerate(existing):
        same_amount = all(Decimal(str(line.get(side) or 0)) == Decimal(str(row.get(side, 0)))
                          for side in ("TotDebit", "TotCredit"))
        if line.get("GLAccount") == row["GLAccount"] and same_amount:
            del existing[index]
            return True
    return False
