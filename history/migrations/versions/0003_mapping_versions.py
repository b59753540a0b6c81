"""Mapping versions: each published version's diff and text on its change record (so it can be read and
restored from the history), and the versions each event was built with.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("history_mapping_changes") as batch_op:
        batch_op.add_column(sa.Column("diff", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("content", sa.Text(), nullable=True))
    with op.batch_alter_table("history_events") as batch_op:
        batch_op.add_column(sa.Column("mapping_version", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("history_events") as batch_op:
        batch_op.drop_column("mapping_version")
    with op.batch_alter_table("history_mapping_changes") as batch_op:
        batch_op.drop_column("content")
        batch_op.drop_column("diff")
