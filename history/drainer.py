"""Moves history records from the Redis stream ``sec:history`` into the database.

One drainer at a time (a Redis lock, ``sec:lock:history-drain``) reads the oldest records, writes them
in one transaction (``history.writer``), and deletes them from the stream only after the commit. So:

- while the database is away nothing is deleted: the records wait in Redis (durable with AOF) and
  are written, in order, when it is back;
- a drainer killed between commit and delete leaves records that are written again, which changes
  nothing (the writer is idempotent);
- a record that is not valid JSON is deleted (logged) rather than blocking the stream forever.

Each worker starts a drainer process beside it (``history.follower``); the lock makes them take turns,
so the history keeps up as long as one worker runs, and never slows the pipeline (it is a process of
its own, a batch a second at most). ``python -m history drain`` drains once from the command line,
``python -m history follow`` until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import cast

from history import db, writer
from history.recorder import STREAM

log = logging.getLogger(__name__)

LOCK = "history-drain"
BATCH = 1000


def pending() -> int:
    """Records waiting in the stream."""
    from tasks import store

    return int(store.client().xlen(STREAM))


def drain_batch(limit: int = BATCH, url: str | None = None) -> int:
    """Write the oldest ``limit`` records; returns how many left the stream (0 when it is empty).

    Raises when the database refuses: the records stay in the stream for the next try.
    """
    from tasks import store

    entries = cast("list[tuple[str, dict[str, str]]]", store.client().xrange(STREAM, count=limit))
    if not entries:
        return 0
    records = [record for _, fields in entries if (record := writer.decode(fields.get("r", "")))]
    if len(records) < len(entries):
        log.warning("%d history entries were not records; dropped", len(entries) - len(records))
    if not db.migrated(url):
        db.migrate(url)
    with db.engine(url).begin() as connection:
        writer.apply(connection, records)
    store.client().xdel(STREAM, *[entry_id for entry_id, _ in entries])
    return len(entries)


def drain(limit: int = BATCH, url: str | None = None, budget: float = 5.0) -> int:
    """Drain batches for up to ``budget`` seconds, under the drain lock; returns the records moved
    (0 as well when another drainer holds the lock)."""
    from tasks import store

    def run() -> int:
        moved, deadline = 0, time.monotonic() + budget
        while time.monotonic() < deadline:
            count = drain_batch(limit, url)
            moved += count
            if count < limit:
                break
        return moved

    return store.unless_running(LOCK, run, timeout=max(60, int(budget * 6))) or 0


class DrainerThread(threading.Thread):
    """Drains every ``interval`` seconds until stopped; a failure waits longer, up to a minute."""

    def __init__(self, interval: float = 1.0):
        super().__init__(name="history-drainer", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self.failures = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            self.stopped.wait(self.wait_time())
            self.step()

    def step(self) -> None:
        try:
            drain()
        except Exception as exc:  # noqa: BLE001 - database or Redis away: the records wait in the stream
            self.failures += 1
            if self.failures in (1, 10) or self.failures % 60 == 0:
                log.warning("history not written yet (%s: %s); records wait in Redis", type(exc).__name__,
                            str(exc).splitlines()[0][:200] if str(exc) else "")
            return
        if self.failures:
            log.info("history written again after %d failed tries", self.failures)
        self.failures = 0

    def wait_time(self) -> float:
        return min(60.0, self.interval * (2 ** min(self.failures, 6))) if self.failures else self.interval

    def stop(self, final_drain: bool = True) -> None:
        self.stopped.set()
        if final_drain:
            self.step()


def start(interval: float = 1.0) -> DrainerThread:
    thread = DrainerThread(interval)
    thread.start()
    return thread


