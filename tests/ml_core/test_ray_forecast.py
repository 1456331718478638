"""Batch forecasting on a local Ray cluster gives the in-process forecasts bit for bit."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from ml_core.forecasting.baselines import AutoETS, SeasonalNaive
from ml_core.forecasting.partitioned import Partitioned, split_series
from ml_core.forecasting.run import run_store_forecast
from ml_core.forecasting.store_panel import sales_panel
from ml_core.registry import ArtifactRegistry
from retail.settings import get_settings
from retail.store.models import ForecastValue
from tests.ml_core.tiny_world import seed_tiny_world

ray = pytest.importorskip("ray")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    # Where the forecasts run is the question here, not which database stores them.
    return f"sqlite:///{tmp_path / 'aisle.db'}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A two-CPU Ray instance started by this process, shut down after the module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Engine:
    return seed_tiny_world(engine, tmp_path, days=120)


def _stored(engine: Engine, run_id: str) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(
            select(ForecastValue)
            .where(ForecastValue.run_id == run_id)
            .order_by(ForecastValue.variant_id, ForecastValue.location_id, ForecastValue.day),
            conn,
        )
    return frame.drop(columns="run_id")


def test_ray_partitions_give_the_in_process_forecasts(
    cluster: None, world: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seasonal naive keeps the cluster's workers quick to start: statsforecast's models compile
    # with numba in every fresh worker (tens of seconds); they are checked in process below.
    model = SeasonalNaive
    registry = ArtifactRegistry(tmp_path / "artifacts")
    monkeypatch.delenv("AISLE_RAY_ADDRESS", raising=False)
    get_settings.cache_clear()
    here = run_store_forecast(world, registry, model(), horizon=14, calibrate=False)

    monkeypatch.setenv("AISLE_RAY_ADDRESS", "local")
    get_settings.cache_clear()
    there = run_store_forecast(world, registry, model(), horizon=14, calibrate=False)

    in_process = registry.load("forecaster", here.model_version)[1] / "model.pkl"
    on_ray = registry.load("forecaster", there.model_version)[1] / "model.pkl"
    assert isinstance(pickle.loads(in_process.read_bytes()), model)
    distributed = pickle.loads(on_ray.read_bytes())
    # Two CPUs, four tasks each: the panel really was fitted in partitions on the cluster.
    assert isinstance(distributed, Partitioned) and len(distributed.parts_) == 8
    assert there.series == here.series and there.rows == here.rows > 0
    pd.testing.assert_frame_equal(_stored(world, there.run_id), _stored(world, here.run_id))


def test_a_statsforecast_model_forecasts_each_partition_as_the_whole_panel(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AISLE_RAY_ADDRESS", raising=False)
    get_settings.cache_clear()
    data, _ = sales_panel(world, location_id="S001")
    whole = AutoETS().fit(data).predict(7).to_frame()
    partitioned = Partitioned(model=AutoETS(), partitions=3).fit(data)
    forecast = partitioned.predict(7)
    assert len(partitioned.parts_) == 3 and forecast.model == "ets"
    pd.testing.assert_frame_equal(forecast.to_frame(), whole)


def test_partitions_are_whole_series_in_order(world: Engine) -> None:
    data, _ = sales_panel(world)
    parts = split_series(data.frame, 5)
    assert len(parts) == 5
    ids = [part["unique_id"].unique() for part in parts]
    flat = [i for chunk in ids for i in chunk]
    assert flat == sorted(data.frame["unique_id"].unique())
    assert sum(len(p) for p in parts) == len(data.frame)
    assert max(len(i) for i in ids) - min(len(i) for i in ids) <= 1
