"""The history database: ``engine()`` from ``DATABASE_URL`` and ``migrate()`` to Alembic's head.

``DATABASE_URL`` unset means an SQLite file, ``history.sqlite3`` under ``HISTORY_DIR`` (default the
repository's ``.run/``): what ``make run`` and the tests use, nothing to install. SQLite runs in WAL
mode so the console reads while the drainer writes. ``postgresql://…`` URLs use psycopg 3.

Every process calls ``migrate()`` at start (web, worker, beat); a lock (a file lock beside an SQLite
file, an advisory lock in PostgreSQL) lets only one of them run the migrations at a time. A database
that is not there at start is no reason to stop a process: ``migrate_quietly`` logs it, and the
drainer migrates before its first write.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_MIGRATION_LOCK_ID = 0x5EC_4157  # PostgreSQL advisory lock key: "sec hist"


def database_url() -> str:
    url = (os.environ.get("DATABASE_URL") or "").strip()
    if url:
        return _with_driver(url)
    directory = Path(os.environ.get("HISTORY_DIR") or REPO_ROOT / ".run")
    return f"sqlite:///{directory / 'history.sqlite3'}"


def _with_driver(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 (the driver this package depends on)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (``DATABASE_URL`` by default), made once."""
    url = url or database_url()
    with _engines_lock:
        found = _engines.get(url)
        if found is None:
            found = _engines[url] = _create(url)
    return found


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        made = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(made, "connect", _sqlite_pragmas)
        return made
    # connect_timeout: an unreachable server fails the drainer's batch quickly; it retries later.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 3})


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dispose_engines() -> None:
    """Forget every engine (tests; a process that changed ``DATABASE_URL``)."""
    with _engines_lock:
        for made in _engines.values():
            made.dispose()
        _engines.clear()


def is_sqlite(bound: Engine | Connection) -> bool:
    return bound.dialect.name == "sqlite"


# -- migrations ------------------------------------------------------------------------------------
def alembic_config(connection: Connection | None = None) -> Any:
    """Alembic's configuration, built in code (no alembic.ini at run time)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(url: str | None = None) -> None:
    """Upgrade the database to the newest migration (a no-op when it is there already)."""
    from alembic import command

    made = engine(url)
    with _migration_lock(made), made.begin() as connection:
        if not is_sqlite(made):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_ID})
        command.upgrade(alembic_config(connection), "head")
    _migrated.add(made.url.render_as_string(hide_password=False))


_migrated: set[str] = set()


def migrated(url: str | None = None) -> bool:
    return engine(url).url.render_as_string(hide_password=False) in _migrated


def migrate_quietly(url: str | None = None) -> bool:
    """``migrate()`` that logs instead of raising: a process starts even while the database is away."""
    try:
        migrate(url)
    except Exception as exc:  # noqa: BLE001 - any database trouble: the drainer migrates when it can
        log.warning("history database not migrated yet (%s); records wait in Redis", type(exc).__name__)
        return False
    return True


@contextmanager
def _migration_lock(made: Engine) -> Iterator[None]:
    """One migrating process per SQLite file (PostgreSQL takes an advisory lock instead)."""
    database = made.url.database
    if not is_sqlite(made) or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
