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

from .money import to_decimal
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
        if db_path != ":memory:":
            # WAL without an fsync per commit: a commit survives the process (a crash or SIGKILL
            # included); only an OS crash could lose the last ones, which a sandbox can afford.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._rows: Rows = {name: {} for name in ENTITY_SETS}
        self._indexes = _Indexes(self._rows)
        self._aggregates = _Aggregates(self._rows)
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

    def remove(self, set_name: str, key: tuple) -> dict | None:
        """Delete one committed row (what Epicor does to a group it posts); the removed row, or None.

        Outside any transaction, for the admin routes. The set's look-up indexes and aggregate tables
        are dropped, to be rebuilt from the remaining rows when next asked for.
        """
        with self.lock:
            row = self._rows[set_name].pop(key, None)
            if row is None:
                return None
            self._db.execute("DELETE FROM rows WHERE entity_set = ? AND row_key = ?",
                             (set_name, json.dumps(list(key))))
            self._indexes.forget(set_name)
            self._aggregates.forget(set_name)
            return row

    def wipe(self) -> None:
        """Delete every row, counter and meta value."""
        with self.lock:
            self._db.executescript("DELETE FROM rows; DELETE FROM counters; DELETE FROM meta;")
            self._rows = {name: {} for name in ENTITY_SETS}
            self._indexes = _Indexes(self._rows)
            self._aggregates = _Aggregates(self._rows)
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
            txn = Txn(self._rows, self._counters, self._indexes, self._aggregates)
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
            self._indexes.update(set_name, rows)
            self._aggregates.update(set_name, rows)
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

    def __init__(self, committed: Rows, counters: dict[str, int], indexes: _Indexes | None = None,
                 aggregates: _Aggregates | None = None) -> None:
        self._committed = committed
        self._committed_counters = counters
        self._indexes = indexes if indexes is not None else _Indexes(committed)
        self._aggregates = aggregates if aggregates is not None else _Aggregates(committed)
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
        """The set's rows whose columns equal the given values, in key order (shared dicts)."""
        return self.matching(set_name, list(equals.items()))

    def matching(self, set_name: str, equals: list[tuple[str, Any]]) -> list[dict]:
        """Like ``where`` for (column, value) pairs (a column may repeat; none: every row).

        Committed rows come from the index of the most selective column, so the cost follows the
        number of candidates rather than the size of the set; staged rows are checked one by one.
        """
        if not equals:
            return self.rows(set_name)
        staged = self.staged.get(set_name, {})
        keys = self._indexes.candidates(set_name, equals)
        if keys is None:  # a value that cannot be hashed: compare every row
            keys = set(self._committed[set_name])
        committed = self._committed[set_name]
        found = {}
        for key in keys:
            row = staged.get(key) or committed[key]
            if all(row.get(name) == value for name, value in equals):
                found[key] = row
        for key, row in staged.items():
            if key not in found and all(row.get(name) == value for name, value in equals):
                found[key] = row
        return [found[key] for key in sorted(found)]

    def total(self, set_name: str, column: str, **equals: Any) -> Decimal:
        """Exact sum of a numeric column over the rows ``where`` returns (Decimal, 0 when none).

        The committed part is kept per group by the store, so a group total costs the same however
        many rows the group holds; this transaction's staged rows are accounted for on top.
        """
        committed = self._committed[set_name]
        try:
            result = self._aggregates.committed(_SUM, set_name, column, equals)
            for key, row in self.staged.get(set_name, {}).items():
                old = committed.get(key)
                if old is not None and _matches(old, equals):
                    result -= to_decimal(old.get(column))
                if _matches(row, equals):
                    result += to_decimal(row.get(column))
        except (TypeError, ArithmeticError):  # odd values: add up the rows themselves, as before
            return sum((to_decimal(row.get(column)) for row in self.where(set_name, **equals)), Decimal(0))
        return result

    def largest(self, set_name: str, column: str, **equals: Any) -> Any:
        """``max`` of a column over the rows ``where`` returns, None when there are none."""
        staged = self.staged.get(set_name, {})
        committed = self._committed[set_name]
        try:
            if any(key in committed and _matches(committed[key], equals) for key in staged):
                raise _Stale  # a staged row replaces one the table counted: look at the rows
            best = self._aggregates.committed(_MAX, set_name, column, equals)
            for row in staged.values():
                if _matches(row, equals):
                    best = row[column] if best is None else max(best, row[column])
        except (TypeError, ArithmeticError, _Stale):
            return max((row[column] for row in self.where(set_name, **equals)), default=None)
        return best

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


