"""Integration pairs in the history: an event's row names its pair, and each rollup row is one pair's
(``pair`` joins the rollups' keys, so the overview narrows its figures to a pair), with an index on the
pair and the time. Every row written before is the default pair's.

A primary key cannot be changed in place on SQLite, so each rollup table is built anew under its name
and its rows copied (they are a few thousand for 30 days); the same steps on PostgreSQL.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_PAIR = "default"
# table: (its key columns before pairs, its counted columns, the time column the pair's index leads to)
ROLLUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "history_rollup_minute": (("minute", "flow", "outcome"), ("n",), "minute"),
    "history_rollup_latency": (("hour", "bucket"), ("n",), "hour"),
    "history_rollup_amount": (("day", "currency", "flow"), ("amount", "n"), "day"),
    "history_rollup_errors": (("hour", "reason"), ("n",), "hour"),
}
TYPES: dict[str, Any] = {
    "minute": sa.BigInteger(), "hour": sa.BigInteger(), "day": sa.BigInteger(), "flow": sa.String(60),
    "outcome": sa.String(20), "bucket": sa.Integer(), "currency": sa.String(3), "reason": sa.String(120),
    "n": sa.Integer(), "amount": sa.BigInteger()}


def _column(name: str) -> sa.Column[Any]:
    if name == "pair":
        return sa.Column(name, sa.String(32), nullable=False, server_default=sa.text(f"'{DEFAULT_PAIR}'"))
    return sa.Column(name, TYPES[name], nullable=False)


def _rebuild(table: str, key: tuple[str, ...], counted: tuple[str, ...], select_sql: str, pk_name: str) -> None:
    """``table`` anew with primary key ``key`` and its rows from ``select_sql`` (over ``<table>_old``)."""
    old = f"{table}_old"
    op.rename_table(table, old)
    op.create_table(table, *[_column(name) for name in (*key, *counted)], sa.PrimaryKeyConstraint(*key, name=pk_name))
    names = ", ".join((*key, *counted))
    op.execute(f"INSERT INTO {table} ({names}) {select_sql.format(old=old)}")  # noqa: S608 - our own names
    op.drop_table(old)


def upgrade() -> None:
    with op.batch_alter_table("history_events") as batch_op:
        batch_op.add_column(sa.Column("pair", sa.String(32), nullable=True))
    for table, (key, counted, time_column) in ROLLUPS.items():
        _rebuild(table, (*key, "pair"), counted,
                 f"SELECT {', '.join(key)}, '{DEFAULT_PAIR}', {', '.join(counted)} FROM {{old}}",  # noqa: S608
                 f"pk_{table}")  # the old key's index keeps its name until the old table goes
        op.create_index(f"ix_{table}_pair", table, ["pair", time_column])


def downgrade() -> None:
    for table, (key, counted, _time_column) in ROLLUPS.items():
        op.drop_index(f"ix_{table}_pair", table_name=table)
        sums = ", ".join(f"SUM({name})" for name in counted)
        by_key = ", ".join(key)
        _rebuild(table, key, counted, f"SELECT {by_key}, {sums} FROM {{old}} GROUP BY {by_key}",  # noqa: S608
                 f"{table}_pkey")
    with op.batch_alter_table("history_events") as batch_op:
        batch_op.drop_column("pair")
