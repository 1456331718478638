"""Fixtures of the API tests: the app over the test's migrated database, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from retail.settings import Settings


@pytest.fixture
def app(engine: Engine, db_url: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(database_url=db_url, var_dir=tmp_path, environment="test"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