class _Indexes:
    """Hash indexes over committed rows: entity set -> column -> value -> row keys.

    An index is built the first time its column is queried and kept up to date at every commit, so
    a look-up by an external reference or a parent key costs what the matches cost, not what the set
    holds. Values are dictionary keys, so a look-up finds exactly the rows whose value ``==`` the one
    asked for (Python keeps hashes of equal numbers equal across int, float and Decimal).
    """

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._by_set: dict[str, dict[str, dict[Any, set[tuple]]]] = {}

    def candidates(self, set_name: str, equals: list[tuple[str, Any]]) -> set[tuple] | None:
        """Keys of the committed rows that may match every pair: those of the smallest bucket.

        None when a value cannot be hashed (the caller then scans).
        """
        best: set[tuple] | None = None
        for name, value in equals:
            try:
                bucket = self._index(set_name, name).get(value, _EMPTY)
            except TypeError:
                return None
            if best is None or len(bucket) < len(best):
                best = bucket
            if not best:
                break
        return set(best) if best is not None else None

    def _index(self, set_name: str, column: str) -> dict[Any, set[tuple]]:
        columns = self._by_set.setdefault(set_name, {})
        index = columns.get(column)
        if index is None:
            index = {}
            for key, row in self._rows[set_name].items():
                index.setdefault(row.get(column), set()).add(key)
            columns[column] = index
        return index

    def forget(self, set_name: str) -> None:
        """Drop the set's indexes (after a row was removed); rebuilt on demand."""
        self._by_set.pop(set_name, None)

    def update(self, set_name: str, rows: dict[tuple, dict]) -> None:
        """Move the keys of ``rows`` (about to replace the committed ones) to their new buckets."""
        columns = self._by_set.get(set_name)
        if not columns:
            return
        committed = self._rows[set_name]
        try:
            for key, row in rows.items():
                old = committed.get(key)
                for column, index in columns.items():
                    value = row.get(column)
                    if old is not None:
                        previous = old.get(column)
                        if previous == value:
                            continue
                        index.get(previous, set()).discard(key)
                    index.setdefault(value, set()).add(key)
        except TypeError:  # a value that cannot be hashed: forget the set's indexes (rebuilt on demand)
            del self._by_set[set_name]


_EMPTY: set[tuple] = set()


_SUM, _MAX = "sum", "max"
_ZERO = Decimal(0)


def _matches(row: dict, equals: dict[str, Any]) -> bool:
    return all(row.get(name) == value for name, value in equals.items())


class _Stale(Exception):
    """A group's maximum may have gone down: the table is rebuilt when next asked for."""


class _Aggregates:
    """Per-group sums and maxima of a column over committed rows, kept up to date at every commit.

    A table, e.g. the sum of ``DocTranAmt`` of ``CashRecs`` per (Company, GroupID), is built from
    every row the first time it is asked for. A commit then adds and subtracts the changed rows'
    values (sums are exact Decimal arithmetic, as a fresh sum is); a maximum that may have decreased
    drops its table, to be rebuilt on demand. A value that cannot be hashed or compared also drops
    it, and the caller then computes from the rows as before (``TypeError``, ``ArithmeticError``).
    """

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._tables: dict[tuple[str, str, str, tuple[str, ...]], dict[tuple, Any]] = {}

    def committed(self, kind: str, set_name: str, column: str, equals: dict[str, Any]) -> Any:
        """The aggregate over committed rows equal to ``equals`` (sum: 0, max: None when none)."""
        spec = (kind, set_name, column, tuple(equals))
        table = self._tables.get(spec)
        if table is None:
            table = self._build(spec)
            self._tables[spec] = table
        return table.get(tuple(equals.values()), _ZERO if kind == _SUM else None)

    def _build(self, spec: tuple[str, str, str, tuple[str, ...]]) -> dict[tuple, Any]:
        kind, set_name, column, names = spec
        table: dict[tuple, Any] = {}
        for row in self._rows[set_name].values():
            group = tuple(row.get(name) for name in names)
            table[group] = _fold(kind, table.get(group), row.get(column))
        return table

    def forget(self, set_name: str) -> None:
        """Drop the set's tables (after a row was removed); rebuilt on demand."""
        for spec in [spec for spec in self._tables if spec[1] == set_name]:
            del self._tables[spec]

    def update(self, set_name: str, rows: dict[tuple, dict]) -> None:
        """Account for ``rows`` replacing the committed rows with their keys."""
        committed = self._rows[set_name]
        for spec in [spec for spec in self._tables if spec[1] == set_name]:
            kind, _, column, names = spec
            table = self._tables[spec]
            try:
                for key, row in rows.items():
                    group, value = tuple(row.get(name) for name in names), row.get(column)
                    old = committed.get(key)
                    if old is not None:
                        old_group, old_value = tuple(old.get(name) for name in names), old.get(column)
                        if kind == _SUM:
                            table[old_group] -= to_decimal(old_value)
                        elif old_value == table.get(old_group) and (old_group != group or not value >= old_value):
                            raise _Stale
                    table[group] = _fold(kind, table.get(group), value)
            except (TypeError, KeyError, ArithmeticError, _Stale):
                del self._tables[spec]


def _fold(kind: str, acc: Any, value: Any) -> Any:
    if kind == _SUM:
        return (_ZERO if acc is None else acc) + to_decimal(value)
    return value if acc is None else max(acc, value)
