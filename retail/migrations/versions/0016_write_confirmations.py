"""Write confirmations shared by every serving process

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "write_confirmations",
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("principal", "digest", name=op.f("pk_write_confirmations")),
    )
    with op.batch_alter_table("write_confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_confirmations_expires_at"), ["expires_at"])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("write_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_confirmations_expires_at"))
    op.drop_table("write_confirmations")
