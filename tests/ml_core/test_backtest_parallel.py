"""The fast backtest gives the forecasts of the plain one: each model fitted afresh on each window.

The plain backtest (main before the change) fitted every model, the ensemble's members included,
on every window in turn. Here that loop is written out in the test and compared with what the
backtest returns in process, with worker processes and with the ensemble combining its members'
forecasts. Deterministic models must match to float tolerance; the one legitimate difference is
the global model under `warm_start`, whose refits continue from the previous window's network.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import Result

from ml_core.forecasting.backtest import BacktestSpec, _window, backtest, cutoffs
from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecaster,
    SeriesData,
    Y,
    trained_for,
)
from ml_core.forecasting.ensemble import Ensemble
from ml_core.forecasting.global_model import GlobalQuantileForecaster
from ml_core.forecasting.metrics import CUTOFF
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.selection import AutoForecaster

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
COLUMNS = ["y_hat", *QUANTILE_FIELDS]
SPEC = BacktestSpec(horizon=7, step=7, windows=3)
# A global model small enough to train in a second or two, and an ensemble built on it.
FAST_GLOBAL = functools.partial(
    GlobalQuantileForecaster,
    hidden=16,
    decoder_hidden=8,
    min_samples_per_epoch=1024,
    max_epochs=2,
    warm_epochs=1,
)
REGISTRY: dict[str, Callable[..., Forecaster]] = {
    **{name: MODELS[name] for name in ("seasonal_naive", "ets", "theta", "tsb", "croston_sba")},
    "global": FAST_GLOBAL,
}
REGISTRY["ensemble"] = functools.partial(Ensemble, registry=REGISTRY)


@pytest.fixture(scope="module")
def panel() -> SeriesData:
    """Six daily series with weekly seasonality, one intermittent, one starting late."""
    rng = np.random.default_rng(11)
    frames = []
    for i, level in enumerate((30.0, 8.0, 55.0, 0.4, 12.0, 20.0)):
        start = 40 if i == 5 else 0
        t = np.arange(start, 120)
        y = rng.poisson(level * (1 + 0.5 * np.sin(2 * np.pi * t / 7)))
        frames.append(
            pd.DataFrame(
                {
                    ID: f"s{i}",
                    DS: pd.Timestamp("2024-01-01") + pd.to_timedelta(t, unit="D"),
                    Y: y.astype(float),
                    "promo": (t % 11 == 0).astype(float),
                    "group": "a" if i % 2 else "b",
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    return SeriesData(frame=frame, freq="D", future_exog=("promo",), static_cols=("group",))


def _fresh_fits(
    data: SeriesData, names: list[str], registry: Mapping[str, Callable[..., Forecaster]] = REGISTRY
) -> pd.DataFrame:
    """The plain backtest's forecasts: every model fitted afresh on every window, for the
    backtest's horizon."""
    rows = []
    for cutoff in cutoffs(data.frame[DS].max(), data.freq, SPEC):
        window = _window(data, cutoff, SPEC.horizon)
        assert window is not None
        train, future = window
        for name in names:
            model = trained_for(registry[name](), SPEC.horizon).fit(train)
            forecast = model.predict(SPEC.horizon, future.drop(columns="step")).to_frame()
            rows.append(forecast.assign(**{CUTOFF: cutoff, "model": name}))
    return pd.concat(rows, ignore_index=True)


