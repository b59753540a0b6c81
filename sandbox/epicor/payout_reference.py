"""Reference data of the payout documents (contract §8), served read-only as rows like the set-up sets.

Bank fee codes, journal codes, the main book with its chart and accounts, and the fiscal calendar
``MAIN`` (fiscal year = calendar year, period = month, 2020-2030) with its book periods, one of them
closed (2021 period 6). The rules read these rows, not constants, so a test that removes one
(``DELETE /_sandbox/epicor/reference/<set>/<code>``) sees the emulator refuse what needs it.
Seeded once per database, like ``reference.seed_setup``.
"""

from __future__ import annotations

import calendar
from typing import TYPE_CHECKING, Any

from .reference import BASE_CURRENCY
from .schema import blank_row

if TYPE_CHECKING:
    from .store import RowStore

MAIN_BOOK = "MAIN"
CHART = "MAIN"
FISCAL_CALENDAR = "MAIN"
SEPARATOR = "-"
FISCAL_YEARS = range(2020, 2031)
CLOSED_PERIODS = frozenset({(2021, 6)})

# BankFeeID -> description (contract §8: one per fee category).
BANK_FEES: dict[str, str] = {"STRFEE": "Stripe processing fees", "DISPFEE": "Stripe dispute fees",
                             "FXFEE": "Stripe currency conversion", "OTHFEE": "Other Stripe fees"}

# JournalCode -> (description, system journal)
JOURNAL_CODES: dict[str, tuple[str, bool]] = {"STRP": ("Stripe payouts", False), "GJ": ("General journal", False),
                                              "CR": ("Cash receipts", True), "BK": ("Bank", True)}

# Internal account -> (description, active, effective from, effective to)
GL_ACCOUNTS: dict[str, tuple[str, bool, str | None, str | None]] = {
    "1010|00|00": ("Operating cash", True, None, None),
    "1015|00|00": ("Stripe clearing", True, None, None),
    "6150|00|00": ("Stripe processing fees", True, None, None),
    "6151|00|00": ("Stripe dispute fees", True, None, None),
    "6152|00|00": ("Currency conversion fees", True, None, None),
    "6159|00|00": ("Other Stripe fees", True, None, None),
    "6190|00|00": ("Inactive account", False, None, None),
    "6191|00|00": ("Account of 2020 only", True, "2020-01-01T00:00:00", "2020-12-31T00:00:00"),
}

PAYOUT_SETUP_SEEDED = "payout_setup_seeded"


def payout_setup_rows(company: str) -> dict[str, list[dict[str, Any]]]:
    """Every reference row of the payout documents for ``company``."""
    return {
        "BankFees": [{**blank_row("BankFee", company), "BankFeeID": code, "Description": text}
                     for code, text in BANK_FEES.items()],
        "JrnlCodes": [{**blank_row("JrnlCode", company), "JournalCode": code, "JrnlDescription": text,
                       "SystemJournal": system} for code, (text, system) in JOURNAL_CODES.items()],
        "GLBooks": [{**blank_row("GLBook", company), "BookID": MAIN_BOOK, "Description": "Main book",
                     "MainBook": True, "COACode": CHART, "CurrencyCode": BASE_CURRENCY,
                     "FiscalCalendarID": FISCAL_CALENDAR, "isDefaultBook": True, "MainBookID": MAIN_BOOK}],
        "COAs": [{**blank_row("COA", company), "COACode": CHART, "Description": "Main chart",
                  "SeparatorChar": SEPARATOR, "NbrSegments": 3, "ChartInUse": True, "MasterCOA": True}],
        "GLAccounts": [_account(company, account, *details) for account, details in GL_ACCOUNTS.items()],
        "FiscalPers": [{**blank_row("FiscalPer", company), **_period(year, period)}
                       for year in FISCAL_YEARS for period in range(1, 13)],
        "GLBookPerSearches": [{**blank_row("GLBookPer", company), **_period(year, period), "BookID": MAIN_BOOK,
                               "ClosedPeriod": (year, period) in CLOSED_PERIODS}
                              for year in FISCAL_YEARS for period in range(1, 13)],
    }


def _account(company: str, account: str, description: str, active: bool, eff_from: str | None,
             eff_to: str | None) -> dict[str, Any]:
    segments = account.split("|")
    row = {**blank_row("GLAccount", company), "COACode": CHART, "GLAccount1": account,
           "AccountDesc": description, "Active": active, "EffFrom": eff_from, "EffTo": eff_to,
           "GLAcctDispGLAcctDisp": SEPARATOR.join(segments), "GLAcctDispAccountDesc": description}
    row.update({f"SegValue{number}": value for number, value in enumerate(segments, 1)})
    return row


def _period(year: int, period: int) -> dict[str, Any]:
    last = calendar.monthrange(year, period)[1]
    return {"FiscalCalendarID": FISCAL_CALENDAR, "FiscalYear": year, "FiscalYearSuffix": "",
            "FiscalPeriod": period, "StartDate": f"{year}-{period:02d}-01T00:00:00",
            "EndDate": f"{year}-{period:02d}-{last:02d}T00:00:00"}


def seed_payout_setup(store: RowStore, company: str) -> None:
    """Insert the payout reference rows once per database (fresh, reset, or made by an older sandbox)."""
    if store.get_meta(PAYOUT_SETUP_SEEDED) is not None:
        return
    with store.transaction() as txn:
        for set_name, rows in payout_setup_rows(company).items():
            for row in rows:
                txn.insert(set_name, row)
    store.set_meta(PAYOUT_SETUP_SEEDED, company)
