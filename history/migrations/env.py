"""Alembic's environment: runs on the connection ``history.db.migrate`` passes in (or on
``DATABASE_URL`` for ``alembic`` command-line use), with the models' metadata for autogenerate."""

from __future__ import annotations

from alembic import context

from history.db import engine
from history.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        with engine().begin() as own:
            _run_on(own)
        return
    _run_on(connection)


def _run_on(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
