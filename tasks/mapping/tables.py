"""The site's mapping tables: YAML data under ``mappings/`` (or ``MAPPINGS_DIR``), validated on load.

Policy: codes that belong to a site (part numbers, reason codes, bank account, terms …) live in data a
finance-IT person edits, never in code. Every file is checked with a marshmallow schema that rejects
unknown keys, so a typo such as ``default_prat`` stops the worker at start-up with the file and key
named, instead of quietly falling back to a default and posting sales to the wrong part. Nothing here
is evaluated: tables are plain lookups, templates are ``string.Template`` with a fixed set of names.
"""

from __future__ import annotations

import os
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates

from tasks import pairs
from tasks.errors import MappingError

TEMPLATE_NAMES = frozenset({"payment_key", "charge_id", "customer_name", "email", "description"})


def _code(max_length: int) -> fields.String:
    """A required, non-blank Epicor code of at most ``max_length`` characters."""
    return fields.String(required=True, validate=[validate.Length(min=1, max=max_length),
                                                  validate.Regexp(r"^\S(.*\S)?$", error="must not be blank or padded")])


def _table(key_pattern: str, value_length: int) -> fields.Dict:
    """A lookup table whose keys match ``key_pattern`` and whose values are codes."""
    key_rule = validate.Regexp(key_pattern, error="'{input}' is not a valid key here (expected {regex})")
    return fields.Dict(keys=fields.String(validate=key_rule), values=_code(value_length), load_default=dict)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class PartsSchema(StrictSchema):
    products = _table(r"^prod_\w+$", 50)
    prices = _table(r"^price_\w+$", 50)
    default_part = _code(50)
    sales_um = _code(6)


class DisputeCodesSchema(StrictSchema):
    chargeback = _code(8)
    lost = _code(8)


class ReasonsSchema(StrictSchema):
    refunds = _table(r"^[a-z_]+$", 8)
    disputes = fields.Nested(DisputeCodesSchema, required=True)
    reason_type = _code(1)

    @validates("refunds")
    def _has_default(self, refunds: dict, **_: object) -> None:
        if "default" not in refunds:
            raise ValidationError("needs a 'default' reason code for refunds with no or an unknown reason")


class CurrenciesSchema(StrictSchema):
    table_key = "codes"  # the file is one flat table; errors name its keys without this wrapper
    codes = _table(r"^[a-z]{3}$", 4)
    default = fields.String(load_default="upper", validate=validate.OneOf(["upper", "reject"]))

    @pre_load
    def _split_table(self, data: dict, **_: object) -> dict:
        codes = {key: value for key, value in (data or {}).items() if key != "default"}
        return {"codes": codes, **({"default": data["default"]} if "default" in (data or {}) else {})}


class CountriesSchema(StrictSchema):
    table_key = "countries"
    countries = _table(r"^[A-Z]{2}$", 50)

    @pre_load
    def _wrap_table(self, data: dict, **_: object) -> dict:
        return {"countries": data or {}}


class TermsSchema(StrictSchema):
    table_key = "codes"  # flat table of terms code -> days, plus ``default``
    codes = fields.Dict(keys=fields.String(validate=validate.Regexp(
                            r"^\S{1,4}$", error="'{input}' is not a terms code (1 to 4 characters)")),
                        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=365)), load_default=dict)
    default = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=365))

    @pre_load
    def _split_table(self, data: dict, **_: object) -> dict:
        codes = {key: value for key, value in (data or {}).items() if key != "default"}
        return {"codes": codes, **({"default": data["default"]} if "default" in (data or {}) else {})}


class DefaultsSchema(StrictSchema):
    bank_account = _code(10)
    terms_code = _code(4)
    timezone = _code(64)
    catch_all_cust_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9]{1,10}$",
                                      error="must be 1 to 10 upper-case letters or digits"))
    catch_all_name = _code(50)
    invoice_group_prefix = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{1,2}$", error="must be 1 or 2 upper-case letters (group ids are prefix + YYMMDD, at most 8)"))
    cash_group_prefix = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{1,2}$", error="must be 1 or 2 upper-case letters (group ids are prefix + YYMMDD, at most 8)"))
    order_comment_template = fields.String(load_default="Stripe payment $payment_key")

    @validates("timezone")
    def _known_zone(self, value: str, **_: object) -> None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"'{value}' is not an IANA time zone (e.g. 'America/Chicago')") from None

    @validates("order_comment_template")
    def _known_names(self, value: str, **_: object) -> None:
        template = string.Template(value)
        unknown = set(template.get_identifiers()) - TEMPLATE_NAMES
        if unknown or not template.is_valid():
            raise ValidationError(f"may only use ${', $'.join(sorted(TEMPLATE_NAMES))}")


