"""The quantiles of a forecast's horizon total: quantiles of the total itself, against known
distributions of sums, and a calibration that reaches the coverage it is asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_core.forecasting.horizon import (
    TotalsBacktest,
    calibrate_level_cv,
    horizon_total,
    level_cv_of,
    total_quantile,
)

Z90 = stats.norm.ppf(0.9)


def test_the_total_of_independent_poisson_days_is_the_poisson_of_their_sum() -> None:
    # 28 days of Poisson(1.3): the total is Poisson(36.4), whose P10 and P90 are known exactly;
    # the daily P10-P90 spread of a Poisson(1.3) is below its mean, so the days read as Poisson.
    mean = np.full((1, 28), 1.3)
    p10 = np.full((1, 28), stats.poisson.ppf(0.1, 1.3))
    p90 = np.full((1, 28), stats.poisson.ppf(0.9, 1.3))
    total = horizon_total(mean, p10, p90)
    assert total.mean[0] == pytest.approx(36.4)
    assert total.p10[0] == stats.poisson.ppf(0.1, 36.4)
    assert total.p50[0] == stats.poisson.ppf(0.5, 36.4)
    assert total.p90[0] == stats.poisson.ppf(0.9, 36.4)
    # Not the sum of the daily quantiles, which is far wider (0 to 84 here).
    assert (p10.sum(), p90.sum()) == (0.0, 84.0)
    assert 0 < total.p10[0] < total.p90[0] < 50


def test_the_total_of_negative_binomial_days_matches_its_simulated_sum() -> None:
    # Each day a gamma-Poisson with mean 2 and variance 6, the days independent: the sum of 28 is
    # the negative binomial with mean 56 and variance 168; a million simulated sums agree.
    rng = np.random.default_rng(7)
    n, p = 1.0, 1 / 3  # NB(1, 1/3): mean 2, variance 6
    sums = rng.negative_binomial(n, p, size=(200_000, 28)).sum(axis=1)
    sd = np.sqrt(6.0)
    mean = np.full((1, 28), 2.0)
    total = horizon_total(mean, mean - Z90 * sd, mean + Z90 * sd)
    assert total.sd[0] == pytest.approx(np.sqrt(168.0))
    assert total.p10[0] == pytest.approx(np.quantile(sums, 0.1), abs=1)
    assert total.p90[0] == pytest.approx(np.quantile(sums, 0.9), abs=1)


def test_a_shared_level_error_widens_the_total_as_its_variance_says() -> None:
    mean = np.full((1, 28), 5.0)
    alone = horizon_total(mean, level_cv=0.0)
    shared = horizon_total(mean, level_cv=0.3)
    # Poisson days (variance = mean = 140) plus (0.3 × 140)² from the level all days share.
    assert shared.sd[0] == pytest.approx(np.sqrt(140 + 42.0**2))
    assert shared.p10[0] < alone.p10[0] and shared.p90[0] > alone.p90[0]


def test_no_demand_is_a_total_of_nothing_and_continuous_models_agree_with_scipy() -> None:
    assert horizon_total(np.zeros((1, 7))).p90[0] == 0.0
    gamma = total_quantile(10.0, 5.0, 0.9, "gamma")
    assert gamma == pytest.approx(stats.gamma.ppf(0.9, a=4.0, scale=2.5))
    assert total_quantile(10.0, 5.0, 0.9, "normal") == pytest.approx(10 + Z90 * 5)


def _backtest(rng: np.random.Generator, n: int, cv: float) -> TotalsBacktest:
    """n series forecast at 1..5 units/day whose real level is off by a factor of sd `cv`."""
    rate = rng.uniform(1, 5, size=n)
    level = rate * np.maximum(rng.normal(1.0, cv, size=n), 0.0)
    actual = rng.poisson(level[:, None], size=(n, 28)).sum(axis=1)
    mean = np.repeat(rate[:, None], 28, axis=1)
    return TotalsBacktest(mean=mean, p10=mean, p90=mean, actual=actual.astype(float))


def test_the_calibrated_level_covers_80_percent_of_totals_out_of_sample() -> None:
    rng = np.random.default_rng(11)
    before, after = _backtest(rng, 4000, 0.3), _backtest(rng, 4000, 0.3)
    level_cv = before.calibrate()
    assert 0.2 <= level_cv <= 0.4
    assert after.coverage_at(0.0) < 0.6  # the days as independent miss the level's error
    assert after.coverage_at(level_cv) == pytest.approx(0.8, abs=0.03)


def test_calibration_never_narrows_below_independent_days() -> None:
    rng = np.random.default_rng(3)
    exact = _backtest(rng, 2000, 0.0)
    assert calibrate_level_cv(exact.mean, exact.p10, exact.p90, exact.actual) <= 0.02


def test_totals_come_from_complete_backtest_windows_only() -> None:
    days = pd.date_range("2026-01-01", periods=3)
    rows = pd.DataFrame(
        {
            "unique_id": ["a"] * 3 + ["b"] * 2,
            "ds": [*days, *days[:2]],
            "cutoff": pd.Timestamp("2025-12-31"),
            "y_hat": [1.0, 2.0, 3.0, 1.0, 1.0],
            "p10": 0.0,
            "p90": 5.0,
            "y": [1.0, 1.0, 4.0, 0.0, 0.0],
        }
    )
    totals = TotalsBacktest.from_forecasts(rows, horizon=3)
    assert totals.actual.tolist() == [6.0]
    assert totals.mean.tolist() == [[1.0, 2.0, 3.0]]


def test_a_run_without_calibration_takes_the_days_as_independent() -> None:
    assert level_cv_of({}) == 0.0
    assert level_cv_of(None) == 0.0
    assert level_cv_of({"horizon_total": {"level_cv": 0.35}}) == 0.35
