"""Epicor customer ids for new customers, and Epicor references carried in Stripe metadata.

``CustID`` policy: Epicor wants a unique, at most 10-character id chosen by the caller. We build it
from up to four letters or digits of the customer's name (so an accountant recognises ``ACME7K2Q9X``)
followed by characters of a hash of a stable seed: the Stripe customer id, or the lower-cased e-mail
for a guest. The same payment therefore always proposes the same id (a retried create finds its own
earlier customer instead of making a twin), and a 409 collision moves on to the next candidate, which
hashes the seed with a counter.

Metadata policy: a site may pin a payment to Epicor records with ``epicor_*`` metadata keys on the
charge, PaymentIntent, checkout session or customer. The first object (in the caller's priority
order) that holds a non-blank value wins; a malformed winning value is an error that names the key,
because silently ignoring ``epicor_cust_num: "abc"`` would post the sale to the wrong customer.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from tasks.errors import MappingError

CUST_ID_LENGTH = 10
NAME_PREFIX_LENGTH = 4
BASE36 = string.digits + string.ascii_uppercase
PART_NUM_LENGTH = 50


def name_prefix(name: str | None) -> str:
    """Up to four upper-case ASCII letters or digits of a name (accents folded, others dropped)."""
    folded = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.upper() if ch.isalnum())[:NAME_PREFIX_LENGTH]


def seed_hash(seed: str, attempt: int, length: int) -> str:
    """``length`` base-36 characters of SHA-256 over the seed and the attempt number."""
    number = int.from_bytes(hashlib.sha256(f"{seed}\x00{attempt}".encode()).digest(), "big")
    characters = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        characters.append(BASE36[digit])
    return "".join(characters)


def cust_id_candidates(seed: str, name: str | None, count: int = 4) -> list[str]:
    """``count`` distinct 10-character CustIDs to try in order (later ones after a 409)."""
    if not seed:
        raise MappingError("a customer id needs a seed (Stripe customer id or e-mail)", reason="mapping.cust_id")
    prefix = name_prefix(name)
    return [prefix + seed_hash(seed, attempt, CUST_ID_LENGTH - len(prefix)) for attempt in range(count)]


def _bad(key: str, value: object, expected: str) -> MappingError:
    return MappingError(f"Stripe metadata {key}={value!r} is not {expected}", reason="mapping.metadata")


def _positive_int(key: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,10}", text) or int(text) == 0:
        raise _bad(key, text, "a positive whole number")
    return int(text)


def _cust_id(key: str, text: str) -> str:
    if len(text) > CUST_ID_LENGTH:
        raise _bad(key, text, f"an Epicor CustID (at most {CUST_ID_LENGTH} characters)")
    return text


def _part_num(key: str, text: str) -> str:
    if len(text) > PART_NUM_LENGTH:
        raise _bad(key, text, f"an Epicor PartNum (at most {PART_NUM_LENGTH} characters)")
    return text


def _quantity(key: str, text: str) -> Decimal:
    try:
        quantity = Decimal(text)
    except InvalidOperation:
        raise _bad(key, text, "a quantity") from None
    if not quantity.is_finite() or quantity <= 0:
        raise _bad(key, text, "a quantity greater than 0")
    return quantity


def _lines(key: str, text: str) -> list[dict]:
    return parse_order_lines(text)


METADATA_KEYS: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "cust_num": ("epicor_cust_num", _positive_int),
    "cust_id": ("epicor_cust_id", _cust_id),
    "part_num": ("epicor_part_num", _part_num),
    "order_num": ("epicor_order_num", _positive_int),
    "quantity": ("epicor_quantity", _quantity),
    "lines": ("epicor_lines", _lines),
}


def first_metadata_value(key: str, metadata: tuple[Mapping[str, object] | None, ...]) -> str | None:
    """The first non-blank, trimmed value of ``key`` across metadata dicts in priority order."""
    for source in metadata:
        value = (source or {}).get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def epicor_refs(*metadata: Mapping[str, object] | None) -> dict[str, object]:
    """Epicor references from Stripe metadata: cust_num, cust_id, part_num, order_num, quantity, lines."""
    refs: dict[str, object] = {}
    for name, (key, parse) in METADATA_KEYS.items():
        text = first_metadata_value(key, metadata)
        refs[name] = parse(key, text) if text is not None else None
    return refs


ORDER_LINE_PATTERN = re.compile(
    r"(?P<part>[^*@]+?)\s*(?:\*\s*(?P<quantity>\d+(?:\.\d+)?))?\s*(?:@\s*(?P<price>\d+(?:\.\d+)?))?"
)


def parse_order_line(item: str) -> dict:
    """One ``PART*QTY@PRICE`` item (``*QTY`` and ``@PRICE`` optional)."""
    match = ORDER_LINE_PATTERN.fullmatch(item.strip())
    if not match or len(match["part"]) > PART_NUM_LENGTH:
        raise _bad("epicor_lines", item.strip(), "in the form PART*QTY@PRICE (e.g. WIDGET-100*2@12.50)")
    quantity = Decimal(match["quantity"] or "1")
    if quantity <= 0:
        raise _bad("epicor_lines", item.strip(), "a line with a quantity greater than 0")
    price = Decimal(match["price"]) if match["price"] else None
    return {"part": match["part"], "quantity": quantity, "unit_price": price}


def parse_order_lines(text: str) -> list[dict]:
    """``"WIDGET-100*2@12.50,GADGET-200"`` → one dict per line (price in major units or ``None``)."""
    items = (text or "").split(",")
    if not any(item.strip() for item in items):
        raise _bad("epicor_lines", text, "a list of order lines")
    return [parse_order_line(item) for item in items]
