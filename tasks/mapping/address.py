"""Stripe address → Epicor customer address fields.

Policy: every Epicor key is always present (blank as ``""``, never ``None``) so a customer update
clears a line that Stripe cleared, and no value is longer than the Epicor column. A street line longer
than 50 characters spills into ``Address2``/``Address3`` at word boundaries rather than being cut,
because a truncated street is a parcel that never arrives; only text beyond the third line is cut.
Country codes go through the site's countries table (Epicor stores a country description, not ISO-2);
an unmapped code passes through unchanged.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping

ADDRESS_LINE_LENGTH = 50
FIELD_LENGTHS = {"City": 50, "State": 50, "Zip": 10, "Country": 50}


# Text from Stripe objects goes to Redis (strict UTF-8), logs and Epicor. A lone UTF-16 surrogate
# (JSON can carry "\ud800") cannot be encoded at all: it becomes U+FFFD, so a reader sees that a
# character was there. Control characters (C0, DEL, C1: NUL included) have no place in a name,
# an address or a comment: they become spaces, then collapse with the rest of the whitespace.
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def clean_text(value: object) -> str:
    """Trimmed text with inner whitespace collapsed, safe to store, log and post: no lone surrogate,
    no control character; ``None`` becomes ``""``."""
    if value is None:
        return ""
    text = _CONTROLS.sub(" ", _SURROGATES.sub("\ufffd", str(value)))
    return " ".join(text.split())


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
