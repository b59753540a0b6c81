"""The main book's fiscal calendar, as the payout documents' rules read it (contract §5b, common rules).

Every payout document's date must fall in a fiscal period of the main book's calendar whose book
period is open; the server derives ``FiscalYear``, ``FiscalYearSuffix``, ``FiscalPeriod`` and
``FiscalCalendarID`` from it, and values a caller sent for them must agree. Periods and their
closed flags are the rows of ``FiscalPers`` and ``GLBookPerSearches`` (``payout_reference.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .errors import business_error
from .store import Txn

FISCAL_FIELDS = ("FiscalYear", "FiscalYearSuffix", "FiscalPeriod", "FiscalCalendarID")


def main_book(txn: Txn, company: str, table: str) -> dict:
    """The company's main book (``GLBooks.MainBook``), or a 400 when there is none."""
    books = txn.where("GLBooks", Company=company, MainBook=True)
    if not books:
        raise business_error("The company has no main book.", table, "BookID")
    return dict(books[0])


def period_of(txn: Txn, company: str, date_text: str | None, table: str, field: str,
              book: dict | None = None) -> dict[str, Any]:
    """The fiscal fields of ``date_text`` in ``book``'s calendar (default: the main book's).

    A missing date, a date in no period and a date in a closed book period are 400s on ``field``.
    """
    if not date_text:
        raise business_error(f"{field} is required.", table, field)
    book = book or main_book(txn, company, table)
    period = _fiscal_period(txn, company, book["FiscalCalendarID"], date_text)
    if period is None:
        raise business_error(f"{field} {date_text[:10]} is not in a fiscal period of calendar "
                             f"{book['FiscalCalendarID']}.", table, field)
    key = (company, book["BookID"], period["FiscalCalendarID"], period["FiscalYear"],
           period["FiscalYearSuffix"], period["FiscalPeriod"])
    book_period = txn.get("GLBookPerSearches", key)
    if book_period is None or book_period["ClosedPeriod"]:
        raise business_error(f"Fiscal period {period['FiscalYear']}/{period['FiscalPeriod']} of book "
                             f"{book['BookID']} is closed.", table, field)
    return {name: period[name] for name in FISCAL_FIELDS}


def _fiscal_period(txn: Txn, company: str, calendar_id: str, date_text: str) -> dict | None:
    when = dt.datetime.fromisoformat(date_text)
    # Month periods are the seeded calendar's shape: try the direct key first, then any period row.
    guess = txn.get("FiscalPers", (company, calendar_id, when.year, "", when.month))
    candidates = [guess] if guess is not None else txn.where("FiscalPers", Company=company,
                                                             FiscalCalendarID=calendar_id)
    for period in candidates:
        if (period["StartDate"] or "") <= date_text and date_text[:10] <= (period["EndDate"] or "")[:10]:
            return period
    return None


def check_agrees(sent: dict[str, Any], server: dict[str, Any], table: str) -> None:
    """A caller-sent value of a server-derived field must equal the server's (400 otherwise)."""
    for name, value in server.items():
        if name in sent and sent[name] != value:
            raise business_error(f"{name} {sent[name]!r} does not agree with the server's value {value!r}.",
                                 table, name)
