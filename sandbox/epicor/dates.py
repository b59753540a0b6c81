"""Dates as Epicor's REST layer writes them: ISO strings without offset (``2026-03-04T00:00:00``)."""

from __future__ import annotations

import datetime as dt
import re

_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def normalize_date(text: str) -> str | None:
    """``text`` as ``YYYY-MM-DDTHH:MM:SS``, or None when it is not an ISO date or date-time.

    An offset is dropped (Epicor stores local dates), fractions of a second too.
    """
    match = _ISO.match(text.strip())
    if match is None:
        return None
    day, clock = match.group(1), match.group(2) or "00:00:00"
    clock = clock if clock.count(":") == 2 else clock + ":00"
    try:
        return dt.datetime.fromisoformat(f"{day}T{clock}").isoformat()
    except ValueError:
        return None


def today() -> str:
    """Today at midnight."""
    return dt.date.today().isoformat() + "T00:00:00"


def add_days(date_text: str, days: int) -> str:
    """A normalized date moved by ``days``."""
    return (dt.datetime.fromisoformat(date_text) + dt.timedelta(days=days)).isoformat()


def fiscal_fields(date_text: str | None) -> dict[str, int]:
    """``FiscalYear``/``FiscalPeriod`` for a date (calendar-month periods)."""
    if not date_text:
        return {"FiscalYear": 0, "FiscalPeriod": 0}
    when = dt.datetime.fromisoformat(date_text)
    return {"FiscalYear": when.year, "FiscalPeriod": when.month}