FILES: dict[str, type[Schema]] = {
    "parts.yaml": PartsSchema,
    "reasons.yaml": ReasonsSchema,
    "currencies.yaml": CurrenciesSchema,
    "countries.yaml": CountriesSchema,
    "defaults.yaml": DefaultsSchema,
    "terms.yaml": TermsSchema,
}


def _frozen(table: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(table))


@dataclass(frozen=True)
class Mappings:
    """The loaded tables; lookups are methods so callers never index raw YAML."""

    products: Mapping[str, str]
    prices: Mapping[str, str]
    default_part: str
    sales_um: str
    refund_reasons: Mapping[str, str]
    dispute_codes: Mapping[str, str]
    reason_type: str
    currencies: Mapping[str, str]
    unmapped_currency: str
    countries: Mapping[str, str]
    bank_account: str
    terms_code: str
    timezone: str
    catch_all_cust_id: str
    catch_all_name: str
    invoice_group_prefix: str
    cash_group_prefix: str
    order_comment_template: str
    terms_days: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    default_terms_days: int = 30

    def days_until_due(self, terms_code: str | None) -> int:
        """Days until a Stripe invoice is due for an Epicor terms code (terms.yaml)."""
        return self.terms_days.get((terms_code or "").strip(), self.default_terms_days)

    def part_for(self, price_id: str | None, product_id: str | None,
                 price_metadata: Mapping[str, object] | None = None,
                 product_metadata: Mapping[str, object] | None = None) -> str | None:
        """PartNum: ``epicor_part_num`` on the price, then the product, then the price and product tables."""
        for metadata in (price_metadata, product_metadata):
            part = str((metadata or {}).get("epicor_part_num") or "").strip()
            if part:
                return part
        return self.prices.get(price_id or "") or self.products.get(product_id or "")

    def refund_reason_code(self, reason: str | None) -> str:
        """ReasonCode for a Stripe ``Refund.reason`` (``default`` when none or unknown)."""
        return self.refund_reasons.get(reason or "default") or self.refund_reasons["default"]

    def dispute_reason_code(self, outcome: str) -> str:
        """ReasonCode for a dispute credit: ``chargeback`` (opened) or ``lost``."""
        return self.dispute_codes[outcome]

    def currency_code(self, stripe_currency: str) -> str:
        """Epicor CurrencyCode for a lower-case Stripe currency."""
        code = self.currencies.get(stripe_currency.lower())
        if code:
            return code
        if self.unmapped_currency == "reject":
            raise MappingError(f"currency '{stripe_currency.upper()}' is not in currencies.yaml",
                               reason="mapping.currency")
        return stripe_currency.upper()

    def order_comment(self, **names: str) -> str:
        """The order comment from its template; missing names become blank."""
        values = {name: names.get(name) or "" for name in TEMPLATE_NAMES}
        return string.Template(self.order_comment_template).safe_substitute(values).strip()


def _flatten(messages: object, path: str = "") -> list[str]:
    """marshmallow's nested error dict as ``key.sub: message`` lines."""
    if isinstance(messages, dict):
        return [line for key, value in messages.items()
                for line in _flatten(value, f"{path}.{key}" if path else str(key))]
    if isinstance(messages, list):
        return [line for item in messages for line in _flatten(item, path)]
    return [f"{path}: {messages}" if path else str(messages)]


def _unwrapped(messages: dict | list, schema: type[Schema]) -> dict | list:
    """Errors of a flat table file without the schema's internal wrapper key."""
    wrapper = getattr(schema, "table_key", None)
    if not isinstance(messages, dict):
        return messages
    inner = messages.get(wrapper) if wrapper else None
    return {**{k: v for k, v in messages.items() if k != wrapper}, **inner} if isinstance(inner, dict) else messages


def read_table(path: Path, schema: type[Schema]) -> dict:
    """One YAML file parsed and validated; every problem names the file and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{path}: mapping file is missing", reason="mapping.config") from None
    return parse_table(text, schema, str(path))


def table_problems(text: str, schema: type[Schema]) -> list[str]:
    """Every reason ``text`` would be refused as a table of ``schema``, as ``key: message`` lines (none: valid)."""
    raw, problems = _parsed(text)
    if problems:
        return problems
    try:
        schema().load(raw or {})
    except ValidationError as exc:
        return _flatten(_unwrapped(exc.messages, schema))
    return []


def parse_table(text: str, schema: type[Schema], name: str) -> dict:
    """A table's YAML text validated as the worker loads it; ``name`` (file or version) starts each error."""
    raw, problems = _parsed(text)
    if problems:
        raise MappingError(f"{name}: {problems[0]}", reason="mapping.config")
    try:
        return schema().load(raw or {})
    except ValidationError as exc:
        problems = _flatten(_unwrapped(exc.messages, schema))
        raise MappingError(f"{name}: " + "; ".join(problems), reason="mapping.config") from None


