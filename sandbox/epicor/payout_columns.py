"""Columns of the payout tables (contract §4b), every one the reference schema lists.

Derived from the reference ``epicor-schema/gl-and-bank-fields.json`` (swagger names and JSON types,
the WCF types where it gives them): ``number`` becomes ``int`` for counts, keys and numbers and ``dec``
for amounts, balances and rates; a ``string`` named ``...Date`` (or ``EffFrom``/``EffTo``) becomes
``date``. Rows carry all of them, as Epicor's rows carry every column of their table, so a field the
real table has is accepted and a misspelt one is refused. Kept apart from ``schema.py`` because it is
data, not rules: the lists are ``data/payout_columns.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

_DATA = json.loads((Path(__file__).resolve().parent / "data" / "payout_columns.json").read_text(encoding="utf-8"))
PAYOUT_COLUMNS: dict[str, tuple[str, ...]] = {table: tuple(columns) for table, columns in _DATA.items()
                                              if not table.startswith("_")}
