"""The quantiles of a forecast's horizon total: how many units over the next H days, not per day.

A quantile of a sum is not the sum of the quantiles: adding up 28 daily P10s gives a total that
demand almost never falls below (it would need every day at its own P10 at once), and 28 daily
P90s one it almost never reaches. The total is modelled here from the daily predictive
distributions instead. Its mean is the sum of the daily means. Its variance is the sum of the
daily variances (each read from the day's P10-P90 spread, at least Poisson) plus the variance of
the level the days share: a forecast whose level is off is off on every day at once, an error
that does not average out over the horizon. That shared part is `(level_cv × mean)²`, and
`level_cv` is calibrated on a backtest of horizon totals (`calibrate_level_cv`) so that the
P10-P90 of the total covers 80% of the totals that happened. The total is a negative binomial
(a gamma-Poisson mixture) with those moments: whole units, non-negative and right-skewed, as the
demand of a slow mover is; its quantiles are whole units, as a total of unit sales is.

`total_quantile` is the one place a quantile of a total is taken: the planner's 28-day range and
the inventory policy's order-up-to level (demand over the protection period) both come from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from ml_core.forecasting.base import DS, ID, Y
from ml_core.forecasting.metrics import CUTOFF

FloatArray = NDArray[np.float64]
TotalModel = Literal["negative_binomial", "gamma", "normal"]
# P90 − P10 spans 2 × 1.28 standard deviations of a normal.
Z90 = 1.2815515655446004
# The shared-level sizes tried by the calibration, as a share of the total's mean.
LEVEL_CV_GRID = np.round(np.arange(0.0, 2.0001, 0.01), 2)
TARGET_COVERAGE = 0.8
# Where a forecast run keeps its calibration (`forecast_runs.metrics`).
METRICS_KEY = "horizon_total"


def daily_variance(
    mean: ArrayLike, p10: ArrayLike | None = None, p90: ArrayLike | None = None
) -> FloatArray:
    """Variance of each day's demand implied by a forecast.

    From the P10–P90 spread when the forecast has quantiles; never below the mean, because unit
    sales are counts and at least Poisson-dispersed (a P10 and P90 of zero for a slow mover say
    little about its spread).
    """
    m = np.asarray(mean, dtype=float)
    if p10 is None or p90 is None:
        return m.copy()
    spread = (np.asarray(p90, dtype=float) - np.asarray(p10, dtype=float)) / (2 * Z90)
    return np.maximum(spread**2, m)


def gamma_params(
    mu: FloatArray, sd: FloatArray
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Shape and scale of the gamma with this mean and sd, and where that gamma exists."""
    ok = (mu > 0) & (sd > 0)
    safe_mu, safe_sd = np.where(ok, mu, 1.0), np.where(ok, sd, 1.0)
    return (safe_mu / safe_sd) ** 2, safe_sd**2 / safe_mu, ok


def total_quantile(
    mu: ArrayLike, sd: ArrayLike, level: ArrayLike, model: TotalModel = "negative_binomial"
) -> FloatArray:
    """The `level` quantile of a total with mean `mu` and standard deviation `sd`.

    "negative_binomial" counts whole units (a variance below the mean is read as Poisson's);
    "gamma" and "normal" are continuous, for totals over fractional days (the inventory policy's
    protection period).
    """
    m, s, a = (np.asarray(x, dtype=float) for x in (mu, sd, level))
    if model == "normal":
        return np.asarray(m + special.ndtri(a) * s, dtype=float)
    if model == "negative_binomial":
        has_demand = m > 0
        safe_m = np.where(has_demand, m, 1.0)
        var = np.maximum(s**2, safe_m)
        over = var > safe_m * (1 + 1e-9)
        # NB(n, p) has mean n(1-p)/p and variance n(1-p)/p²: p = mean/var, n = mean²/(var-mean).
        p = np.where(over, safe_m / var, 0.5)
        n = np.where(over, safe_m**2 / np.where(over, var - safe_m, 1.0), 1.0)
        counts = np.where(over, stats.nbinom.ppf(a, n, p), stats.poisson.ppf(a, safe_m))
        return np.where(has_demand, counts, 0.0).astype(float)
    shape, scale, ok = gamma_params(m, s)
    # Without spread the total is its mean; without demand, nothing.
    return np.where(ok, scale * special.gammaincinv(shape, a), np.maximum(m, 0.0))


@dataclass(frozen=True, slots=True)
class HorizonTotal:
    """Units over the horizon for n series (arrays of shape (n,))."""

    days: int
    mean: FloatArray
    sd: FloatArray
    p10: FloatArray
    p50: FloatArray
    p90: FloatArray


