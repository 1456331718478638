"""Served recommendations, experiments, and event attribution

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 19:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "recommendations_served",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("propensity", sa.Float(), nullable=True),
        sa.Column("items", JSON, nullable=False),
        sa.Column("context", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations_served")),
    )
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recommendations_served_served_at"), ["served_at"])
        batch_op.create_index(batch_op.f("ix_recommendations_served_unit_id"), ["unit_id"])
        batch_op.create_index(
            batch_op.f("ix_recommendations_served_experiment_id"), ["experiment_id"]
        )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("layer", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("traffic", sa.Float(), nullable=False),
        sa.Column("arms", JSON, nullable=False),
        sa.Column("primary_metric", sa.String(length=32), nullable=False),
        sa.Column("planned_units", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_layer"), ["layer"])
    with op.batch_alter_table("shopper_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recommendation_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("value", sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_shopper_events_recommendation_id"), ["recommendation_id"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("shopper_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopper_events_recommendation_id"))
        batch_op.drop_column("value")
        batch_op.drop_column("recommendation_id")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_layer"))
    op.drop_table("experiments")
    with op.batch_alter_table("recommendations_served", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendations_served_experiment_id"))
        batch_op.drop_index(batch_op.f("ix_recommendations_served_unit_id"))
        batch_op.drop_index(batch_op.f("ix_recommendations_served_served_at"))
    op.drop_table("recommendations_served")
