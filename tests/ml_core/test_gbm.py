"""The gradient-boosted global forecaster with real LightGBM on small synthetic weekly panels:
quantiles in order, covariates (promotions, prices) that move the forecast the way the data
says they move demand, and a target transform chosen on the training data's own CV windows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import Result

from ml_core.forecasting.backtest import (
    BacktestError,
    BacktestSpec,
    Forwardable,
    WarmStartable,
    _window,
    backtest,
)
from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    NotFittedError,
    SeriesData,
    Y,
)
from ml_core.forecasting.gbm import TRANSFORMS, GBMForecaster
from ml_core.forecasting.metrics import CUTOFF
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.selection import AutoForecaster

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
WEEKS = 120
HORIZON = 6
# Few trees and one CV window keep the file fast; the defaults are the same code path.
FAST = {"horizon": HORIZON, "max_rounds": 150, "early_stopping": 20, "cv_windows": 1}


def _panel(seed: int = 5) -> pd.DataFrame:
    """Weekly Poisson demand of 24 series in 2 stores x 3 categories: a promotion doubles it,
    and it falls with the price against the series' usual price (elasticity -2)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-07", periods=WEEKS + HORIZON, freq="7D")
    week = np.arange(len(dates))
    frames = []
    for store, lift in (("north", 1.0), ("south", 1.6)):
        for category, level in (("tea", 30.0), ("jam", 12.0), ("oats", 6.0)):
            for item in range(4):
                usual = rng.uniform(2, 6)
                promo = (rng.random(len(dates)) < 0.15).astype(float)
                price = usual * np.where(rng.random(len(dates)) < 0.2, 0.7, 1.0)
                seasonal = 1 + 0.3 * np.sin(2 * np.pi * week / 52)
                mu = level * lift * seasonal * (1 + promo) * (price / usual) ** -2.0
                frames.append(
                    pd.DataFrame(
                        {
                            ID: f"{category}-{item}@{store}",
                            DS: dates,
                            Y: rng.poisson(mu).astype(float),
                            "promo": promo,
                            "price": price,
                            "store": store,
                            "category": category,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


@pytest.fixture(scope="module")
def fitted(panel: pd.DataFrame) -> tuple[GBMForecaster, pd.DataFrame, pd.DataFrame]:
    last = panel[DS].max() - pd.Timedelta(weeks=HORIZON)
    train, test = panel[panel[DS] <= last], panel[panel[DS] > last]
    data = SeriesData(train, "W", ("promo", "price"), ("store", "category"))
    return GBMForecaster(**FAST).fit(data), train, test


def test_fits_and_forecasts_every_series_with_ordered_quantiles(
    fitted: tuple[GBMForecaster, pd.DataFrame, pd.DataFrame],
) -> None:
    model, train, test = fitted
    forecast = model.predict(HORIZON, test)
    frame = forecast.to_frame()
    assert len(frame) == train[ID].nunique() * HORIZON
    values = frame[["y_hat", *QUANTILE_FIELDS]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (np.diff(frame[list(QUANTILE_FIELDS)].to_numpy(), axis=1) >= 0).all()
    assert (frame["p90"] > frame["p10"]).mean() > 0.9
    assert model.transform_ in TRANSFORMS
    assert forecast.meta["transform"] == model.transform_
    # The held-out weeks are forecast better than by repeating last week.
    merged = test[[ID, DS, Y]].merge(frame, on=[ID, DS])
    naive = test[[ID, DS, Y]].merge(
        train.sort_values(DS).groupby(ID)[Y].last().rename("last"), left_on=ID, right_index=True
    )
    gbm_error = np.abs(merged[Y] - merged["y_hat"]).sum()
    naive_error = np.abs(naive[Y] - naive["last"]).sum()
    assert gbm_error < 0.8 * naive_error


def test_a_promotion_raises_the_forecast(
    fitted: tuple[GBMForecaster, pd.DataFrame, pd.DataFrame],
) -> None:
    model, _, test = fitted
    usual = test.assign(price=test.groupby(ID)["price"].transform("max"))
    on = model.predict(HORIZON, usual.assign(promo=1.0)).to_frame()
    off = model.predict(HORIZON, usual.assign(promo=0.0)).to_frame()
    # The panel's promotions double demand: the forecast must move most of that way.
    ratio = on["y_hat"].sum() / off["y_hat"].sum()
    assert 1.5 < ratio < 2.6
    assert (on["p90"].sum() > off["p90"].sum()) and (on["p10"].sum() > off["p10"].sum())


def test_a_lower_price_raises_the_forecast(
    fitted: tuple[GBMForecaster, pd.DataFrame, pd.DataFrame],
) -> None:
    model, train, test = fitted
    usual = train.groupby(ID)["price"].median()
    at_usual = test.assign(promo=0.0, price=test[ID].map(usual))
    cut = at_usual.assign(price=at_usual["price"] * 0.7)
    base = model.predict(HORIZON, at_usual).to_frame()["y_hat"].sum()
    cheaper = model.predict(HORIZON, cut).to_frame()["y_hat"].sum()
    # Elasticity -2: a 30% cut sells about twice as much (0.7 ** -2 = 2.04).
    assert cheaper > 1.4 * base


def test_statics_and_no_covariates_fit_too(panel: pd.DataFrame) -> None:
    data = SeriesData(panel[[ID, DS, Y]], "W")
    forecast = GBMForecaster(**FAST).fit(data).predict(3)
    assert len(forecast.mean) == panel[ID].nunique() * 3


def test_transform_is_chosen_among_those_allowed(panel: pd.DataFrame) -> None:
    data = SeriesData(panel, "W", ("promo", "price"), ("store", "category"))
    model = GBMForecaster(**{**FAST, "transforms": ("log1p",)}).fit(data)
    assert model.transform_ == "log1p"
    assert set(model.cv_wape_) == {"log1p"}
    # log1p is refused on data with negative values (net returns): scale stands in.
    negative = panel.assign(**{Y: panel[Y] - 1.0})
    model = GBMForecaster(**{**FAST, "transforms": ("log1p",)}).fit(SeriesData(negative, "W"))
    assert model.transform_ == "scale"


def test_a_warm_refit_keeps_the_cv_choice_and_learns_the_new_data(panel: pd.DataFrame) -> None:
    end = panel[DS].max() - pd.Timedelta(weeks=HORIZON)
    future = panel[panel[DS] > end]

    def upto(last: pd.Timestamp) -> SeriesData:
        frame = panel[panel[DS] <= last].reset_index(drop=True)
        return SeriesData(frame, "W", ("promo", "price"), ("store", "category"))

    model = GBMForecaster(**FAST, warm_start=True)
    # The backtest refits such a model window after window (`--warm-start`).
    assert isinstance(model, WarmStartable)
    model.fit(upto(end - pd.Timedelta(weeks=8)))
    first = (model.transform_, model.rounds_, model.quantile_shift_.copy(), model.cv_wape_)
    assert not model.warm_started_
    refit = model.fit(upto(end)).predict(HORIZON, future)
    assert model.warm_started_ and refit.meta["warm_started"] is True
    assert (model.transform_, model.rounds_, model.cv_wape_) == (first[0], first[1], first[3])
    np.testing.assert_array_equal(model.quantile_shift_, first[2])
    # Its trees are trained on the new data: it forecasts from the new end, as a cold fit does,
    # and about as well.
    cold = GBMForecaster(**FAST).fit(upto(end)).predict(HORIZON, future)
    errors = _absolute_errors(future, refit, cold)
    assert errors[0] < 1.1 * errors[1]


def _absolute_errors(future: pd.DataFrame, *forecasts: Forecast) -> list[float]:
    """Each forecast's summed absolute error against `future`, the forecasts on the same rows."""
    first = forecasts[0]
    for other in forecasts[1:]:
        np.testing.assert_array_equal(other.unique_id, first.unique_id)
        np.testing.assert_array_equal(other.ds, first.ds)
    rows = pd.MultiIndex.from_arrays([first.unique_id, first.ds])
    actual = future.set_index([ID, DS])[Y].reindex(rows).to_numpy()
    return [float(np.abs(actual - f.mean).sum()) for f in forecasts]


def _upto(panel: pd.DataFrame, last: pd.Timestamp) -> SeriesData:
    frame = panel[panel[DS] <= last].reset_index(drop=True)
    return SeriesData(frame, "W", ("promo", "price"), ("store", "category"))


def test_forward_forecasts_from_the_new_data_with_the_fitted_trees(panel: pd.DataFrame) -> None:
    end = panel[DS].max() - pd.Timedelta(weeks=HORIZON)
    future = panel[panel[DS] > end]
    earlier = end - pd.Timedelta(weeks=8)
    model = GBMForecaster(**FAST).fit(_upto(panel, earlier))
    # The backtest forwards such a model to the windows between its refits (--refit-every).
    assert isinstance(model, Forwardable)
    own = model.predict(HORIZON, panel[panel[DS] > earlier])
    trees = model.point_
    # Forwarded to the data it was fitted on, it forecasts what its fit did.
    again = model.forward(_upto(panel, earlier)).predict(HORIZON, panel[panel[DS] > earlier])
    np.testing.assert_allclose(again.mean, own.mean)
    np.testing.assert_allclose(again.p90, own.p90)
    # Forwarded to 8 more weeks, it forecasts from their end with the same trees, and about as
    # well as a fit on them.
    ahead = model.forward(_upto(panel, end)).predict(HORIZON, future)
    assert model.point_ is trees and ahead.meta["forwarded"] is True
    cold = GBMForecaster(**FAST).fit(_upto(panel, end)).predict(HORIZON, future)
    errors = _absolute_errors(future, ahead, cold)
    assert errors[0] < 1.15 * errors[1]
    # A series the fit never saw, in a store it never saw, is forecast too.
    newcomer = panel[panel[ID] == "tea-0@north"].assign(**{ID: "tea-9@east", "store": "east"})
    grown = pd.concat([panel, newcomer], ignore_index=True)
    forecast = model.forward(_upto(grown, end)).predict(HORIZON, grown[grown[DS] > end])
    assert "tea-9@east" in set(forecast.unique_id)
    assert np.isfinite(forecast.mean).all()


def test_bad_calls_say_what_is_wrong(
    fitted: tuple[GBMForecaster, pd.DataFrame, pd.DataFrame],
) -> None:
    model, _, test = fitted
    with pytest.raises(NotFittedError):
        GBMForecaster().predict(3)
    with pytest.raises(NotFittedError):
        GBMForecaster().forward(SeriesData(test, "W"))
    with pytest.raises(ValueError, match="forward needs the covariates"):
        model.forward(SeriesData(test[[ID, DS, Y]], "W"))
    with pytest.raises(ValueError, match="horizon must be between 1 and 6"):
        model.predict(HORIZON + 1, test)
    with pytest.raises(ValueError, match="future covariates"):
        model.predict(HORIZON)
    with pytest.raises(ValueError, match="lacks covariate values"):
        model.predict(HORIZON, test.iloc[1:])
    with pytest.raises(ValueError, match="unknown target transform"):
        GBMForecaster(transforms=("boxcox",)).fit(SeriesData(test, "W"))


def test_the_cli_backtests_the_gbm_with_covariates_statics_and_breakdowns(
    aisle: Aisle, tmp_path: Path
) -> None:
    # A weekly long CSV as a retailer exports it: store x brand series with price and
    # promotion columns, given to the GBM as --future-exog and --static-cols.
    csv = tmp_path / "weekly.csv"
    panel = _panel()
    small = panel[panel[ID].str.startswith(("tea-0", "jam-1", "oats-2"))]  # 6 series
    small.rename(columns={ID: "series", DS: "week", Y: "units", "category": "brand"}).assign(
        week=lambda f: f["week"].dt.strftime("%Y-%m-%d")
    ).to_csv(csv, index=False)
    out = tmp_path / "bt"
    result = aisle(
        "forecast", "backtest", "--data", str(csv), "--freq", "W",
        "--horizon", "3", "--gap", "1", "--step", "2", "--windows", "2",
        "--id-col", "series", "--time-col", "week", "--target-col", "units",
        "--future-exog", "price,promo", "--static-cols", "store,brand",
        "--models", "seasonal_naive,gbm", "--output-dir", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"seasonal_naive", "gbm"}
    assert metrics["models"]["gbm"]["wape"] < metrics["models"]["seasonal_naive"]["wape"]
    assert set(metrics["by_step"]["gbm"]) == {"2", "3"}  # gap 1: steps 2 and 3 are scored
    assert set(metrics["by_segment"]) == {"store", "brand"}
    assert set(metrics["by_segment"]["store"]["gbm"]) == {"north", "south"}
    report = (out / "report.html").read_text()
    assert "Error by horizon step" in report and "Error by store" in report


def test_the_cli_trains_the_gbm_for_the_backtest_horizon(aisle: Aisle, tmp_path: Path) -> None:
    # 16 weeks ahead is past the 13 a weekly GBM trains for when told no horizon: the
    # backtest's --horizon must reach it.
    csv = tmp_path / "weekly.csv"
    panel = _panel()
    panel[panel[ID].str.startswith(("tea-0", "jam-1"))].to_csv(  # 4 series
        csv, index=False, date_format="%Y-%m-%d"
    )
    out = tmp_path / "bt"
    result = aisle(
        "forecast", "backtest", "--data", str(csv), "--freq", "W",
        "--horizon", "16", "--step", "16", "--windows", "1",
        "--future-exog", "price,promo", "--static-cols", "store,category",
        "--models", "seasonal_naive,gbm", "--jobs", "1", "--output-dir", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["by_step"]["gbm"]) == {str(h) for h in range(1, 17)}
    assert metrics["backtest"]["refit_every"] == 1


def test_auto_and_its_candidates_train_for_the_backtest_horizon(panel: pd.DataFrame) -> None:
    data = SeriesData(
        panel[panel[ID].str.startswith(("tea-0", "jam-1"))], "W", ("promo", "price"), ("store",)
    )
    # One candidate, so that what `auto` refits and forecasts with is always the GBM.
    result = backtest(
        data,
        {"auto": lambda: AutoForecaster(registry=MODELS, candidates=("gbm",))},
        BacktestSpec(horizon=16, step=16, windows=1),
        show_progress=False,
    )
    assert len(result.forecasts) == 4 * 16
    # Outside a backtest the horizon is the caller's to give: the CV windows are that long
    # and the candidates train for it.
    train = SeriesData(data.frame[data.frame[DS] <= result.cutoffs[0]], "W", data.future_exog)
    model = AutoForecaster(registry=MODELS, candidates=("gbm",), horizon=16).fit(train)
    assert [m.horizon_ for m in model.models_] == [16]  # type: ignore[attr-defined]
    assert model.cv_cutoffs_[-1] == result.cutoffs[0] - pd.Timedelta(weeks=16)


def test_a_backtest_refits_the_gbm_every_k_windows_and_forwards_it_between(
    panel: pd.DataFrame,
) -> None:
    data = SeriesData(
        panel[panel[ID].str.startswith(("tea", "jam"))],
        "W",
        ("promo", "price"),
        ("store", "category"),
    )
    spec = BacktestSpec(horizon=HORIZON, step=4, windows=3)
    models = {"seasonal_naive": MODELS["seasonal_naive"], "gbm": lambda: GBMForecaster(**FAST)}
    every = backtest(data, models, spec, show_progress=False, refit_every=1, n_jobs=1)
    serial = backtest(data, models, spec, show_progress=False, refit_every=2, n_jobs=1)
    # In worker processes the GBM's windows are still one model's, in order.
    pooled = backtest(data, models, spec, show_progress=False, refit_every=2, n_jobs=2)
    # What it stands for: fitted on the first and third windows, and on the second the first
    # window's fit forecasts from the second window's own history.
    model = GBMForecaster(**FAST)
    for i, cutoff in enumerate(serial.cutoffs):
        window = _window(data, cutoff, HORIZON)
        assert window is not None
        train, future = window
        model = model.fit(train) if i % 2 == 0 else model.forward(train)
        expected = model.predict(HORIZON, future.drop(columns="step")).mean
        for result in (serial, pooled):
            rows = result.forecasts[
                (result.forecasts["model"] == "gbm") & (result.forecasts[CUTOFF] == cutoff)
            ]
            np.testing.assert_allclose(rows["y_hat"].to_numpy(), expected, rtol=1e-6)
        refitted = every.forecasts[
            (every.forecasts["model"] == "gbm") & (every.forecasts[CUTOFF] == cutoff)
        ]
        assert np.allclose(refitted["y_hat"].to_numpy(), expected) == (i % 2 == 0)
    # The models that cannot be forwarded are fitted on every window either way.
    naive = [r.forecasts[r.forecasts["model"] == "seasonal_naive"] for r in (every, serial)]
    pd.testing.assert_frame_equal(naive[0], naive[1])
    with pytest.raises(BacktestError, match="every 1 window, not every 0"):
        backtest(data, models, spec, show_progress=False, refit_every=0)
