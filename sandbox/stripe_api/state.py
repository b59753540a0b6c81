"""The Stripe sandbox's state: every object as JSON in SQLite, plus the request log and idempotency keys.

SQLite is the durable copy; objects are also kept in memory (loaded at start, written through), so
reads and list filters never query the disk, and `having` finds objects by a field through an index
instead of decoding every object of the type.

One connection guarded by one re-entrant lock makes the emulator safe under a threaded server;
`with state.lock:` groups several writes (a whole payment) into one step other threads cannot
interleave with. Objects are stored in their current-API shape; older API versions are rendered from
it on the way out (`versions.py`). Events are the exception: they are immutable snapshots, stored
exactly as delivered. Faults are switches for the running process and are not persisted.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, created, seq);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass
class StripeFaults:
    """Fault switches: share of requests answered 500 or 429, and added latency."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    latency_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as `GET /_sandbox/stripe/faults` shows it."""
        return asdict(self)


class StripeState:
    """Persistent store of the emulated Stripe account."""

    def __init__(self, db_path: str):
        self.db_path = db_path
        self.lock = threading.RLock()
        self.faults = StripeFaults()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        if db_path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # Committed writes survive the process (a crash or SIGKILL included); only an OS crash
            # could lose the last ones, which a sandbox can afford: no fsync per request.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._objects = _Objects()
        for seq, object_id, object_type, created, body in self._db.execute(
                "SELECT seq, id, type, created, body FROM objects ORDER BY seq"):
            self._objects.add(object_id, object_type, created, seq, body)

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self._db.close()

    # objects -----------------------------------------------------------------------------------

    def insert(self, stripe_object: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; its `object` field is its type."""
        body = json.dumps(stripe_object)
        created = stripe_object.get("created", 0)
        with self.lock:
            cursor = self._db.execute(
                "INSERT INTO objects (id, type, created, body) VALUES (?, ?, ?, ?)",
                (stripe_object["id"], stripe_object["object"], created, body),
            )
            self._objects.add(stripe_object["id"], stripe_object["object"], created, cursor.lastrowid, body,
                              stripe_object)
        return stripe_object

    def save(self, stripe_object: dict[str, Any]) -> dict[str, Any]:
        """Replace a stored object with its new state."""
        body = json.dumps(stripe_object)
        with self.lock:
            self._db.execute("UPDATE objects SET body = ? WHERE id = ?", (body, stripe_object["id"]))
            self._objects.replace(stripe_object["id"], body, stripe_object)
        return stripe_object

    def get(self, object_id: str, object_type: str | None = None) -> dict[str, Any] | None:
        """The object with this id (and type, when given), or None."""
        with self.lock:
            body = self._objects.body(object_id, object_type)
        return None if body is None else json.loads(body)

    def all_of(self, object_type: str) -> list[dict[str, Any]]:
        """Every object of a type, newest first, as Stripe lists them."""
        with self.lock:
            bodies = self._objects.newest_first(object_type)
        return [json.loads(body) for body in bodies]

    def having(self, object_type: str, field: str, value: Any) -> list[dict[str, Any]]:
        """The objects of a type whose `field` reads as `value`, newest first.

        Both sides are compared as case-folded text (`str(x).lower()`, a missing field as None), through
        an index, so this is a superset of the exact matches: callers apply their own test on top.
        """
        with self.lock:
            bodies = self._objects.having(object_type, field, value)
        return [json.loads(body) for body in bodies]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """All objects grouped by type, oldest first."""
        dumped: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            rows = self._objects.in_order()
        for object_type, body in rows:
            dumped.setdefault(object_type, []).append(json.loads(body))
        return dumped

    def reset(self) -> None:
        """Forget every object, logged request and idempotency key; clear the faults."""
        with self.lock:
            for table in ("objects", "request_log", "idempotency"):
                self._db.execute(f"DELETE FROM {table}")
            self._objects = _Objects()
            self.faults = StripeFaults()

    # request log -------------------------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append one API call to the log that tests read back."""
        with self.lock:
            self._db.execute("INSERT INTO request_log (entry) VALUES (?)", (json.dumps(entry),))

    def requests(self) -> list[dict[str, Any]]:
        """The logged API calls, oldest first."""
        with self.lock:
            rows = self._db.execute("SELECT entry FROM request_log ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    # idempotency -------------------------------------------------------------------------------

    def idempotent_response(self, key: str) -> tuple[str, int, dict[str, Any]] | None:
        """(fingerprint, status, body) saved for an idempotency key, or None."""
        with self.lock:
            row = self._db.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def remember_response(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        """Keep a POST's answer so a retry with the same key gets the same answer."""
        with self.lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency (key, fingerprint, status, body) VALUES (?, ?, ?, ?)",
                (key, fingerprint, status, json.dumps(body)),
            )


def text_key(value: Any) -> str:
    """The form `StripeState.having` compares values in: text, case-folded."""
    return str(value).lower()


class _Objects:
    """The working copy of the `objects` table: JSON bodies by id, list order, and field indexes.

    Reads never touch SQLite. Bodies are kept as JSON text and decoded on every read, so a caller
    can change what it got without changing the store (as with rows read from SQLite). An index
    (`having`) is built the first time a (type, field) pair is asked for and kept up to date on
    every insert and save after that.
    """

    def __init__(self) -> None:
        self._bodies: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._order: dict[str, tuple[int, int]] = {}
        self._ids_of: dict[str, list[str]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._indexes: dict[str, dict[str, _Index]] = {}

    def add(self, object_id: str, object_type: str, created: int, seq: int, body: str,
            parsed: dict[str, Any] | None = None) -> None:
        self._bodies[object_id] = body
        self._types[object_id] = object_type
        self._order[object_id] = (created, seq)
        self._ids_of.setdefault(object_type, []).append(object_id)
        self._sorted.pop(object_type, None)
        indexes = self._indexes.get(object_type)
        if indexes:
            stored = json.loads(body) if parsed is None else parsed
            for field, index in indexes.items():
                index.put(object_id, text_key(stored.get(field)))

    def replace(self, object_id: str, body: str, parsed: dict[str, Any]) -> None:
        if object_id not in self._bodies:
            return
        self._bodies[object_id] = body
        for field, index in self._indexes.get(self._types[object_id], {}).items():
            index.put(object_id, text_key(parsed.get(field)))

    def body(self, object_id: str, object_type: str | None) -> str | None:
        if object_type and self._types.get(object_id) != object_type:
            return None
        return self._bodies.get(object_id)

    def newest_first(self, object_type: str) -> list[str]:
        return [self._bodies[object_id] for object_id in self._newest_ids(object_type)]

    def _newest_ids(self, object_type: str) -> list[str]:
        ids = self._sorted.get(object_type)
        if ids is None:
            ids = self._sorted[object_type] = sorted(self._ids_of.get(object_type, ()),
                                                     key=self._order.__getitem__, reverse=True)
        return ids

    def having(self, object_type: str, field: str, value: Any) -> list[str]:
        index = self._index(object_type, field)
        found = sorted(index.ids(text_key(value)), key=self._order.__getitem__, reverse=True)
        return [self._bodies[object_id] for object_id in found]

    def _index(self, object_type: str, field: str) -> _Index:
        indexes = self._indexes.setdefault(object_type, {})
        index = indexes.get(field)
        if index is None:
            index = indexes[field] = _Index()
            for object_id in self._ids_of.get(object_type, ()):
                index.put(object_id, text_key(json.loads(self._bodies[object_id]).get(field)))
        return index

    def in_order(self) -> list[tuple[str, str]]:
        return [(self._types[object_id], body) for object_id, body in self._bodies.items()]


class _Index:
    """Object ids by the key of one field."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = {}
        self._key_of: dict[str, str] = {}

    def put(self, object_id: str, key: str) -> None:
        old = self._key_of.get(object_id)
        if old == key:
            return
        if old is not None:
            self._ids[old].discard(object_id)
        self._key_of[object_id] = key
        self._ids.setdefault(key, set()).add(object_id)

    def ids(self, key: str) -> set[str]:
        return self._ids.get(key, set())
