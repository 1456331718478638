"""Experiment audience: live storefront traffic, or the simulator's visits only

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", sa.String(length=16), nullable=False, server_default="live")
        )
    # An existing experiment whose arms name a simulated policy was made for the simulator: the
    # storefront cannot serve that policy, so it must stop enrolling real visitors.
    experiments = sa.table(
        "experiments", sa.column("id", sa.String), sa.column("arms", sa.JSON),
        sa.column("audience", sa.String),
    )  # fmt: skip
    bind = op.get_bind()
    for id_, arms in bind.execute(sa.select(experiments.c.id, experiments.c.arms)).all():
        if any("policy" in (arm.get("config") or {}) for arm in arms or []):
            bind.execute(
                experiments.update().where(experiments.c.id == id_).values(audience="simulated")
            )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("audience")
