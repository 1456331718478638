"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from retail.schemas import review_rating
from retail.settings import Settings
from retail.store.models import Base, JobRun, Product, Review
from retail.store.schema import alembic_config, current_revision, head_revision, upgrade


def test_migrations_and_models_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    assert set(Base.metadata.tables) <= tables


def test_placeholder_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="AISLE_SECRET_KEY"):
        Settings(environment="prod")
    assert Settings(environment="prod", secret_key="s3cret-from-vault").environment == "prod"


def test_default_database_is_sqlite_under_var(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("AISLE_DATABASE_URL", raising=False)
    settings = Settings(var_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'aisle.db'}"


def test_ratings_stored_before_0015_become_the_mean_of_their_reviews(engine: Engine) -> None:
    """DummyJSON's own overall rating (4.2 beside three stored reviews averaging 2.67) was
    shown as the product's; 0015 recomputes every rating from the stored reviews."""
    with Session(engine) as session, session.begin():
        session.add(Product(id="dj-1", name="Mascara", rating=4.2, review_count=5, source="t"))
        session.add(Product(id="dj-2", name="Lipstick", rating=4.9, review_count=1, source="t"))
        for n, stars in enumerate([2, 3, 3]):
            session.add(Review(id=f"r{n}", product_id="dj-1", rating=stars, body="", source="t"))
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        # Back to just before 0015 (the later revisions undone), then up again through it.
        command.downgrade(cfg, "0014")
    upgrade(engine)
    with Session(engine) as session:
        rated = {p.id: (p.rating, p.review_count) for p in session.scalars(select(Product))}
    assert rated == {"dj-1": (review_rating([2, 3, 3]), 3), "dj-2": (None, 0)}


def test_runs_left_running_before_0017_keep_one_running_per_kind(engine: Engine) -> None:
    """Before 0017 a killed job left its run "running" forever, so a kind could have several;
    the index of one running run per kind needs all but the newest marked died."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    runs = sa.table(
        "job_runs", *(sa.column(c) for c in ("id", "job", "kind", "trigger", "status")),
        sa.column("started_at", sa.DateTime(timezone=True)), sa.column("versions", sa.JSON),
        sa.column("decision", sa.JSON), sa.column("message", sa.Text),
    )  # fmt: skip
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for n, (kind, status) in enumerate(
            [("forecaster", "running"), ("forecaster", "running"), ("forecaster", "succeeded"),
             ("recommender", "running")]
        ):  # fmt: skip
            conn.execute(
                runs.insert().values(
                    id=f"r{n}", job="j", kind=kind, trigger="manual", status=status,
                    started_at=start + dt.timedelta(hours=n), versions=[], decision={},
                    message="",
                )
            )  # fmt: skip
    upgrade(engine)
    with Session(engine) as session:
        after = {r.id: (r.status, r.holder) for r in session.scalars(select(JobRun))}
    assert after == {
        "r0": ("died", {}),
        "r1": ("running", {}),
        "r2": ("succeeded", {}),
        "r3": ("running", {}),
    }
    with Session(engine) as session:
        assert "newer run of forecaster" in session.get(JobRun, "r0").message  # type: ignore[union-attr]
