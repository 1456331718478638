"""The global quantile forecaster: the contract, and that it learns what retail demand holds.

Real torch training on small synthetic Poisson panels (no mocks): a weekly profile per category,
a store effect, a promotion that doubles demand, and a series with only a few days of history.
One module-scoped fit serves most tests, so the file stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    NotFittedError,
    SeriesData,
    Y,
    future_index,
)
from ml_core.forecasting.global_model import GlobalQuantileForecaster

HORIZON = 28
DAYS = 280
# Weekday profile (Monday first): a clear weekly pattern a flat mean cannot follow.
WEEKLY = np.array([0.5, 0.7, 0.8, 1.0, 1.3, 2.0, 1.7])
CATEGORY_LEVEL = {"tents": 8.0, "socks": 2.0, "boots": 4.0, "hats": 1.0}
FAST: dict[str, Any] = {
    "hidden": 32,
    "decoder_hidden": 16,
    "windows_per_series": 64,
    "batch_size": 512,
    "learning_rate": 5e-3,
    "max_epochs": 15,
    "patience": 3,
}


def _panel(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training frame, held-out frame with y and promo) of a daily Poisson panel."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-03-04", periods=DAYS + HORIZON, freq="D")
    profile = WEEKLY[dates.day_of_week.to_numpy()] / WEEKLY.mean()
    frames = []
    for category, level in CATEGORY_LEVEL.items():
        for store, store_lift in (("north", 1.0), ("south", 1.5)):
            for item in range(5):
                uid = f"{category}-{item}@{store}"
                promo = (rng.random(len(dates)) < 0.12).astype(float)
                mu = level * store_lift * rng.uniform(0.8, 1.25) * profile * (1 + promo)
                frames.append(
                    pd.DataFrame(
                        {
                            ID: uid,
                            DS: dates,
                            Y: rng.poisson(mu).astype(float),
                            "promo": promo,
                            "category": category,
                            "store": store,
                        }
                    )
                )
    # A new tent at the north store: only three days of history are known.
    promo = np.zeros(len(dates))
    mu = CATEGORY_LEVEL["tents"] * profile
    frames.append(
        pd.DataFrame(
            {
                ID: "tents-new@north",
                DS: dates,
                Y: rng.poisson(mu).astype(float),
                "promo": promo,
                "category": "tents",
                "store": "north",
            }
        ).iloc[DAYS - 3 :]
    )
    frame = pd.concat(frames, ignore_index=True).sort_values([ID, DS], ignore_index=True)
    cutoff = dates[DAYS - 1]
    return frame[frame[DS] <= cutoff].reset_index(drop=True), frame[frame[DS] > cutoff]


def _data(train: pd.DataFrame) -> SeriesData:
    return SeriesData(train, "D", future_exog=("promo",), static_cols=("category", "store"))


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _panel()


@pytest.fixture(scope="module")
def fitted(panel: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[GlobalQuantileForecaster, Forecast]:
    train, test = panel
    model = GlobalQuantileForecaster(horizon=HORIZON, seed=1, **FAST)
    returned = model.fit(_data(train))
    assert returned is model
    return model, model.predict(HORIZON, test[[ID, DS, "promo"]])


def _scored(forecast: Forecast, test: pd.DataFrame) -> pd.DataFrame:
    return forecast.to_frame().merge(test[[ID, DS, Y, "promo"]], on=[ID, DS], how="inner")


def test_init_stores_hyperparameters_only() -> None:
    model = GlobalQuantileForecaster(hidden=16, seed=3)
    assert [a for a in vars(model) if a.endswith("_")] == []
    assert model.hidden == 16 and model.seed == 3
    assert model.name == "global"


def test_predict_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        GlobalQuantileForecaster().predict(7)


def test_forecast_follows_the_contract(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    train, _ = panel
    model, forecast = fitted
    assert sorted(model.ids_) == sorted(train[ID].unique())
    assert model.freq_ == "D"
    expected = future_index(train, HORIZON, "D")
    np.testing.assert_array_equal(forecast.unique_id, expected[ID].to_numpy())
    np.testing.assert_array_equal(forecast.ds, expected[DS].to_numpy())
    assert forecast.model == "global"
    values = np.column_stack([forecast.mean, *(getattr(forecast, q) for q in QUANTILE_FIELDS)])
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (np.diff(values[:, 1:], axis=1) >= 0).all()


def test_a_shorter_horizon_is_the_head_of_the_full_one(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    _, test = panel
    model, full = fitted
    short = model.predict(7, test[[ID, DS, "promo"]])
    head = full.to_frame().groupby(ID).head(7).reset_index(drop=True)
    pd.testing.assert_frame_equal(short.to_frame(), head)
    with pytest.raises(ValueError, match="horizon must be between 1 and 28"):
        model.predict(HORIZON + 1, test[[ID, DS, "promo"]])


def test_missing_future_covariates_are_a_clear_error(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    _, test = panel
    model, _ = fitted
    with pytest.raises(ValueError, match="future covariates"):
        model.predict(HORIZON)
    with pytest.raises(ValueError, match="lacks covariate values for 1 forecast row"):
        model.predict(HORIZON, test[[ID, DS, "promo"]].iloc[1:])


def test_learns_the_weekly_pattern_better_than_a_flat_mean(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    train, test = panel
    scored = _scored(fitted[1], test)
    flat = scored[ID].map(train.groupby(ID)[Y].mean())
    global_mae = (scored[Y] - scored["y_hat"]).abs().mean()
    flat_mae = (scored[Y] - flat).abs().mean()
    assert global_mae < 0.8 * flat_mae
    # And the weekly shape itself: Saturdays are forecast well above Mondays.
    by_day = scored.groupby(pd.DatetimeIndex(scored[DS]).day_of_week)["y_hat"].mean()
    assert by_day[5] > 2.5 * by_day[0]


def test_uses_the_known_future_promotion(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    _, test = panel
    model, _ = fitted
    rows = test[[ID, DS]]
    with_promo = model.predict(HORIZON, rows.assign(promo=1.0))
    without = model.predict(HORIZON, rows.assign(promo=0.0))
    # The panel's promotion doubles demand; the forecast must move most of the way.
    assert with_promo.mean.sum() > 1.5 * without.mean.sum()
    assert with_promo.p90.sum() > without.p90.sum()


def test_a_short_history_series_forecasts_like_its_category_peers(
    fitted: tuple[GlobalQuantileForecaster, Forecast],
) -> None:
    frame = fitted[1].to_frame()
    per_series = frame.groupby(ID)["y_hat"].mean()
    peers = per_series[per_series.index.str.match(r"tents-\d@north")].mean()
    other_category = per_series[per_series.index.str.match(r"hats-\d@north")].mean()
    new = per_series["tents-new@north"]
    assert 0.6 * peers < new < 1.6 * peers
    assert abs(new - peers) < abs(new - other_category)


def test_p90_is_roughly_calibrated_on_poisson_data(
    panel: tuple[pd.DataFrame, pd.DataFrame], fitted: tuple[GlobalQuantileForecaster, Forecast]
) -> None:
    _, test = panel
    scored = _scored(fitted[1], test)
    coverage = (scored[Y] <= scored["p90"]).mean()
    assert 0.75 <= coverage <= 0.98
    assert (scored[Y] <= scored["p10"]).mean() < (scored[Y] <= scored["p50"]).mean() < coverage


def test_same_seed_gives_the_same_forecast_and_another_seed_does_not() -> None:
    train, test = _panel(seed=11)
    small = train[train[ID].str.startswith(("tents", "hats"))]
    rows = test[test[ID].isin(small[ID].unique())][[ID, DS, "promo"]]
    params = {**FAST, "max_epochs": 2, "horizon": 14}

    def run(seed: int) -> Forecast:
        model = GlobalQuantileForecaster(seed=seed, **params).fit(_data(small))
        return model.predict(14, rows)

    first, again, other = run(5), run(5), run(6)
    for field in ("unique_id", "ds", "mean", *QUANTILE_FIELDS):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.mean, other.mean)


def test_weekly_panel_without_covariates_or_statics() -> None:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2022-01-07", periods=120, freq="7D")  # Fridays, as Walmart's weeks
    season = 1 + 0.5 * np.sin(2 * np.pi * np.arange(120) / 52)
    frame = pd.concat(
        [
            pd.DataFrame({ID: f"dept{i}", DS: dates, Y: rng.poisson(30 * (i + 1) * season)})
            for i in range(6)
        ],
        ignore_index=True,
    ).astype({Y: float})
    model = GlobalQuantileForecaster(seed=0, **{**FAST, "max_epochs": 5})
    forecast = model.fit(SeriesData(frame, "W")).predict(13)
    assert len(forecast.mean) == 6 * 13
    assert set(pd.DatetimeIndex(forecast.ds).day_name()) == {"Friday"}
    per_series = pd.Series(forecast.mean).groupby(forecast.unique_id).mean()
    # Volumes are learned per series: the biggest department is forecast well above the smallest.
    assert per_series["dept5"] > 3 * per_series["dept0"]
