"""`auto`: the per-panel choice by cross-validation on the training part only.

The panel is built so that the honest choice and the peeking choice differ: until the scored
window every series repeats an exact weekly pattern (the seasonal naive is perfect on every CV
window), and in the scored window the pattern stops and demand is flat (a flat-rate model wins
there). A selector that looked at the scored window would not pick the seasonal naive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.backtest import BacktestSpec, backtest
from ml_core.forecasting.base import DS, ID, SeriesData, Y
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.selection import AutoForecaster

HORIZON = 14
DAYS = 140
PATTERN = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 50.0, 50.0])
CANDIDATES = ("seasonal_naive", "tsb")


def _panel() -> SeriesData:
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    frames = []
    for i, level in enumerate((1.0, 2.0, 3.0)):
        y = level * PATTERN[np.arange(DAYS) % 7]
        y[DAYS - HORIZON :] = level * 20.0  # the scored window: the pattern is gone
        frames.append(pd.DataFrame({ID: f"s{i}", DS: dates, Y: y}))
    return SeriesData(pd.concat(frames, ignore_index=True), "D")


def _auto() -> AutoForecaster:
    return AutoForecaster(registry=MODELS, candidates=CANDIDATES, horizon=HORIZON, windows=2)


def test_the_choice_is_made_on_windows_before_the_scored_one() -> None:
    data = _panel()
    spec = BacktestSpec(horizon=HORIZON, step=HORIZON, windows=1)
    models = {name: MODELS[name] for name in CANDIDATES}
    result = backtest(data, {**models, "auto": _auto}, spec, show_progress=False)
    wape = result.metrics["wape"]
    # On the scored window the flat model is far better than the seasonal naive ...
    assert wape["tsb"] < 0.5 * wape["seasonal_naive"]
    # ... yet auto forecasts exactly what the seasonal naive does: it chose on the training
    # part, where the seasonal naive never erred.
    fc = result.forecasts.set_index(["model", ID, DS]).sort_index()
    np.testing.assert_allclose(
        fc.loc["auto", "y_hat"].to_numpy(), fc.loc["seasonal_naive", "y_hat"].to_numpy()
    )
    assert wape["auto"] == pytest.approx(wape["seasonal_naive"])


def test_cv_windows_end_before_the_training_data_does() -> None:
    data = _panel()
    cutoff = data.frame[DS].max() - pd.Timedelta(days=HORIZON)
    train = SeriesData(data.frame[data.frame[DS] <= cutoff].reset_index(drop=True), "D")
    model = _auto().fit(train)
    assert model.chosen_ == "seasonal_naive"
    assert model.cv_scores_["seasonal_naive"] == 0.0
    assert len(model.cv_cutoffs_) == 2
    assert max(model.cv_cutoffs_) <= cutoff - pd.Timedelta(days=HORIZON)
    forecast = model.predict(HORIZON)
    assert forecast.meta["chosen"] == "seasonal_naive"
    assert forecast.meta["cv_cutoffs"] == [str(c.date()) for c in model.cv_cutoffs_]


def test_combinations_are_scored_beside_the_single_models() -> None:
    data = _panel()
    cutoff = data.frame[DS].max() - pd.Timedelta(days=HORIZON)
    train = SeriesData(data.frame[data.frame[DS] <= cutoff].reset_index(drop=True), "D")
    model = _auto().fit(train)
    assert "mean(top 2)" in model.cv_scores_
    # A blend with a flat forecast cannot beat a perfect single model.
    assert model.cv_scores_["mean(top 2)"] > model.cv_scores_["seasonal_naive"]


def test_a_short_history_falls_back_to_the_median_of_the_candidates() -> None:
    data = _panel()
    short = SeriesData(data.frame.groupby(ID).head(10).reset_index(drop=True), "D")
    model = _auto().fit(short)
    assert model.chosen_ == "median(all)"
    assert model.cv_cutoffs_ == []
    assert len(model.predict(3).mean) == 9


def test_unknown_candidates_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown candidates"):
        AutoForecaster(registry=MODELS, candidates=("nope",)).fit(_panel())
    with pytest.raises(ValueError, match="Unknown candidates"):
        AutoForecaster(registry=MODELS, candidates=("auto",)).fit(_panel())
