"""Job runs name their process and heartbeat; one running run per model kind

A run killed mid-way stayed "running" forever. Each run now names its holder (host, process id,
process start) and beats a heartbeat, so the next scheduler can tell it died; a partial unique
index lets only one run of a kind be running, so two schedulers racing run a retrain once.

Runs left "running" before this revision name no process: all but the newest of each kind are
marked died here (the index would refuse them); the newest is judged by its lease from its start.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder", JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    runs = sa.table(
        "job_runs", sa.column("id", sa.String), sa.column("kind", sa.String),
        sa.column("status", sa.String), sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("message", sa.Text),
    )  # fmt: skip
    bind = op.get_bind()
    running = bind.execute(
        sa.select(runs.c.id, runs.c.kind)
        .where(runs.c.status == "running")
        .order_by(runs.c.kind, runs.c.started_at.desc())
    ).all()
    seen: set[str] = set()
    for id_, kind in running:
        if kind in seen:
            bind.execute(
                runs.update()
                .where(runs.c.id == id_)
                .values(
                    status="died",
                    message="Left running by a process that never finished it, beside a newer "
                    f"run of {kind}; marked died when job runs began to name their process.",
                )
            )
        seen.add(kind)
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_job_runs_running_kind",
            ["kind"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_job_runs_running_kind")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("holder")
