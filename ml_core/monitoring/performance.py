"""Forecast error as actuals arrive, against the band the forecaster's backtest calibrated.

The latest stored forecast run that has started is read; over its days that already have sales,
each series' units sold are compared with the P10-P90 of its forecast total over those days
(`ml_core.forecasting.horizon`, with the shared-level error its backtest calibrated). A
calibrated forecaster keeps its backtest's coverage (about 80%) in every segment; a segment
whose share of series inside the band falls significantly below it (a one-sided binomial test,
Bonferroni over the segments) has a forecast that no longer fits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from scipy import stats
from sqlalchemy import Engine, select

from ml_core.forecasting.horizon import (
    TARGET_COVERAGE,
    backtest_coverage_of,
    horizon_total,
    level_cv_of,
)
from retail.store.models import Category, DailySales, ForecastRun, ForecastValue, Product, Variant

MIN_DAYS = 7  # days of actuals before a run is judged
MIN_SERIES = 10  # series a segment needs for its coverage to mean anything
ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class ForecastFinding:
    """A segment whose forecasts no longer cover its sales as the backtest said they would."""

    level: str  # category | category_location
    segment: dict[str, str]
    as_of: dt.date
    since: dt.date  # the run's first day
    run_id: str
    model_version: str
    inside: int
    series: int
    expected_coverage: float
    effect: float  # units sold over the forecast mean, minus one
    p_value: float

    @property
    def message(self) -> str:
        key = self.segment
        where = f" at {key['location']}" if "location" in key else " across the chain"
        direction = "above" if self.effect > 0 else "below"
        return (
            f"{key['category']} forecasts{where} miss: {self.inside} of {self.series} series sold "
            f"within their P10-P90 since {self.since.isoformat()} (backtest: "
            f"{self.expected_coverage:.0%}); sales are {abs(self.effect):.0%} {direction} the "
            f"forecast."
        )


def forecast_findings(engine: Engine, as_of: dt.date) -> list[ForecastFinding]:
    """The segments whose latest started forecast run misses its band by `as_of`."""
    with engine.connect() as conn:
        run = conn.execute(
            select(ForecastRun)
            .where(ForecastRun.first_day <= as_of)
            .order_by(ForecastRun.created_at.desc())
            .limit(1)
        ).first()
        if run is None:
            return []
        last = min(as_of, run.first_day + dt.timedelta(days=run.horizon - 1))
        if (last - run.first_day).days + 1 < MIN_DAYS:
            return []
        forecasts = pd.read_sql(
            select(
                ForecastValue.variant_id,
                ForecastValue.location_id,
                ForecastValue.day,
                ForecastValue.mean,
                ForecastValue.p10,
                ForecastValue.p90,
            ).where(ForecastValue.run_id == run.id, ForecastValue.day <= last),
            conn,
        )
        sales = pd.read_sql(
            select(DailySales.variant_id, DailySales.location_id, DailySales.units).where(
                DailySales.day >= run.first_day, DailySales.day <= last
            ),
            conn,
        )
        categories = pd.read_sql(
            select(Variant.id.label("variant_id"), Category.name.label("category"))
            .join(Product, Product.id == Variant.product_id)
            .join(Category, Category.id == Product.category_id),
            conn,
        )
    keys = ["variant_id", "location_id"]
    forecasts = forecasts.sort_values([*keys, "day"])
    days = forecasts.groupby(keys).size()
    complete = days[days == days.max()].index
    forecasts = forecasts.set_index(keys).loc[complete].reset_index()
    n_days = int(days.max())
    shape = (-1, n_days)
    total = horizon_total(
        forecasts["mean"].to_numpy().reshape(shape),
        forecasts["p10"].to_numpy().reshape(shape),
        forecasts["p90"].to_numpy().reshape(shape),
        level_cv=level_cv_of(run.metrics),
    )
    series = forecasts.drop_duplicates(keys)[keys].reset_index(drop=True)
    sold = sales.groupby(keys)["units"].sum()
    series["actual"] = sold.reindex(pd.MultiIndex.from_frame(series[keys])).fillna(0.0).to_numpy()
    series["mean"] = total.mean
    series["inside"] = (series["actual"] >= total.p10) & (series["actual"] <= total.p90)
    series = series.merge(categories, on="variant_id", how="left")
    coverage = backtest_coverage_of(run.metrics) or TARGET_COVERAGE
    groups = {
        "category": series.groupby("category"),
        "category_location": series.groupby(["category", "location_id"]),
    }
    n_tests = sum(g.ngroups for g in groups.values())
    findings = []
    for level, grouped in groups.items():
        for key, rows in grouped:
            if len(rows) < MIN_SERIES:
                continue
            inside = int(rows["inside"].sum())
            p = float(stats.binomtest(inside, len(rows), coverage, alternative="less").pvalue)
            if p >= ALPHA / n_tests:
                continue
            names = key if isinstance(key, tuple) else (key,)
            segment = dict(zip(("category", "location"), map(str, names), strict=False))
            findings.append(
                ForecastFinding(
                    level=level,
                    segment=segment,
                    as_of=as_of,
                    since=run.first_day,
                    run_id=run.id,
                    model_version=run.model_version,
                    inside=inside,
                    series=len(rows),
                    expected_coverage=coverage,
                    effect=float(rows["actual"].sum() / max(rows["mean"].sum(), 1e-9) - 1),
                    p_value=p,
                )
            )
    return findings
