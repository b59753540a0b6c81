"""The Stripe sandbox's state: every object as JSON in SQLite, plus the request log and idempotency keys.

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
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self._db.close()

    # objects -----------------------------------------------------------------------------------

    def insert(self, stripe_object: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; its `object` field is its type."""
        with self.lock:
            self._db.execute(
                "INSERT INTO objects (id, type, created, body) VALUES (?, ?, ?, ?)",
                (stripe_object["id"], stripe_object["object"], stripe_object.get("created", 0),
                 json.dumps(stripe_object)),
            )
        return stripe_object

    def save(self, stripe_object: dict[str, Any]) -> dict[str, Any]:
        """Replace a stored object with its new state."""
        with self.lock:
            self._db.execute("UPDATE objects SET body = ? WHERE id = ?",
                             (json.dumps(stripe_object), stripe_object["id"]))
        return stripe_object

    def get(self, object_id: str, object_type: str | None = None) -> dict[str, Any] | None:
        """The object with this id (and type, when given), or None."""
        with self.lock:
            row = self._db.execute("SELECT type, body FROM objects WHERE id = ?", (object_id,)).fetchone()
        if row is None or (object_type and row[0] != object_type):
            return None
        return json.loads(row[1])

    def all_of(self, object_type: str) -> list[dict[str, Any]]:
        """Every object of a type, newest first, as Stripe lists them."""
        with self.lock:
            rows = self._db.execute(
                "SELECT body FROM objects WHERE type = ? ORDER BY created DESC, seq DESC", (object_type,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """All objects grouped by type, oldest first."""
        dumped: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            rows = self._db.execute("SELECT type, body FROM objects ORDER BY seq").fetchall()
        for object_type, body in rows:
            dumped.setdefault(object_type, []).append(json.loads(body))
        return dumped

    def reset(self) -> None:
        """Forget every object, logged request and idempotency key; clear the faults."""
        with self.lock:
            for table in ("objects", "request_log", "idempotency"):
                self._db.execute(f"DELETE FROM {table}")
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
