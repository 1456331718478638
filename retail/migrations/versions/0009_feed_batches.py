"""Feed batches: daily sales, inventory and catalogue files, accepted or quarantined

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "feed_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_applied", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("kept_at", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_batches")),
    )
    with op.batch_alter_table("feed_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_batches_kind"), ["kind"])
        batch_op.create_index(batch_op.f("ix_feed_batches_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_feed_batches_received_at"), ["received_at"])
        batch_op.create_index(
            "uq_feed_batches_accepted_content",
            ["kind", "content_hash"],
            unique=True,
            sqlite_where=sa.text("status = 'accepted'"),
            postgresql_where=sa.text("status = 'accepted'"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("feed_batches")