def _parsed(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [f"not valid YAML ({exc})"]
    if raw is not None and not isinstance(raw, dict):
        return None, ["must be a mapping of keys to values"]
    return raw, []


def load_mappings(directory: str | Path, published: Mapping[str, str] | None = None) -> Mappings:
    """Read and validate every mapping file in ``directory``; a table in ``published`` (file name -> YAML
    text: a version published from the console) is read from there instead of its file."""
    published = published or {}
    tables = {name: parse_table(published[name], schema, f"{name} (published)") if name in published
              else read_table(Path(directory) / name, schema) for name, schema in FILES.items()}
    parts, reasons, currencies = tables["parts.yaml"], tables["reasons.yaml"], tables["currencies.yaml"]
    return Mappings(
        products=_frozen(parts["products"]), prices=_frozen(parts["prices"]),
        default_part=parts["default_part"], sales_um=parts["sales_um"],
        refund_reasons=_frozen(reasons["refunds"]), dispute_codes=_frozen(reasons["disputes"]),
        reason_type=reasons["reason_type"],
        currencies=_frozen(currencies["codes"]), unmapped_currency=currencies["default"],
        countries=_frozen(tables["countries.yaml"]["countries"]),
        terms_days=MappingProxyType(dict(tables["terms.yaml"]["codes"])),
        default_terms_days=tables["terms.yaml"]["default"],
        **tables["defaults.yaml"],
    )


# -- what a worker builds with: the files, overlaid by the tables published from the console ---------------
# ``tasks.mapping.table_versions.install`` sets this at worker start: it answers (serial, {file: text}) of the
# current integration pair (``tasks.pairs.current``) and reads Redis at most once a second, so an event
# costs no round trip for its tables in steady state.
published_source: Callable[[], tuple[str, Mapping[str, str]]] | None = None
# (pair, directory) -> ((serial, file stamps), tables built with them): two pairs may share a directory but
# not their published tables, so what one pair built is never handed to the other.
_current: dict[tuple[str, str], tuple[Any, Mappings]] = {}
_current_lock = threading.Lock()


def current_mappings(directory: str | Path) -> Mappings:
    """The tables a worker builds with now; built again only when a table was published (the serial moved).
    A published table that no longer loads (a file it leans on changed) keeps the tables built before."""
    serial, texts = published_source() if published_source else ("", {})
    path = str(directory)
    held_as = (pairs.current.get(), path)
    seen = (serial, _stamps(path))  # a table file edited on disk is read again too, without a restart
    with _current_lock:
        held = _current.get(held_as)
        if held is not None and held[0] == seen:
            return held[1]
        try:
            built = load_mappings(path, texts)
        except MappingError:
            if held is None:
                raise
            return held[1]
        _current[held_as] = (seen, built)
        return built


def _stamps(directory: str) -> tuple[tuple[int, int], ...]:
    """(mtime, size) of each table file: a few stats, far cheaper than reading the files per event."""
    found = []
    for name in FILES:
        try:
            stat = os.stat(os.path.join(directory, name))
            found.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.append((0, -1))
    return tuple(found)


# Table files a module of their own validates and loads (issue 15's ``payouts.yaml``: its module registers
# it with ``register_table`` and reads ``published_text`` before its file): the console edits and versions
# them like the tables of ``FILES``. name -> a function from the YAML text to its problems ("key: message").
OTHER_TABLES: dict[str, Callable[[str], list[str]]] = {}


def register_table(name: str, problems: Callable[[str], list[str]]) -> None:
    """Make ``name`` a table the console edits, validated by ``problems`` (no problem: the text is valid)."""
    OTHER_TABLES[name] = problems


def published_text(name: str) -> str | None:
    """The version of table ``name`` published from the console, for a worker to read instead of its file;
    None when none is published or outside a worker (read at most once a second, like ``current_mappings``)."""
    return published_source()[1].get(name) if published_source else None


def forget_current() -> None:
    """Drop the tables this process built (tests; a Redis that was flushed)."""
    with _current_lock:
        _current.clear()
