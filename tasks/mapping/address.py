"""Stripe address → Epicor customer address fields.

Policy: every Epicor key is always present (blank as ``""``, never ``None``) so a customer update
clears a line that Stripe cleared, and no value is longer than the Epicor column. A street line longer
than 50 characters spills into ``Address2``/``Address3`` at word boundaries rather than being cut,
because a truncated street is a parcel that never arrives; only text beyond the third line is cut.
Country codes go through the site's countries table (Epicor stores a country description, not ISO-2);
an unmapped code passes through unchanged.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

ADDRESS_LINE_LENGTH = 50
FIELD_LENGTHS = {"City": 50, "State": 50, "Zip": 10, "Country": 50}


def clean_text(value: object) -> str:
    """Trimmed text with inner whitespace collapsed; ``None`` becomes ``""``."""
    return " ".join(str(value).split()) if value is not None else ""


def _wrapped(text: str) -> list[str]:
    """A street line broken at word boundaries into Epicor-sized pieces."""
    return textwrap.wrap(text, width=ADDRESS_LINE_LENGTH, break_long_words=True) if text else []


def _street_lines(line1: str, line2: str) -> list[str]:
    """Up to three address lines; whatever does not fit goes, cut, into the third."""
    pieces = _wrapped(line1) + _wrapped(line2)
    if len(pieces) <= 3:
        return pieces + [""] * (3 - len(pieces))
    return pieces[:2] + [" ".join(pieces[2:])[:ADDRESS_LINE_LENGTH]]


def epicor_country(iso_code: str, countries: Mapping[str, str] | None) -> str:
    """Epicor's country text for an ISO-2 code; unknown codes pass through."""
    return (countries or {}).get(iso_code.upper(), iso_code) if iso_code else ""


def split_address(address: Mapping[str, object] | None, countries: Mapping[str, str] | None = None) -> dict[str, str]:
    """Epicor ``Address1..3, City, State, Zip, Country`` from a Stripe address (or ``None``)."""
    source = address or {}
    street = _street_lines(clean_text(source.get("line1")), clean_text(source.get("line2")))
    fields = {f"Address{n}": line for n, line in enumerate(street, start=1)}
    fields["City"] = clean_text(source.get("city"))
    fields["State"] = clean_text(source.get("state"))
    fields["Zip"] = clean_text(source.get("postal_code"))
    fields["Country"] = epicor_country(clean_text(source.get("country")), countries)
    return {key: value[: FIELD_LENGTHS.get(key, ADDRESS_LINE_LENGTH)] for key, value in fields.items()}


def has_address(address: Mapping[str, object] | None) -> bool:
    """True when a Stripe address holds at least one non-blank part."""
    return any(clean_text(value) for value in (address or {}).values())
