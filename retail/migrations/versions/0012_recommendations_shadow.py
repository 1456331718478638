"""Shadow recommendations: the list a shadow recommender computed for a served request

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "recommendations_shadow",
        sa.Column("recommendation_id", sa.String(length=40), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.PrimaryKeyConstraint(
            "recommendation_id", "model_version", name=op.f("pk_recommendations_shadow")
        ),
    )
    with op.batch_alter_table("recommendations_shadow", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recommendations_shadow_model_version"), ["model_version"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("recommendations_shadow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendations_shadow_model_version"))
    op.drop_table("recommendations_shadow")
