"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, inspect

from retail.settings import Settings
from retail.store.models import Base
from retail.store.schema import current_revision, head_revision, upgrade


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
