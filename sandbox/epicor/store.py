"""Row storage: SQLite is the durable copy, an in-memory map the working copy.

Each row is one JSON document keyed by (entity set, key tuple); counters for server-assigned numbers
sit beside them. One process owns a database file: it loads every row at start and then writes
through, so reads never touch the disk and data survives a restart.

Concurrency: one re-entrant lock serialises every transaction (reads included), which is plenty for a
threaded test server. A ``Txn`` stages its writes and applies them only when the whole business
operation succeeded: any error raised inside ``transaction()`` leaves disk and memory untouched, so a
rule can reject a write after related rows were already staged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from .schema import COLUMNS, ENTITY_SETS, key_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    entity_set TEXT NOT NULL, row_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (entity_set, row_key));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

Rows = dict[str, dict[tuple, dict]]


def _storable(set_name: str, row: dict) -> dict:
    """The row as JSON values: ``dec`` columns as floats (computed in Decimal), ``int`` as ints."""
    kinds = COLUMNS[ENTITY_SETS[set_name].table]
    return {name: _json_value(kinds.get(name), value) for name, value in row.items()}


def _json_value(kind: str | None, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if kind == "dec" or isinstance(value, Decimal):
        return float(value)
    return int(value) if kind == "int" else value


class RowStore:
    """All entity-set rows of one emulated company, persisted in SQLite."""

    def __init__(self, db_path: str) -> None:
        self.lock = threading.RLock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._rows: Rows = {name: {} for name in ENTITY_SETS}
        self._counters: dict[str, int] = {}
        self._load()

    def _load(self) -> None:
        query = "SELECT entity_set, row_key, data FROM rows"
        for set_name, row_key, data in self._db.execute(query):
            self._rows.setdefault(set_name, {})[tuple(json.loads(row_key))] = json.loads(data)
        self._counters = dict(self._db.execute("SELECT name, value FROM counters"))

    def get_meta(self, name: str) -> str | None:
        """A value from the meta table (e.g. whether the seed ran)."""
        found = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return found[0] if found else None

    def set_meta(self, name: str, value: str) -> None:
        """Store a meta value."""
        with self.lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def wipe(self) -> None:
        """Delete every row, counter and meta value."""
        with self.lock:
            self._db.executescript("DELETE FROM rows; DELETE FROM counters; DELETE FROM meta;")
            self._rows = {name: {} for name in ENTITY_SETS}
            self._counters = {}

    def dump(self) -> dict[str, list[dict]]:
        """Every set's rows in key order."""
        with self.lock:
            return {name: [dict(self._rows[name][key]) for key in sorted(self._rows[name])]
                    for name in self._rows}

    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        """A unit of work: reads see staged writes; all writes apply at the end or none do."""
        with self.lock:
            txn = Txn(self._rows, self._counters)
            yield txn
            self._commit(txn)

    def _commit(self, txn: Txn) -> None:
        if not txn.staged and not txn.counters:
            return
        self._db.execute("BEGIN")
        try:
            self._write(txn)
        except Exception:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        for set_name, rows in txn.staged.items():
            self._rows[set_name].update(rows)
        self._counters.update(txn.counters)

    def _write(self, txn: Txn) -> None:
        for set_name, rows in txn.staged.items():
            self._db.executemany(
                "INSERT OR REPLACE INTO rows VALUES (?, ?, ?)",
                [(set_name, json.dumps(list(key)), json.dumps(row)) for key, row in rows.items()])
        self._db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?)",
                             list(txn.counters.items()))


class Txn:
    """Reads over committed rows plus this transaction's staged writes."""

    def __init__(self, committed: Rows, counters: dict[str, int]) -> None:
        self._committed = committed
        self._committed_counters = counters
        self.staged: Rows = {}
        self.counters: dict[str, int] = {}

    def get(self, set_name: str, key: tuple) -> dict | None:
        """A copy of one row, or None."""
        row = self.staged.get(set_name, {}).get(key) or self._committed[set_name].get(key)
        return dict(row) if row is not None else None

    def rows(self, set_name: str) -> list[dict]:
        """Every row of the set in key order (shared dicts: read, do not mutate)."""
        merged = {**self._committed[set_name], **self.staged.get(set_name, {})}
        return [merged[key] for key in sorted(merged)]

    def where(self, set_name: str, **equals: Any) -> list[dict]:
        """The set's rows whose columns equal the given values."""
        merged = {**self._committed[set_name], **self.staged.get(set_name, {})}
        found = [row for row in merged.values()
                 if all(row.get(name) == value for name, value in equals.items())]
        return sorted(found, key=lambda row: key_of(ENTITY_SETS[set_name], row))

    def insert(self, set_name: str, row: dict) -> dict:
        """Stage a new row with fresh system columns; returns what will be stored."""
        system = {"SysRowID": str(uuid.uuid4()), "SysRevID": 1, "RowMod": ""}
        stored = _storable(set_name, {**row, **system})
        self._stage(set_name, stored)
        return dict(stored)

    def update(self, set_name: str, row: dict) -> dict:
        """Stage a changed row, bumping ``SysRevID``; an unchanged row is left alone."""
        current = self.get(set_name, key_of(ENTITY_SETS[set_name], row))
        stored = _storable(set_name, {**row, "RowMod": ""})
        if current is not None and stored == current:
            return current
        stored["SysRevID"] = int((current or row).get("SysRevID") or 0) + 1
        self._stage(set_name, stored)
        return dict(stored)

    def _stage(self, set_name: str, row: dict) -> None:
        self.staged.setdefault(set_name, {})[key_of(ENTITY_SETS[set_name], row)] = row

    def next_number(self, counter: str, first: int) -> int:
        """The next server-assigned number: max(last assigned + 1, first)."""
        number = max(self._counter(counter) + 1, first)
        self.counters[counter] = number
        return number

    def note_number(self, counter: str, used: int) -> None:
        """Record a caller-chosen number so the counter never hands it out again."""
        if used > self._counter(counter):
            self.counters[counter] = used

    def _counter(self, counter: str) -> int:
        return self.counters.get(counter, self._committed_counters.get(counter, 0))