def _aligned(got: pd.DataFrame, expected: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    keys = ["model", CUTOFF, ID, DS]
    joined = got.merge(expected, on=keys, how="inner", suffixes=("", "_expected"))
    # Every scored row has its fresh-fit twin (rows past a series' end are not scored).
    assert len(joined) == len(got)
    return joined[COLUMNS].to_numpy(), joined[[f"{c}_expected" for c in COLUMNS]].to_numpy()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_forecasts_are_each_models_fresh_fit_on_each_window(panel: SeriesData, n_jobs: int) -> None:
    names = list(REGISTRY)
    result = backtest(panel, REGISTRY, SPEC, show_progress=False, n_jobs=n_jobs)
    assert set(result.forecasts["model"]) == set(names)
    got, expected = _aligned(result.forecasts, _fresh_fits(panel, names))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_an_ensemble_alone_still_fits_its_members_and_matches_its_own_fit(
    panel: SeriesData,
) -> None:
    result = backtest(
        panel, {"ensemble": REGISTRY["ensemble"]}, SPEC, show_progress=False, n_jobs=2
    )
    # Its members ran only to make it: they are not scored or reported.
    assert set(result.forecasts["model"]) == {"ensemble"}
    assert list(result.metrics.index) == ["ensemble"]
    assert set(result.fit_seconds) == {f"ensemble/{m}" for m in Ensemble(registry=REGISTRY).members}
    got, expected = _aligned(result.forecasts, _fresh_fits(panel, ["ensemble"]))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_auto_is_its_own_fit_on_each_window_made_from_its_candidates_runs(
    panel: SeriesData, n_jobs: int
) -> None:
    auto = functools.partial(
        AutoForecaster, registry=REGISTRY, candidates=("seasonal_naive", "theta", "tsb", "global")
    )
    models = {"seasonal_naive": REGISTRY["seasonal_naive"], "auto": auto}
    result = backtest(panel, models, SPEC, show_progress=False, n_jobs=n_jobs)
    # Its candidates are fitted once per window, the caller's own seasonal naive among them,
    # and at its CV cutoffs before the first window; `auto` itself is never fitted.
    assert set(result.fit_seconds) == {"seasonal_naive", "auto/theta", "auto/tsb", "auto/global"}
    assert list(result.metrics.index) == ["seasonal_naive", "auto"]
    registry = {**REGISTRY, "auto": auto}
    got, expected = _aligned(result.forecasts, _fresh_fits(panel, list(models), registry))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_warm_start_changes_only_the_global_model_after_the_first_window(
    panel: SeriesData,
) -> None:
    cold = backtest(panel, REGISTRY, SPEC, show_progress=False, n_jobs=2)
    warm = backtest(panel, REGISTRY, SPEC, show_progress=False, n_jobs=2, warm_start=True)
    first = cold.cutoffs[0]
    for name in REGISTRY:
        a = cold.forecasts[cold.forecasts["model"] == name]
        b = warm.forecasts[warm.forecasts["model"] == name]
        later = (a[CUTOFF] > first).to_numpy()
        same = np.isclose(a[COLUMNS].to_numpy(), b[COLUMNS].to_numpy(), rtol=1e-6, atol=1e-9)
        # The first window is a fresh fit either way; the statistical models never change.
        assert same[~later].all(), name
        if name in ("global", "ensemble"):
            assert not same[later].all(), name
        else:
            assert same.all(), name
    # The ensemble combines the forecasts the backtest reports for its members.
    table = warm.forecasts.set_index(["model", CUTOFF, ID, DS])[COLUMNS]
    members = np.stack([table.loc[m].to_numpy() for m in Ensemble(registry=REGISTRY).members])
    np.testing.assert_allclose(table.loc["ensemble"].to_numpy(), np.median(members, axis=0))


def test_progress_shows_every_model_and_window(panel: SeriesData) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    models = {name: REGISTRY[name] for name in ("seasonal_naive", "tsb")}
    ensemble = functools.partial(Ensemble, registry=REGISTRY, members=("seasonal_naive", "tsb"))
    backtest(panel, {**models, "ensemble": ensemble}, SPEC, console=console)
    text = out.getvalue()
    # Two fits per window; the ensemble only combines them, and has its row too.
    assert "backtest: 3 windows" in text and "6/6" in text
    for name in [*models, "ensemble"]:
        line = next(line for line in text.splitlines() if line.startswith(name))
        assert "3/3" in line


def _refit(model: GlobalQuantileForecaster, data: SeriesData) -> pd.DataFrame:
    future = _window(data, data.frame[DS].max() - pd.Timedelta(days=7), 7)
    assert future is not None
    train, ahead = future
    frame = model.fit(train).predict(7, ahead.drop(columns="step")).to_frame()
    return frame.set_index([ID, DS])[COLUMNS]


def test_a_warm_refit_starts_from_the_series_and_labels_it_knew(panel: SeriesData) -> None:
    # Without covariates, dropping a series leaves every other series' features as they were.
    data = SeriesData(panel.frame.drop(columns="promo"), "D", (), ("group",))
    model = FAST_GLOBAL(warm_start=True, warm_epochs=0)
    before = _refit(model, data)
    assert model.history_["warm_started"] is False
    # No epoch to train: the refit's network is the one it starts from, so the same data gives
    # the same forecasts, also once a series has gone and every id and label code has moved.
    again = _refit(model, data)
    assert model.history_["warm_started"] is True and model.history_["epochs"] == 0
    pd.testing.assert_frame_equal(again, before)
    fewer = data.frame[data.frame[ID] != "s0"]
    # "0" sorts first: the codes of "a" and "b" move up by one.
    fewer = fewer.assign(group=np.where(fewer[ID] == "s2", "0", fewer["group"]))
    moved = _refit(model, SeriesData(fewer.reset_index(drop=True), "D", (), ("group",)))
    kept = ["s1", "s3", "s4", "s5"]
    pd.testing.assert_frame_equal(moved.loc[kept], before.loc[kept])
    assert not np.allclose(moved.loc["s2"], before.loc["s2"])  # its group is new to the model


def test_a_warm_refit_trains_at_most_warm_epochs(panel: SeriesData) -> None:
    model = FAST_GLOBAL(warm_start=True, warm_epochs=1, max_epochs=3, patience=5)
    _refit(model, panel)
    assert model.history_["epochs"] == 3
    _refit(model, panel)
    assert model.history_["warm_started"] is True and model.history_["epochs"] == 1
    cold = FAST_GLOBAL(max_epochs=3, patience=5)
    _refit(cold, panel)
    _refit(cold, panel)
    assert cold.history_["warm_started"] is False and cold.history_["epochs"] == 3


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    # Backtests never open the store, so running them on PostgreSQL too would only repeat them.
    return f"sqlite:///{tmp_path / 'aisle.db'}"


def test_cli_jobs_do_not_change_the_forecasts(
    aisle: Aisle, panel: SeriesData, tmp_path: Path
) -> None:
    data = tmp_path / "panel.csv"
    panel.frame.to_csv(data, index=False)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        result = aisle(
            "forecast", "backtest", "--data", str(data), "--freq", "D", "--horizon", "7",
            "--step", "7", "--windows", "3", "--models", "seasonal_naive,theta,tsb",
            "--jobs", jobs, "--output-dir", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "CPU time of each model's fits" in result.stdout
        summary = json.loads((out / "metrics.json").read_text())["backtest"]
        assert summary["jobs"] == int(jobs) and summary["warm_start"] is True
        assert set(summary["fit_seconds"]) == {"seasonal_naive", "theta", "tsb"}
        outputs.append((out / "forecasts.csv").read_text())
    assert outputs[0] == outputs[1]
