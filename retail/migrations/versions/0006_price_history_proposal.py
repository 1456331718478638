"""price history rows name the proposal they execute

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("price_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposal_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_price_history_proposal_step", ["proposal_id", "variant_id", "effective_on"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("price_history", schema=None) as batch_op:
        batch_op.drop_constraint("uq_price_history_proposal_step", type_="unique")
        batch_op.drop_column("proposal_id")
