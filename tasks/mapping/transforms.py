"""The named transforms and builders a field mapping file may call: a closed registry, never ``eval``.

Policy: a mapping file (``mappings/documents/<flow>/<document>.yaml``) is data a finance-IT person edits,
so everything it can *do* is listed here, each with a label, a help text, typed parameters and examples.
The designer lists them from this registry, the loader refuses a name or parameter that is not in it
(with file, line and field), and a unit test runs every example, so the help cannot drift from the code.

* **Transforms** turn one value into another (``minor_to_decimal``, ``lookup``, ``truncate`` …). Money is
  ``Decimal`` from end to end and every conversion is exact or raises ``MappingError`` (``currency.py``).
* **Builders** are the logic that is algorithm, not assignment: settling order lines to the cent, matching
  the paying customer, the order comment template of ``defaults.yaml``. They stay Python; a file calls one by
  name (``builders: [sale]``) and maps its result's fields like any other source.

A transform receives the value, its parameters (already evaluated: a parameter may be a literal or
``{from: <JMESPath>}``) and the site's tables; a builder receives the fetched objects and the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks.errors import MappingError
from tasks.mapping.address import clean_text, split_address
from tasks.mapping.currency import epicor_currency_code, format_amount, minor_to_decimal
from tasks.mapping.dates import epicor_date, group_id
from tasks.mapping.tables import Mappings

# What a value is, as the loader reasons about it: the target's types accept some of these (engine).
VALUE_TYPES = ("text", "decimal", "integer", "boolean", "date", "object", "list", "any")
ON_MISSING = ("error", "default", "pass")
ADDRESS_PARTS = ("Address1", "Address2", "Address3", "City", "State", "Zip", "Country")


@dataclass(frozen=True)
class Param:
    """A parameter a file writes next to the transform's name (``{name: truncate, length: 30}``)."""

    name: str
    type: type
    help: str
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class Example:
    """An input, its parameters and the output the transform must give (run by a unit test)."""

    value: Any
    result: Any
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transform:
    name: str
    label: str
    help: str
    output: str  # one of VALUE_TYPES: what the loader checks against the target field's type
    function: Callable[[Any, Mapping[str, Any], Mappings], Any]
    params: tuple[Param, ...] = ()
    examples: tuple[Example, ...] = ()

    def param(self, name: str) -> Param | None:
        return next((param for param in self.params if param.name == name), None)

    def __call__(self, value: Any, params: Mapping[str, Any], tables: Mappings) -> Any:
        given = {param.name: params.get(param.name, param.default) for param in self.params}
        return self.function(value, given, tables)


@dataclass(frozen=True)
class Builder:
    name: str
    label: str
    help: str
    function: Callable[[Mapping[str, Any], Mappings], Any]


TRANSFORMS: dict[str, Transform] = {}
BUILDERS: dict[str, Builder] = {}


