"""Documents searchable by cash group id: an index on ``group_id`` (a search by it scanned them).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_history_documents_group", "history_documents", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_history_documents_group", table_name="history_documents")
