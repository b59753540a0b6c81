"""Seed rows of a fresh emulator: the parts and reason codes of contract §8.

Parts are also how tests "fix the cause" of a strict-parts rejection (``add_part``), so a part made
here and one made through ``POST /_sandbox/epicor/parts`` get the same defaults.
"""

from __future__ import annotations

from typing import Any

from .errors import business_error, duplicate_error
from .reference import PARTS, REASON_TYPE, REASONS
from .schema import blank_row
from .store import RowStore, Txn


def seed(store: RowStore, company: str) -> None:
    """Insert the reference parts and reasons and mark the store seeded."""
    with store.transaction() as txn:
        for part_num, description, price, uom in PARTS:
            add_part(txn, company, {"PartNum": part_num, "PartDescription": description,
                                    "UnitPrice": price, "IUM": uom, "SalesUM": uom})
        for code, description in REASONS:
            txn.insert("Reasons", {**blank_row("Reason", company), "ReasonType": REASON_TYPE,
                                   "ReasonCode": code, "Description": description})
    store.set_meta("seeded", company)


def add_part(txn: Txn, company: str, fields: dict[str, Any]) -> dict:
    """Insert one part (a 409 if it exists); UOMs default to EA, type to purchased."""
    part = blank_row("Part", company)
    part.update(IUM="EA", PUM="EA", SalesUM="EA", TypeCode="P", PricePerCode="E", SellingFactor=1)
    part.update(fields)
    part["PartNum"] = (part["PartNum"] or "").strip()
    if not part["PartNum"]:
        raise business_error("Part number is required.", "Part", "PartNum")
    if txn.get("Parts", (company, part["PartNum"])) is not None:
        raise duplicate_error(f"Part {part['PartNum']} already exists.", "Part", "PartNum")
    part["SearchWord"] = part["SearchWord"] or part["PartDescription"][:8]
    return txn.insert("Parts", part)
