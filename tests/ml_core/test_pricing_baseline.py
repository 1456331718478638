"""The markdown baseline on synthetic daily sales whose seasons, trends, holidays and prices are
known: it must forecast the horizon's units at the reference price."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.pricing.baseline import MIN_DAYS, weekly_baseline
from ml_core.pricing.elasticity import GROUP, ITEM, LOG_PRICE, PERIOD, QTY

PROMO = "promo"


def _expected(
    days: pd.DatetimeIndex, *, base: float, trend: float, amplitude: float, peak: int
) -> np.ndarray:
    """Units per day at the reference price: a season, a trend, a weekend lift and a December
    run-up to Christmas that every product shares."""
    t = (days - days[0]).days.to_numpy() / 365.25
    season = 1 + amplitude * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - peak) / 365.25)
    weekend = np.where(days.day_of_week >= 5, 1.3, 1.0)
    december = np.where((days.month == 12) & (days.day <= 24), 1.0 + days.day / 30.0, 1.0)
    return base * np.exp(trend * t) * season * weekend * december


def synthetic_sales(
    days: pd.DatetimeIndex, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series, dict[str, dict[str, float]]]:
    """Daily rows of 18 items in 3 groups, with promotions (20% off plus a display lift) and a
    list-price change; the items' elasticities and demand parameters."""
    rng = np.random.default_rng(seed)
    frames, elasticities, params = [], {}, {}
    for g, (amplitude, peak) in enumerate([(0.6, 200), (0.4, 20), (0.2, 120)]):
        for j in range(6):
            item = f"G{g}I{j}"
            spec = {
                "base": float(rng.uniform(8, 30)),
                "trend": float(rng.normal(0, 0.1)),
                "amplitude": amplitude,
                "peak": peak,
            }
            theta = float(rng.uniform(-2.5, -1.2))
            promo = np.zeros(len(days))
            for start in rng.choice(len(days) - 10, size=6, replace=False):
                promo[start : start + 7] = 1.0
            list_change = np.where(np.arange(len(days)) > rng.integers(100, len(days)), 0.08, 0.0)
            log_price = list_change + np.log(1 - 0.2 * promo)
            mu = _expected(days, **spec) * np.exp(theta * log_price) * 1.15**promo
            frames.append(
                pd.DataFrame(
                    {
                        ITEM: item,
                        GROUP: f"G{g}",
                        PERIOD: days,
                        QTY: rng.poisson(mu).astype(float),
                        LOG_PRICE: log_price,
                        PROMO: promo,
                    }
                )
            )
            elasticities[item], params[item] = theta, spec
    return pd.concat(frames, ignore_index=True), pd.Series(elasticities), params


def test_the_baseline_forecasts_season_trend_and_last_years_calendar() -> None:
    days = pd.date_range("2022-11-01", "2025-11-16", freq="D")
    sales, elasticity, params = synthetic_sales(days)
    start, weeks = pd.Timestamp("2025-11-17"), 8
    horizon = pd.date_range(start, periods=7 * weeks, freq="D")
    every = pd.date_range(days[0], horizon[-1], freq="D")
    baseline = weekly_baseline(sales, elasticity, start=start, weeks=weeks, promo_col=PROMO)
    assert sorted(baseline.index) == sorted(elasticity.index) and baseline.shape[1] == weeks
    errors = []
    for item, spec in params.items():
        truth = _expected(every, **spec)[-len(horizon) :].reshape(weeks, 7).sum(axis=1)
        got = baseline.loc[item].to_numpy()
        errors.append(np.abs(got / truth - 1))
        # The December run-up (weeks 3-5 of the horizon) is there, as it was last year.
        assert got[4] > 1.15 * got[1]
    errors_array = np.array(errors)
    assert errors_array.mean() < 0.06
    assert np.median(errors_array.sum(axis=1) / weeks) < 0.06


def test_a_history_shorter_than_a_year_gets_no_season() -> None:
    """Yearly harmonics fitted on a few months would extrapolate wildly: the forecast of a short
    history stays near its recent level."""
    days = pd.date_range("2025-04-01", "2025-11-16", freq="D")
    sales, elasticity, params = synthetic_sales(days, seed=1)
    baseline = weekly_baseline(
        sales, elasticity, start=pd.Timestamp("2025-11-17"), weeks=4, promo_col=PROMO
    )
    for item, spec in params.items():
        recent = _expected(days, **spec)[-28:].sum() / 4
        assert baseline.loc[item].mean() == pytest.approx(recent, rel=0.35)


def test_items_with_too_little_history_get_no_baseline() -> None:
    days = pd.date_range("2024-01-01", "2025-11-16", freq="D")
    sales, elasticity, _ = synthetic_sales(days, seed=2)
    # One item launched a few weeks before the horizon.
    late = sales[ITEM] == "G0I0"
    sales = sales[~late | (sales[PERIOD] > days[-1] - pd.Timedelta(days=MIN_DAYS - 7))]
    baseline = weekly_baseline(
        sales, elasticity, start=pd.Timestamp("2025-11-17"), weeks=4, promo_col=PROMO
    )
    assert "G0I0" not in baseline.index and len(baseline) == len(elasticity) - 1
    assert (baseline.to_numpy() > 0).all()
