"""Stripe minor units ⇄ Epicor decimal amounts, per currency.

Policy: money is never a float here. Stripe sends integers in the currency's *Stripe* minor unit;
Epicor keeps amounts with the currency's *ISO* decimal places (contract §5). The two differ for a few
currencies, so each has its own table:

* zero-decimal in Stripe (JPY, KRW, …): the integer is whole units; Epicor keeps 0 decimals.
* three-decimal (KWD, BHD, …): the integer is thousandths; Epicor keeps 3 decimals. Stripe only
  accepts multiples of 10 when we send such an amount back, so a value that would need rounding is
  refused instead of silently moved by up to 0.009.
* ISK and UGX: Stripe still reads and writes them in two-decimal form (ISK 5 → ``500``) for backward
  compatibility, yet they have no minor unit. Reading ``550`` would mean ISK 5.50, which Epicor cannot
  keep, so it raises instead of dropping fifty aurar.
* HUF and TWD are two-decimal in Stripe and in ISO: no special case.

Every conversion is exact or raises ``MappingError``: a cent that goes missing here would make the
cash receipt disagree with the invoice.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from tasks.errors import MappingError

if TYPE_CHECKING:
    from tasks.mapping.tables import Mappings

STRIPE_ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# No minor unit in ISO 4217 practice, but Stripe amounts carry two implied decimals.
STRIPE_TWO_DECIMAL_WHOLE_UNITS = frozenset({"isk", "ugx"})


def _normalised(currency: str) -> str:
    """Lower-case ISO code; Stripe sends lower case, people type either."""
    code = (currency or "").strip().lower()
    if len(code) != 3 or not code.isalpha():
        raise MappingError(f"'{currency}' is not a three-letter currency code", reason="mapping.currency")
    return code


def stripe_exponent(currency: str) -> int:
    """Decimal places implied by a Stripe integer amount in this currency."""
    code = _normalised(currency)
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def epicor_decimals(currency: str) -> int:
    """Decimal places Epicor keeps for this currency (its ISO minor unit)."""
    code = _normalised(currency)
    if code in STRIPE_ZERO_DECIMAL or code in STRIPE_TWO_DECIMAL_WHOLE_UNITS:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def quantum(currency: str) -> Decimal:
    """The smallest amount Epicor can hold in this currency (``0.01``, ``1``, ``0.001``)."""
    return Decimal(1).scaleb(-epicor_decimals(currency))


def fits_currency(value: Decimal, currency: str) -> bool:
    """True when ``value`` needs no more decimals than Epicor keeps for the currency."""
    return value == value.quantize(quantum(currency))


def format_amount(value: Decimal, currency: str) -> str:
    """Decimal text with exactly the currency's Epicor decimals (``"25.00"``, ``"500"``, ``"5.120"``)."""
    if not fits_currency(value, currency):
        raise MappingError(f"{value} {currency.upper()} has more decimals than the currency allows",
                           reason="mapping.amount")
    return f"{value.quantize(quantum(currency)):f}"


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    """A Stripe integer amount as an exact Decimal with the currency's Epicor decimals."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MappingError(f"Stripe amount {amount!r} is not an integer", reason="mapping.amount")
    value = Decimal(amount).scaleb(-stripe_exponent(currency))
    if not fits_currency(value, currency):
        raise MappingError(
            f"Stripe amount {amount} {currency.upper()} means {value}, which has a fraction "
            f"{currency.upper()} cannot hold in Epicor", reason="mapping.amount")
    return value.quantize(quantum(currency))


def _as_decimal(value: Decimal | int | str) -> Decimal:
    """Decimal from text, int or Decimal; floats are refused because they carry binary noise."""
    if isinstance(value, (bool, float)):
        raise MappingError(f"amount {value!r} must be a Decimal, int or decimal text", reason="mapping.amount")
    try:
        return Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise MappingError(f"'{value}' is not an amount", reason="mapping.amount") from None


def decimal_to_minor(value: Decimal | int | str, currency: str) -> int:
    """An Epicor amount as the integer Stripe expects; raises rather than round."""
    amount = _as_decimal(value)
    if not amount.is_finite() or not fits_currency(amount, currency):
        raise MappingError(f"{value} {currency.upper()} has more decimals than the currency allows",
                           reason="mapping.amount")
    minor = int(amount.scaleb(stripe_exponent(currency)))
    if _normalised(currency) in THREE_DECIMAL and minor % 10:
        raise MappingError(
            f"{value} {currency.upper()}: Stripe only accepts {currency.upper()} amounts in steps of 0.010",
            reason="mapping.amount")
    return minor


def epicor_currency_code(stripe_currency: str, mappings: Mappings) -> str:
    """Epicor's code for a Stripe currency, via the currencies table."""
    return mappings.currency_code(_normalised(stripe_currency))
