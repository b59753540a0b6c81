"""Amounts: exact decimal arithmetic and the currency's decimal places.

Rows are stored with JSON floats, but every sum and product the server computes runs in ``Decimal``
and is rounded half-up to the document currency's places, so a total never drifts by float error.
Caller-sent amounts with more places than the currency allows are a business error, not rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import business_error
from .reference import CURRENCIES


def to_decimal(value: Any) -> Decimal:
    """A stored or sent number as an exact ``Decimal`` (floats via their shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if value is None:
        return Decimal(0)
    return Decimal(str(value))


def places(currency: str) -> int:
    """Decimal places of ``currency`` (2 when unknown, which rules reject earlier anyway)."""
    return CURRENCIES.get(currency, 2)


def round_money(value: Decimal, currency: str) -> Decimal:
    """``value`` rounded half-up to the currency's places."""
    return value.quantize(Decimal(1).scaleb(-places(currency)), rounding=ROUND_HALF_UP)


def decimals_of(value: Decimal) -> int:
    """How many decimal places ``value`` really carries (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check_decimals(value: Any, currency: str, table: str, field: str) -> None:
    """Reject an amount with more decimal places than ``currency`` allows."""
    amount = to_decimal(value)
    if decimals_of(amount) > places(currency):
        raise business_error(
            f"{field} {amount} has more decimal places than currency {currency} allows "
            f"({places(currency)}).", table, field)
