"""The forecaster contract, checked once for every model registered in `MODELS`.

One suite, parametrised over the registry (as implicit's `RecommenderBaseTestMixin`), on small
daily and weekly panels that hold what real retail data holds: weekly seasonality, a series that
starts late, a brand-new one, one with gaps, one that never sells and an intermittent one. The
panels go through `load_series_csv`, so models see exactly what a backtest gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    Forecaster,
    NotFittedError,
    SeriesData,
    future_index,
)
from ml_core.forecasting.data import PERIOD, load_series_csv
from ml_core.forecasting.models import MODEL_WORDS, MODELS, describe_model

HORIZON = {"D": 14, "W": 8}
LENGTH = {"D": 140, "W": 110}
MODEL_NAMES = list(MODELS)


def _panel_csv(path: Path, freq: str) -> Path:
    rng = np.random.default_rng(7)
    n = LENGTH[freq]
    start = pd.Timestamp("2023-01-06")  # a Friday, so the weekly panel keeps Walmart's weekday
    dates = pd.DatetimeIndex(start + np.arange(n) * PERIOD[freq])
    t = np.arange(n)
    cycle = 7 if freq == "D" else 52
    promo = (t % 10 == 0).astype(int)
    rows: list[pd.DataFrame] = []

    def add(uid: str, y: np.ndarray, keep: np.ndarray, category: str) -> None:
        rows.append(
            pd.DataFrame(
                {
                    "sku": uid,
                    "day": dates[keep].strftime("%Y-%m-%d"),
                    "units": y[keep],
                    "promo": promo[keep],
                    "category": category,
                    "ignored": "x",
                }
            )
        )

    everything = np.ones(n, dtype=bool)
    seasonal = 20 + 8 * np.sin(2 * np.pi * t / cycle)
    add("seasonal_a", rng.poisson(seasonal + 10 * promo).astype(float), everything, "food")
    add("seasonal_b", rng.poisson(seasonal * 3).astype(float), everything, "food")
    add("late", rng.poisson(12, n).astype(float), t >= n - 30, "toys")
    add("new", rng.poisson(5, n).astype(float), t >= n - 4, "toys")
    gappy = everything.copy()
    gappy[20:35] = False
    gappy[60:62] = False
    add("gappy", rng.poisson(8, n).astype(float), gappy, "food")
    add("zeros", np.zeros(n), everything, "toys")
    add("intermittent", rng.poisson(0.25, n).astype(float), everything, "toys")
    path.write_text(pd.concat(rows).to_csv(index=False))
    return path


@pytest.fixture(scope="module", params=["D", "W"])
def panel(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SeriesData:
    freq = request.param
    path = _panel_csv(tmp_path_factory.mktemp("panel") / f"panel_{freq}.csv", freq)
    return load_series_csv(
        path,
        freq=freq,
        id_col="sku",
        time_col="day",
        target_col="units",
        future_exog=("promo",),
        static_cols=("category",),
    )


def _future(data: SeriesData, horizon: int) -> pd.DataFrame:
    index = future_index(data.frame, horizon, data.freq)
    return index.assign(promo=(np.arange(len(index)) % 10 == 0).astype(float))


@pytest.fixture(scope="module")
def fitted() -> dict[tuple[str, str], tuple[Forecaster, Forecaster, Forecast]]:
    """Fits shared by the tests of one model and panel: (model, what fit returned, forecast)."""
    return {}


@pytest.fixture(params=MODEL_NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fit(
    cache: dict[tuple[str, str], tuple[Forecaster, Forecaster, Forecast]],
    name: str,
    data: SeriesData,
) -> tuple[Forecaster, Forecaster, Forecast]:
    key = (name, data.freq)
    if key not in cache:
        model = MODELS[name]()
        returned = model.fit(data)
        horizon = HORIZON[data.freq]
        cache[key] = (model, returned, returned.predict(horizon, _future(data, horizon)))
    return cache[key]


def test_init_stores_hyperparameters_only(name: str) -> None:
    model = MODELS[name]()
    learned = [attr for attr in vars(model) if attr.endswith("_") and not attr.startswith("_")]
    assert learned == []
    assert model.name == name


def test_predict_before_fit_raises(name: str) -> None:
    with pytest.raises(NotFittedError):
        MODELS[name]().predict(3)


def test_fit_returns_self_and_learns_the_series(name: str, panel: SeriesData, fitted: dict) -> None:
    model, returned, _ = _fit(fitted, name, panel)
    assert returned is model
    assert sorted(map(str, model.ids_)) == sorted(panel.ids)  # type: ignore[attr-defined]
    assert model.freq_ == panel.freq  # type: ignore[attr-defined]


def test_one_row_per_series_and_step_at_the_right_dates(
    name: str, panel: SeriesData, fitted: dict
) -> None:
    _, _, forecast = _fit(fitted, name, panel)
    got = forecast.to_frame()[[ID, DS]].sort_values([ID, DS]).reset_index(drop=True)
    expected = future_index(panel.frame, HORIZON[panel.freq], panel.freq)
    expected = expected.sort_values([ID, DS]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype({ID: str}), expected.astype({ID: str}))
    assert forecast.model == name
    if panel.freq == "W":
        assert set(pd.DatetimeIndex(forecast.ds).day_name()) == {"Friday"}


def test_forecasts_are_finite_non_negative_and_quantiles_ordered(
    name: str, panel: SeriesData, fitted: dict
) -> None:
    _, _, forecast = _fit(fitted, name, panel)
    values = np.column_stack([forecast.mean, *(getattr(forecast, q) for q in QUANTILE_FIELDS)])
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    quantiles = values[:, 1:]
    assert (np.diff(quantiles, axis=1) >= 0).all()
    frame = forecast.to_frame()
    zeros = frame[frame[ID] == "zeros"]
    # A series that never sold is forecast to sell less than one unit, even at p95.
    assert (zeros[["y_hat", *QUANTILE_FIELDS]].to_numpy() < 1.0).all()


def test_the_interval_is_not_degenerate_on_seasonal_series(
    name: str, panel: SeriesData, fitted: dict
) -> None:
    _, _, forecast = _fit(fitted, name, panel)
    frame = forecast.to_frame()
    busy = frame[frame[ID] == "seasonal_b"]
    assert (busy["p90"] > busy["p10"]).all()


def test_same_data_gives_the_same_forecast(name: str, panel: SeriesData, fitted: dict) -> None:
    _, _, first = _fit(fitted, name, panel)
    horizon = HORIZON[panel.freq]
    again = MODELS[name]().fit(panel).predict(horizon, _future(panel, horizon))
    for attr in ("unique_id", "ds", "mean", *QUANTILE_FIELDS):
        np.testing.assert_array_equal(getattr(again, attr), getattr(first, attr))


def test_registry_values_build_forecasters() -> None:
    factories: list[Callable[..., Forecaster]] = list(MODELS.values())
    assert all(isinstance(factory(), Forecaster) for factory in factories)
    assert {"seasonal_naive", "ets", "theta", "tsb"} <= set(MODELS)


def test_every_forecaster_has_words_a_planner_reads() -> None:
    # A page names the model a proposal was planned with by these words, not by its bare name.
    assert set(MODEL_WORDS) == set(MODELS)
    assert all(describe_model(name) != name for name in MODELS)
