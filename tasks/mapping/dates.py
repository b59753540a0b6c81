"""Stripe timestamps → Epicor document dates and daily group ids.

Policy: Epicor document dates are calendar dates in the company's time zone (``mappings`` defaults),
sent as local midnight without an offset, the way Epicor's own clients send them. A payment at
``2026-03-05T02:00Z`` is a 4 March sale for a company in Los Angeles: using UTC would put evening sales
in the next day's books and in the next day's invoice and cash groups. Time comes in as an argument,
never from the clock, so a replayed event lands on the same day as the first attempt.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tasks.errors import MappingError

EPICOR_DATE_FORMAT = "%Y-%m-%dT00:00:00"


def company_zone(tz_name: str) -> ZoneInfo:
    """The IANA zone named in the mappings; a bad name is a configuration error."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise MappingError(f"'{tz_name}' is not an IANA time zone (e.g. 'America/Chicago')",
                           reason="mapping.timezone") from None


def local_date(unix_seconds: int, tz_name: str) -> date:
    """The calendar date of a Unix timestamp in the company's zone."""
    return datetime.fromtimestamp(unix_seconds, company_zone(tz_name)).date()


def epicor_date(unix_seconds: int, tz_name: str) -> str:
    """Local midnight of that date as Epicor takes it: ``"2026-03-04T00:00:00"``."""
    return local_date(unix_seconds, tz_name).strftime(EPICOR_DATE_FORMAT)


def group_id(prefix: str, document_date: str) -> str:
    """Daily invoice or cash group id: prefix + ``YYMMDD`` (``SC260304``), at most 8 characters."""
    day = datetime.strptime(document_date[:10], "%Y-%m-%d")
    return f"{prefix}{day:%y%m%d}"
