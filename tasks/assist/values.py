"""What a sample value looks like: e-mail, phone, postal code, country, currency, a time, an amount, an id.

Policy: a sample confirms or contradicts what the names say (``values look like e-mail addresses``). Each
detector is a cheap pattern, run once per source field on its samples (a list of values seen, the designer
gives a few events' worth); a profile holds the kinds most of the samples share. Nothing here guesses
beyond the pattern: a five-digit number is a US postal code only as text, never as an integer amount.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[\d\s().\-]{7,20}$")
POSTAL = (
    re.compile(r"^\d{5}(-\d{4})?$"),  # US
    re.compile(r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$", re.I),  # CA
    re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.I),  # GB
    re.compile(r"^\d{4,5}$"),  # DE FR AU NL …
    re.compile(r"^\d{3}-\d{4}$"),  # JP
)


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 3166-1 alpha-2 codes commonly seen in Stripe addresses (a guard, not a registry).
COUNTRIES = _codes(
    "US CA GB IE FR DE NL BE LU ES PT IT CH AT DK SE NO FI PL CZ SK HU RO BG GR CY MT EE LV LT SI HR AU NZ JP "
    "SG HK MY TH IN AE SA IL MX BR AR CL CO PE ZA NG KE EG TR CN KR TW PH ID VN IS LI GI")
CURRENCIES = _codes(
    "usd eur gbp jpy cad aud nzd chf sek nok dkk pln czk huf ron bgn hkd sgd myr thb inr aed sar ils mxn brl "
    "ars clp cop pen zar ngn kes egp try cny krw twd php idr vnd isk kwd bhd jod omr tnd")
STRIPE_PREFIXES = {"ch": "payment", "py": "payment", "pi": "payment", "cs": "payment", "cus": "customer",
                   "in": "invoice", "il": "line", "ii": "line", "re": "refund", "pyr": "refund", "dp": "dispute",
                   "du": "dispute", "po": "payout", "txn": "txn", "prod": "product", "price": "price",
                   "sub": "subscription", "si": "line", "card": "card", "pm": "card", "ba": "bank", "src": "card"}
# cs_test_a1B2… and cs_live_… (Checkout Sessions) carry the mode in the id
_STRIPE_ID = re.compile(r"^([a-z]{2,5})_(?:(?:test|live)_)?[A-Za-z0-9]{6,}$")
# Unix times from 2001 to 2100: a Stripe ``created`` and nothing else plausible at that size.
EPOCH_RANGE = (1_000_000_000, 4_102_444_800)
_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+(/\S*)?$", re.I)
# A number written as text: Stripe's *_decimal fields ("1500", "12.5"), a form's amount.
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?.*)?$")

LABELS = {
    "email": "values look like e-mail addresses", "phone": "values look like phone numbers",
    "postal": "values look like postal codes", "country": "values are ISO country codes",
    "currency": "values are ISO currency codes", "epoch": "values are Unix times (a date)",
    "date": "values are dates", "minor_amount": "values are whole amounts in minor units (cents)",
    "decimal": "values are decimal numbers", "integer": "values are whole numbers", "boolean": "values are true/false",
    "text": "values are text", "stripe_id": "values are Stripe ids", "object": "values are objects",
    "list": "values are lists", "url": "values are web addresses (URLs)",
    "numeric": "values are numbers written as text",
}


@dataclass(frozen=True)
class Profile:
    """The kinds most samples share (``email``, ``epoch`` …) and the Stripe id kind (``payment``) if ids."""

    kinds: frozenset[str]
    id_kind: str = ""
    longest: int = 0

    @property
    def known(self) -> bool:
        return bool(self.kinds)


EMPTY = Profile(frozenset())


def kinds_of(value: Any) -> set[str]:
    """Every kind one value shows."""
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return _integer_kinds(value)
    if isinstance(value, float):
        return {"decimal"}
    if isinstance(value, dict):
        return {"object"}
    if isinstance(value, list):
        return {"list"}
    if isinstance(value, str):
        return _text_kinds(value.strip())
    return set()


def _integer_kinds(value: int) -> set[str]:
    kinds = {"integer", "minor_amount"}
    if EPOCH_RANGE[0] <= value <= EPOCH_RANGE[1]:
        kinds = {"integer", "epoch"}
    return kinds


def _text_kinds(text: str) -> set[str]:
    if not text:
        return set()
    kinds = {"text"}
    match = _STRIPE_ID.match(text)
    if match and match.group(1) in STRIPE_PREFIXES:
        return kinds | {"stripe_id"}
    if _URL.match(text):
        return kinds | {"url"}
    if EMAIL.match(text):
        kinds.add("email")
    if len(text) == 2 and text.upper() == text and text in COUNTRIES:
        kinds.add("country")
    if len(text) == 3 and text.lower() in CURRENCIES:
        kinds.add("currency")
    if any(pattern.match(text) for pattern in POSTAL):
        kinds.add("postal")
    if PHONE.match(text) and sum(ch.isdigit() for ch in text) >= 7 and not text.isdigit():
        kinds.add("phone")
    if _ISO_DATE.match(text):
        kinds.add("date")
    if re.fullmatch(r"-?\d+\.\d+", text):
        kinds.add("decimal")
    if _NUMERIC.match(text):
        kinds.add("numeric")
    return kinds


def profile(samples: Iterable[Any]) -> Profile:
    """The kinds shared by most non-null samples (a stray value does not decide)."""
    values = [value for value in samples if value is not None and value != ""]
    if not values:
        return EMPTY
    counts: dict[str, int] = {}
    for value in values:
        for kind in kinds_of(value):
            counts[kind] = counts.get(kind, 0) + 1
    kinds = frozenset(kind for kind, count in counts.items() if count * 2 > len(values))
    id_kind = ""
    if "stripe_id" in kinds:
        match = _STRIPE_ID.match(str(values[0]).strip())
        id_kind = STRIPE_PREFIXES.get(match.group(1), "") if match else ""
    return Profile(kinds, id_kind, max(len(str(value)) for value in values))