def total_moments(
    mean: ArrayLike, p10: ArrayLike | None, p90: ArrayLike | None, level_cv: float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of the horizon total of (n, H) daily forecasts (the shared level included)."""
    m = np.atleast_2d(np.asarray(mean, dtype=float))
    v = daily_variance(m, p10, p90)
    mu = m.sum(axis=1)
    return mu, np.sqrt(v.sum(axis=1) + (level_cv * mu) ** 2)


def horizon_total(
    mean: ArrayLike,
    p10: ArrayLike | None = None,
    p90: ArrayLike | None = None,
    *,
    level_cv: float = 0.0,
) -> HorizonTotal:
    """P10/P50/P90 of the total of (n, H) daily forecasts (one row per series, one column per
    day); `level_cv` is the calibrated size of the shared level's error (0: days independent)."""
    mu, sd = total_moments(mean, p10, p90, level_cv)
    q = total_quantile(mu[:, None], sd[:, None], np.array([[0.1, 0.5, 0.9]]))
    return HorizonTotal(np.atleast_2d(mean).shape[1], mu, sd, q[:, 0], q[:, 1], q[:, 2])


def _calibration(run_metrics: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (run_metrics or {}).get(METRICS_KEY) or {}


def level_cv_of(run_metrics: Mapping[str, Any] | None) -> float:
    """The shared-level error a forecast run was calibrated with; 0 for a run never calibrated
    (its totals then take the days as independent)."""
    return float(_calibration(run_metrics).get("level_cv", 0.0))


def backtest_coverage_of(run_metrics: Mapping[str, Any] | None) -> float | None:
    """The P10-P90 coverage of horizon totals the run's calibration reached on its backtest."""
    value = _calibration(run_metrics).get("coverage_80")
    return None if value is None else float(value)


def coverage(actual: ArrayLike, low: ArrayLike, high: ArrayLike) -> float:
    """Share of actual totals within [low, high]."""
    y = np.asarray(actual, dtype=float)
    return float(np.mean((y >= np.asarray(low)) & (y <= np.asarray(high)))) if y.size else np.nan


def calibrate_level_cv(
    mean: ArrayLike,
    p10: ArrayLike | None,
    p90: ArrayLike | None,
    actual_total: ArrayLike,
    target: float = TARGET_COVERAGE,
) -> float:
    """The smallest shared-level error whose P10-P90 covers `target` of the actual totals.

    `mean`, `p10`, `p90` are (n, H) daily forecasts made at a backtest cutoff, `actual_total`
    the n totals sold over those H days. Zero when the days taken as independent already cover
    the target (the level adds spread, it never takes any away); the grid's largest value when
    none does.
    """
    mu, sd0 = total_moments(mean, p10, p90)
    y = np.asarray(actual_total, dtype=float)
    grid = LEVEL_CV_GRID[:, None]
    sd = np.sqrt(sd0[None, :] ** 2 + (grid * mu[None, :]) ** 2)
    low = total_quantile(mu[None, :], sd, 0.1)
    high = total_quantile(mu[None, :], sd, 0.9)
    covered = ((y >= low) & (y <= high)).mean(axis=1)
    enough = np.flatnonzero(covered >= target)
    return float(LEVEL_CV_GRID[enough[0]] if enough.size else LEVEL_CV_GRID[-1])


@dataclass(frozen=True, slots=True)
class TotalsBacktest:
    """Daily forecasts made at backtest cutoffs, one row per (series, cutoff) whose H days all
    have an actual, as (n, H) arrays, and the n totals that were sold."""

    mean: FloatArray
    p10: FloatArray
    p90: FloatArray
    actual: FloatArray

    @classmethod
    def from_forecasts(cls, forecasts: pd.DataFrame, horizon: int) -> TotalsBacktest:
        """From a backtest's forecast rows (unique_id, ds, cutoff, y_hat, p10, p90, y)."""
        rows = forecasts.sort_values([ID, CUTOFF, DS])
        days = rows.groupby([ID, CUTOFF], sort=False)[DS].transform("size")
        rows = rows[days == horizon]
        shape = (-1, horizon)
        return cls(
            mean=rows["y_hat"].to_numpy(dtype=float).reshape(shape),
            p10=rows["p10"].to_numpy(dtype=float).reshape(shape),
            p90=rows["p90"].to_numpy(dtype=float).reshape(shape),
            actual=rows[Y].to_numpy(dtype=float).reshape(shape).sum(axis=1),
        )

    def coverage_of_summed_quantiles(self) -> float:
        """P10-P90 coverage of the total read as the sum of the daily P10s and P90s."""
        return coverage(self.actual, self.p10.sum(axis=1), self.p90.sum(axis=1))

    def coverage_at(self, level_cv: float) -> float:
        """P10-P90 coverage of `horizon_total` with this shared-level error."""
        total = horizon_total(self.mean, self.p10, self.p90, level_cv=level_cv)
        return coverage(self.actual, total.p10, total.p90)

    def calibrate(self) -> float:
        return calibrate_level_cv(self.mean, self.p10, self.p90, self.actual)
