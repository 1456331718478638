"""Each product's expected weekly units over a horizon at its reference price, no promotion: the
baseline a markdown plan is optimised against.

A smooth demand model is fitted on the chain's daily rows before the horizon, with each item's
price effect as a known offset (its estimated elasticity):

    E[q] = exp(theta_i * log p + a_i + b_i * t + group season(day of year) + group x weekday
               + delta * promotion)

by Poisson pseudo-likelihood (as `DMLElasticity`, but without period effects, which cannot be
carried into the future). What the smooth curve misses and every product shares (holidays, the
December run-up, closed days) is each past day's ratio of all products' units to the model's;
a horizon day takes the ratio of the same weekday 52 weeks earlier, so last year's calendar
carries over, measured on the whole chain rather than on a few items of a category.

On the generated world this replaced a seasonal-naive baseline (an item's last eight clean weeks
times its category's ratio of the same weeks a year earlier); `benchmarks/bench_pricing_markdown.py`
compares the two in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ml_core.pricing.elasticity import (
    GROUP,
    ITEM,
    LOG_PRICE,
    PERIOD,
    QTY,
    indicator,
    poisson_irls,
)

YEAR = pd.Timedelta(weeks=52)
# The season of the baseline: harmonics of the day of the year per group.
HARMONICS = 4
# Turns of the smooth model and the chain calendar (the second settles it).
CALENDAR_ROUNDS = 2
# A day on which the chain sold nothing keeps a small factor (its log is an offset).
CALENDAR_FLOOR = 1e-3
# Each item's first days in the panel are left out: a new product's demand builds for months
# (the pricing panel already skips its first six weeks on sale), and a level and trend fitted
# through the build-up forecast too high (generated world, medium: +3% on a year of history,
# +0.2% with these days left out).
SETTLE_DAYS = 42
# An item needs this many days of history before the horizon for a level and a trend.
MIN_DAYS = 56


@dataclass(frozen=True, slots=True)
class _Shape:
    """The smooth model's columns: a level per item and a trend per `trended` item, weekday
    effects and `harmonics` yearly harmonics per group, days counted from `origin`."""

    n_groups: int
    harmonics: int
    origin: pd.Timestamp
    trended: np.ndarray  # (n_items,) bool

    @property
    def n_items(self) -> int:
        return len(self.trended)

    @property
    def item_columns(self) -> int:
        return 2 * self.n_items


def _smooth_design(
    period: pd.Series, item: np.ndarray, group: np.ndarray, shape: _Shape
) -> sparse.csr_matrix:
    """The `_Shape` columns for rows on `period` days of `item` in `group`; the items' come
    first."""
    period = pd.to_datetime(period)
    angle = 2 * np.pi * period.dt.day_of_year.to_numpy() / 365.25
    t = ((period - shape.origin).dt.days / 365.25).to_numpy()
    # An item without a trend keeps its (empty) column, which the ridge holds at zero.
    trend = np.where(shape.trended[item], t, 0.0)
    blocks = [indicator(item, size=shape.n_items), indicator(item, trend, size=shape.n_items)]
    blocks.append(indicator(group * 7 + period.dt.day_of_week.to_numpy(), size=shape.n_groups * 7))
    for k in range(1, shape.harmonics + 1):
        blocks.append(indicator(group, np.cos(k * angle), size=shape.n_groups))
        blocks.append(indicator(group, np.sin(k * angle), size=shape.n_groups))
    return sparse.hstack(blocks, format="csr")


def weekly_baseline(
    daily: pd.DataFrame,
    elasticity: pd.Series,
    *,
    start: pd.Timestamp,
    weeks: int,
    promo_col: str,
) -> pd.DataFrame:
    """(items x weeks) expected units per horizon week, at the reference price (log price 0) and
    with no promotion, for the items of `daily` with `MIN_DAYS` days before `start` after their
    first `SETTLE_DAYS`.

    A history shorter than a year cannot tell a season from a trend (a line through half a
    season, carried ahead, goes far astray): an item that young gets no trend, only its level
    under its category's season. A panel that has not seen the horizon's weeks a year earlier
    has no season either: there the forecast is the level of the last `MIN_DAYS` days, by
    weekday.

    `daily`: the daily pricing panel (ITEM, GROUP, PERIOD, QTY, LOG_PRICE, `promo_col`), only
    its rows before `start` are read; `elasticity`: each item's own-price elasticity.
    """
    history = daily[(daily[PERIOD] < start) & daily[ITEM].isin(elasticity.index)]
    first_day = history.groupby(ITEM)[PERIOD].transform("min")
    history = history[history[PERIOD] >= first_day + pd.Timedelta(days=SETTLE_DAYS)]
    counts = history.groupby(ITEM)[PERIOD].transform("size")
    history = history[counts >= MIN_DAYS].reset_index(drop=True)
    if history.empty:
        return pd.DataFrame(columns=range(weeks), dtype=float)
    first, last = pd.Timestamp(history[PERIOD].min()), pd.Timestamp(history[PERIOD].max())
    horizon = pd.date_range(start, periods=7 * weeks, freq="D")
    # The season is read off the history only where it saw the horizon's weeks a year earlier.
    seasonal = first <= horizon[-1] - YEAR
    if not seasonal:
        recent = history[PERIOD] > last - pd.Timedelta(days=MIN_DAYS)
        history = history[recent].reset_index(drop=True)
    item, items = pd.factorize(history[ITEM], sort=True)
    group, groups = pd.factorize(history[GROUP], sort=True)
    span = history.groupby(item)[PERIOD].agg(lambda days: days.max() - days.min())
    trended = (span >= YEAR).to_numpy() & seasonal
    shape = _Shape(len(groups), HARMONICS if seasonal else 0, first, trended)
    promo = history[promo_col].to_numpy(dtype=float)
    design = sparse.hstack(
        [_smooth_design(history[PERIOD], item, group, shape), promo[:, None]], format="csr"
    )
    theta = elasticity.reindex(items).to_numpy(dtype=float)
    offset = theta[item] * history[LOG_PRICE].to_numpy(dtype=float)
    y = history[QTY].to_numpy(dtype=float)
    days = history[PERIOD].to_numpy()
    # The chain's calendar: each past day's units over the smooth model's, all items together.
    # Fitted in turns with the smooth model, so holidays do not bend the seasons.
    calendar = pd.Series(1.0, index=pd.Index(np.unique(days)))
    for _ in range(CALENDAR_ROUNDS):
        shift = np.log(calendar.reindex(days).to_numpy())
        coef, _, _ = poisson_irls(
            y, design, start=float(y.mean()), n_ridge=shape.item_columns, offset=offset + shift
        )
        smooth = np.exp(np.clip(design @ coef + offset, -30, 30))
        totals = pd.DataFrame({"y": y, "mu": smooth}).groupby(days).sum()
        calendar = (totals["y"] / totals["mu"]).clip(lower=CALENDAR_FLOOR)
    ratio = calendar.reindex(horizon - YEAR).fillna(1.0).to_numpy()

    item_group = np.zeros(len(items), dtype=np.int64)
    item_group[item] = group
    rows = np.repeat(np.arange(len(items)), len(horizon))
    future = _smooth_design(pd.Series(np.tile(horizon, len(items))), rows, item_group[rows], shape)
    units = np.exp(np.clip(future @ coef[:-1], -30, 30)) * np.tile(ratio, len(items))
    return pd.DataFrame(
        units.reshape(len(items), weeks, 7).sum(axis=2), index=pd.Index(items, name=ITEM)
    )