def transform(name: str, label: str, output: str, params: tuple[Param, ...] = (),
              examples: tuple[Example, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``function`` under ``name``; its docstring is the help a designer shows."""
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        TRANSFORMS[name] = Transform(name, label, (function.__doc__ or "").strip(), output, function, params, examples)
        return function
    return register


def builder(name: str, label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        BUILDERS[name] = Builder(name, label, (function.__doc__ or "").strip(), function)
        return function
    return register


def _blank(value: Any) -> bool:
    return value is None or value == ""


# --- money and numbers -----------------------------------------------------------------------------

CURRENCY = Param("currency", str, "Stripe currency code (usually {from: charge.currency})")


@transform("minor_to_decimal", "Stripe minor units to amount", "decimal", (CURRENCY,), (
    Example(2500, Decimal("25.00"), {"currency": "usd"}), Example(500, Decimal("500"), {"currency": "jpy"}),
    Example(5120, Decimal("5.120"), {"currency": "kwd"})))
def _minor_to_decimal(value: Any, params: Mapping[str, Any], tables: Mappings) -> Decimal | None:
    """A Stripe integer amount as an exact Decimal with the currency's Epicor decimals (JPY 500 is 500,
    KWD 5120 is 5.120); an amount that needs a fraction the currency cannot hold is an error."""
    return None if value is None else minor_to_decimal(value, params["currency"])


@transform("format_amount", "Amount as currency text", "decimal", (CURRENCY,), (
    Example(Decimal("12.5"), "12.50", {"currency": "usd"}), Example(Decimal("5.12"), "5.120", {"currency": "kwd"})))
def _format_amount(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """An amount written with exactly the currency's Epicor decimals, the exact text sent to Epicor."""
    return None if value is None else format_amount(Decimal(value), params["currency"])


@transform("decimal_text", "Quantity as text", "decimal", (), (
    Example(Decimal("2.00"), "2"), Example(Decimal("1.5"), "1.5"), Example(3, "3")))
def _decimal_text(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """A number as plain decimal text: ``2`` rather than ``2.00`` or ``2E+0``; fractions kept as written."""
    if value is None:
        return None
    number = Decimal(value)
    return f"{number.normalize():f}" if number == number.to_integral_value() else f"{number:f}"


# --- codes and tables ------------------------------------------------------------------------------

LOOKUP_TABLES: dict[str, Callable[[Mappings], Mapping[str, Any]]] = {
    "products": lambda tables: tables.products, "prices": lambda tables: tables.prices,
    "refund_reasons": lambda tables: tables.refund_reasons, "dispute_codes": lambda tables: tables.dispute_codes,
    "currencies": lambda tables: tables.currencies, "countries": lambda tables: tables.countries,
    "terms": lambda tables: tables.terms_days,
}


@transform("lookup", "Look up in a table", "text", (
    Param("table", str, "mapping table: " + ", ".join(LOOKUP_TABLES), choices=tuple(LOOKUP_TABLES)),
    Param("on_missing", str, "a key not in the table: error (names table and key), default, or pass (unchanged)",
          required=False, choices=ON_MISSING, default="error"),
    Param("default", str, "the value when on_missing is default", required=False)), (
    Example("US", "USA", {"table": "countries"}), Example("ZZ", "ZZ", {"table": "countries", "on_missing": "pass"}),
    Example("xx", "GEN", {"table": "refund_reasons", "on_missing": "default", "default": "GEN"})))
def _lookup(value: Any, params: Mapping[str, Any], tables: Mappings) -> Any:
    """The table's value for the key; what a missing key does is the file's choice, never silent."""
    table = LOOKUP_TABLES[params["table"]](tables)
    if value is not None and str(value) in table:
        return table[str(value)]
    if params["on_missing"] == "pass":
        return value
    if params["on_missing"] == "default":
        return params["default"]
    raise MappingError(f"'{value}' is not a key of the {params['table']} table", reason="mapping.lookup")


@transform("currency_code", "Epicor currency code", "text", (), (
    Example("usd", "USD"), Example("jpy", "JPY")))
def _currency_code(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """Epicor's CurrencyCode for a Stripe currency through currencies.yaml (its ``default`` decides an
    unmapped currency: upper-cased, or refused)."""
    return None if value is None else epicor_currency_code(str(value), tables)


@transform("clearing_bank", "Stripe clearing bank of a currency", "text", (), (Example("usd", "MAIN"),))
def _clearing_bank(value: Any, params: Mapping[str, Any], tables: Mappings) -> str:
    """The bank a currency's cash receipts go to: its clearing bank in payouts.yaml (so each clearing bank
    nets to zero over each payout), else defaults.yaml's ``bank_account``."""
    from tasks.mapping.payout_settings import load_payout_settings, mappings_dir  # only where it is used

    settings = load_payout_settings(mappings_dir(), tables.bank_account)
    return settings.clearing_bank(None if value is None else str(value))


# --- text ------------------------------------------------------------------------------------------


@transform("address_line", "Address field", "text", (
    Param("part", str, "which Epicor field of the split address", choices=ADDRESS_PARTS),), (
    Example({"line1": "510 Townsend St", "country": "US"}, "510 Townsend St", {"part": "Address1"}),
    Example({"line1": "510 Townsend St"}, "", {"part": "Address2"}), Example(None, "", {"part": "City"})))
def _address_line(value: Any, params: Mapping[str, Any], tables: Mappings) -> str:
    """One field of a Stripe address split for Epicor: long street lines spill into Address2/3 at word
    boundaries (never cut mid-street), the country through countries.yaml, every field within its column."""
    return _split(value if isinstance(value, Mapping) else None, tables.countries)[params["part"]]


# A customer document reads one address seven times (Address1..3, City, State, Zip, Country): the last
# split is kept, keyed by the address's values and the countries table itself, so it is split once.
_last_split: tuple[tuple[tuple[str, str], ...], Any, dict[str, str]] | None = None


def _split(address: Mapping[str, Any] | None, countries: Mapping[str, str]) -> dict[str, str]:
    global _last_split
    key = tuple(sorted((str(name), repr(value)) for name, value in (address or {}).items()))
    last = _last_split
    if last is not None and last[0] == key and last[1] is countries:
        return last[2]
    split = split_address(address, countries)
    _last_split = (key, countries, split)
    return split


@transform("truncate", "Cut to a length", "text", (Param("length", int, "maximum number of characters"),), (
    Example("Order 1042 from the web shop", "Order 1042", {"length": 10}), Example(None, None, {"length": 5})))
def _truncate(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """The text cut to at most ``length`` characters."""
    return None if value is None else str(value)[: params["length"]]


@transform("upper", "Upper case", "text", (), (Example("usd", "USD"), Example(None, None)))
def _upper(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """The text in upper case."""
    return None if value is None else str(value).upper()


@transform("clean_text", "Clean text", "text", (), (
    Example("  Rosen \t Trading\x00 Co. ", "Rosen Trading Co."), Example(None, "")))
def _clean_text(value: Any, params: Mapping[str, Any], tables: Mappings) -> str:
    """Trimmed, inner whitespace collapsed, control characters and lone surrogates removed; null is blank."""
    return clean_text(value)


@transform("default", "Default when blank", "any", (Param("value", object, "the value when the input is blank"),),
           (Example("", "Stripe payment", {"value": "Stripe payment"}), Example("X", "X", {"value": "Y"})))
def _default(value: Any, params: Mapping[str, Any], tables: Mappings) -> Any:
    """The input, or ``value`` when the input is null or empty text."""
    return params["value"] if _blank(value) else value


@transform("prefix", "Text before", "text", (Param("text", str, "text written before a non-blank value"),),
           (Example("ch_1", "Stripe ch_1", {"text": "Stripe "}), Example(None, None, {"text": "Stripe "})))
def _prefix(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """``text`` followed by the value; a blank value stays blank."""
    return None if _blank(value) else f"{params['text']}{value}"


# --- dates -----------------------------------------------------------------------------------------


@transform("company_date", "Date in the company's time zone", "date", (), (
    Example(1772649000, "2026-03-04T00:00:00"),))
def _company_date(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """A Stripe Unix time as the calendar day in the company zone (defaults.yaml ``timezone``), sent as
    local midnight: an evening sale in Los Angeles stays in that day's books."""
    return None if value is None else epicor_date(int(value), tables.timezone)


@transform("daily_group", "Daily group id", "text", (
    Param("prefix", str, "one or two letters (usually {from: settings.cash_group_prefix})"),), (
    Example("2026-03-04T00:00:00", "SC260304", {"prefix": "SC"}),))
def _daily_group(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """The day's invoice or cash group id, prefix + YYMMDD, from an Epicor date."""
    return None if value is None else group_id(params["prefix"], str(value))


@transform("currency_cash_group", "Daily cash group id of a currency", "text", (
    Param("currency", str, "Stripe currency code of the receipt (usually {from: charge.currency})"),
    Param("prefix", str, "the prefix of a currency without its own (usually {from: settings.cash_group_prefix})"),), (
    Example("2026-03-04T00:00:00", "SC260304", {"currency": "usd", "prefix": "SC"}),))
def _currency_cash_group(value: Any, params: Mapping[str, Any], tables: Mappings) -> str | None:
    """The day's cash receipt group of the currency's clearing bank, prefix + YYMMDD: a currency with a
    clearing bank of its own in payouts.yaml has its own ``cash_group_prefix`` there, so each day's group
    holds one bank (the bank the ``clearing_bank`` transform gives its receipts)."""
    from tasks.mapping.payout_settings import load_payout_settings, mappings_dir  # only where it is used

    if value is None:
        return None
    settings = load_payout_settings(mappings_dir(), tables.bank_account, tables.cash_group_prefix)
    currency = params.get("currency")
    return group_id(settings.cash_group_prefix_for(None if currency is None else str(currency), params["prefix"]),
                    str(value))
