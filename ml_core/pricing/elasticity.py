"""Own- and cross-price elasticities from observational sales, with their uncertainty.

The demand model is log-log on a weekly panel (one row per item, optional unit such as a store,
and week):

    log1p(q) = theta_i * log p + gamma_g * log(category price index) + a_s + b_s * t
               + week effects + category seasonality + controls + e

- `a_s + b_s * t`: a fixed effect and a linear trend per series (item x unit), removed exactly by
  projecting every variable on (1, t) within the series (the "within" transformation).
- Week effects (one per week, when the panel has enough series to separate them from prices),
  category seasonality (week-of-year Fourier terms per category) and the caller's controls
  (promotion share, features) are the nuisance `W`.
- Confounding: the world's prices move with seasonal markdowns and promotions, which move demand
  too. `DMLElasticity` partials `W` out of the outcome, the own price and the cross-price index
  with cross-fitted ridge regressions (double machine learning, Chernozhukov et al. 2018), then
  regresses outcome residuals on price residuals per item (own) and per category (cross), with
  heteroskedasticity-robust standard errors. Linear nuisance models are the right shape here:
  the controls act multiplicatively on demand, so additively in logs.
- Zeros: the outcome is log1p(units) on *weekly* totals. log(q) is undefined at zero, and a
  Poisson (PPML) final stage would not combine with partialling-out; weekly aggregation makes
  zeros rare, and at 20+ units a week log1p attenuates an elasticity by under 5%.
- Partial pooling: per-item slopes are noisy for sparse items, so each is shrunk toward its
  category mean by empirical Bayes (DerSimonian-Laird between-item variance, weights from the
  standard errors); an item without price variation gets the category prior ("category-prior").

`NaiveOLSElasticity` is the textbook baseline: log-log with item fixed effects and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import sparse

from retail.errors import AisleError

ITEM, GROUP, UNIT, PERIOD, QTY, LOG_PRICE = "item", "group", "unit", "period", "qty", "log_price"
# Week effects need several series sharing each week, or they absorb the prices themselves.
MIN_SERIES_FOR_WEEK_EFFECTS = 8
# Below this within-series spread of log price (about 0.5%), a slope is not identified.
MIN_PRICE_SPREAD = 0.005
FOURIER_ORDER = 2
BACKFIT_ROUNDS = 25

DML = "dml-pooled"
OLS = "ols-fe"
CATEGORY_PRIOR = "category-prior"
GLOBAL_PRIOR = "global-prior"


class TooLittleDataError(AisleError):
    """The panel cannot identify any price effect."""


def weekly_panel(frame: pd.DataFrame, *, time_col: str, controls: Sequence[str]) -> pd.DataFrame:
    """Daily or weekly rows (ITEM, GROUP, optional UNIT, time, QTY, LOG_PRICE, controls) as weeks.

    Weeks run Monday to Sunday; quantities add up, log prices and controls are averaged over the
    week's days. A week with fewer than seven daily rows (the ends of a series) is dropped, so
    every weekly total covers the same span. Weekly input passes through unchanged.
    """
    keys = [c for c in (ITEM, GROUP, UNIT) if c in frame.columns]
    ds = pd.to_datetime(frame[time_col])
    steps = ds.groupby(frame[ITEM]).diff().dropna().dt.days
    if len(steps) and (steps % 7 == 0).all():
        out = frame.rename(columns={time_col: PERIOD})
        return out[[*keys, PERIOD, QTY, LOG_PRICE, *controls]].reset_index(drop=True)
    week = (ds - pd.to_timedelta(ds.dt.day_of_week, unit="D")).dt.normalize()
    grouped = frame.assign(**{PERIOD: week}).groupby([*keys, PERIOD], sort=True, observed=True)
    named: dict[str, tuple[str, str]] = {
        QTY: (QTY, "sum"),
        LOG_PRICE: (LOG_PRICE, "mean"),
        "days": (QTY, "size"),
        **{c: (c, "mean") for c in controls},
    }
    weekly = grouped.agg(**named).reset_index()
    weekly = weekly[weekly["days"] == 7].drop(columns="days")
    return weekly.reset_index(drop=True)


@dataclass(slots=True)
class _Design:
    """The panel as arrays, every column already projected within series on (1, t)."""

    item: np.ndarray  # (n,) item index
    group: np.ndarray  # (n,) group index
    items: np.ndarray  # item labels
    groups: np.ndarray  # group labels
    item_group: np.ndarray  # (n_items,) group index of each item
    y: np.ndarray  # log1p(q)
    d: np.ndarray  # log price
    c: np.ndarray  # log category price index (others' prices), 0 where none
    has_cross: np.ndarray  # (n,) bool: the row has at least one other item in its group
    w: np.ndarray  # (n, k) nuisance controls
    periods_per_item: np.ndarray
    spread: np.ndarray  # (n_items,) sd of the projected own log price
    info: dict[str, Any] = field(default_factory=dict)


def _check_panel(panel: pd.DataFrame, controls: Sequence[str]) -> None:
    missing = [c for c in (ITEM, PERIOD, QTY, LOG_PRICE, *controls) if c not in panel.columns]
    if missing:
        raise AisleError(f"The pricing panel has no column {missing[0]!r}.")
    if panel.empty:
        raise TooLittleDataError("There are no weekly sales to estimate elasticities from.")


def _series_projector(series: np.ndarray, t: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The series indicator matrix and t centred within series."""
    n = len(series)
    n_series = int(series.max()) + 1
    s = sparse.csr_matrix((np.ones(n), (np.arange(n), series)), shape=(n, n_series))
    counts = np.asarray(s.sum(axis=0)).ravel()
    t_mean = (s.T @ t) / counts
    return s, t - t_mean[series]


def _within(m: np.ndarray, s: sparse.csr_matrix, series: np.ndarray, tc: np.ndarray) -> np.ndarray:
    """Columns of `m` minus their series mean and series trend (exact FE + trend removal)."""
    two_d = m.reshape(len(m), -1)
    counts = np.asarray(s.sum(axis=0)).ravel()
    centred = two_d - ((s.T @ two_d) / counts[:, None])[series]
    tt = s.T @ (tc**2)
    slope = (s.T @ (centred * tc[:, None])) / np.where(tt > 0, tt, 1.0)[:, None]
    out = centred - slope[series] * tc[:, None]
    return out.reshape(m.shape)


def _cross_index(panel: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """log of the mean relative price of the *other* items of the group in the same week/unit."""
    relative = np.exp(panel[LOG_PRICE] - panel.groupby(ITEM)[LOG_PRICE].transform("mean"))
    by = [GROUP, *[k for k in keys if k == UNIT], PERIOD]
    total = relative.groupby([panel[k] for k in by]).transform("sum")
    count = relative.groupby([panel[k] for k in by]).transform("size")
    others = count.to_numpy() - 1
    has = others > 0
    mean_others = np.where(has, (total - relative).to_numpy() / np.maximum(others, 1), 1.0)
    return np.log(mean_others), has


def _design(panel: pd.DataFrame, controls: Sequence[str]) -> _Design:
    _check_panel(panel, controls)
    panel = panel.copy()
    if GROUP not in panel.columns:
        panel[GROUP] = "all"
    panel[GROUP] = panel[GROUP].astype(str)
    panel[ITEM] = panel[ITEM].astype(str)
    keys = [ITEM, UNIT] if UNIT in panel.columns else [ITEM]
    panel = panel.sort_values([*keys, PERIOD], kind="stable").reset_index(drop=True)
    item_codes, items = pd.factorize(panel[ITEM], sort=True)
    group_codes, groups = pd.factorize(panel[GROUP], sort=True)
    series = panel.groupby(keys, sort=False).ngroup().to_numpy()
    period = pd.to_datetime(panel[PERIOD])
    t = ((period - period.min()).dt.days / 365.25).to_numpy()
    s, tc = _series_projector(series, t)

    c, has_cross = _cross_index(panel, keys)
    doy = (period.dt.day_of_year.to_numpy() + 3) / 365.25
    fourier = np.column_stack(
        [f(2 * np.pi * k * doy) for k in range(1, FOURIER_ORDER + 1) for f in (np.sin, np.cos)]
    )
    n_groups = len(groups)
    seasonal = np.zeros((len(panel), n_groups * fourier.shape[1]))
    for j in range(fourier.shape[1]):
        seasonal[np.arange(len(panel)), group_codes * fourier.shape[1] + j] = fourier[:, j]
    blocks = [seasonal]
    n_series = int(series.max()) + 1
    week_effects = n_series >= MIN_SERIES_FOR_WEEK_EFFECTS
    if week_effects:
        week_codes, weeks = pd.factorize(period, sort=True)
        dummies = np.zeros((len(panel), len(weeks)))
        dummies[np.arange(len(panel)), week_codes] = 1.0
        blocks.append(dummies)
    if controls:
        blocks.append(panel[list(controls)].to_numpy(dtype=float))
    w = _within(np.column_stack(blocks), s, series, tc)
    y = np.log1p(np.maximum(panel[QTY].to_numpy(dtype=float), 0.0))
    d = panel[LOG_PRICE].to_numpy(dtype=float)
    projected = _within(np.column_stack([y, d, c]), s, series, tc)
    item_group = np.zeros(len(items), dtype=np.int64)
    item_group[item_codes] = group_codes
    spread = np.sqrt(
        np.bincount(item_codes, projected[:, 1] ** 2, len(items))
        / np.maximum(np.bincount(item_codes, minlength=len(items)), 1)
    )
    return _Design(
        item=item_codes,
        group=group_codes,
        items=np.asarray(items),
        groups=np.asarray(groups),
        item_group=item_group,
        y=projected[:, 0],
        d=projected[:, 1],
        c=projected[:, 2],
        has_cross=has_cross,
        w=w,
        periods_per_item=np.bincount(item_codes, minlength=len(items)),
        spread=spread,
        info={
            "rows": len(panel),
            "series": n_series,
            "weeks": int(period.nunique()),
            "week_effects": week_effects,
            "seasonality": f"week-of-year Fourier terms (order {FOURIER_ORDER}) per group",
            "controls": list(controls),
        },
    )


def _cross_fit_residuals(
    w: np.ndarray, targets: np.ndarray, folds: int, ridge: float, seed: int
) -> np.ndarray:
    """targets minus their out-of-fold ridge predictions from w (one solve per fold)."""
    n = len(w)
    scale = w.std(axis=0)
    keep = scale > 1e-12
    x = w[:, keep] / scale[keep]
    fold = np.random.default_rng(seed).permutation(n) % folds
    residuals = np.empty_like(targets)
    for k in range(folds):
        train, test = fold != k, fold == k
        xt = x[train]
        gram = xt.T @ xt
        gram[np.diag_indices_from(gram)] += ridge * len(xt)
        coef = np.linalg.solve(gram, xt.T @ targets[train])
        residuals[test] = targets[test] - x[test] @ coef
    return residuals


def _slopes(
    x: np.ndarray, y: np.ndarray, index: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-index OLS slope through the origin of y on x, and its HC1 standard error."""
    sxx = np.bincount(index, x * x, size)
    sxy = np.bincount(index, x * y, size)
    slope = sxy / np.where(sxx > 0, sxx, np.nan)
    resid = y - slope[index] * x
    n = np.bincount(index, minlength=size)
    meat = np.bincount(index, (x * resid) ** 2, size)
    se = np.sqrt(meat * n / np.maximum(n - 1, 1)) / np.where(sxx > 0, sxx, np.nan)
    return slope, se


@dataclass(frozen=True, slots=True)
class Pool:
    """A random-effects summary of item slopes: mean, its variance, between-item variance."""

    mean: float
    mean_var: float
    tau2: float
    n: int


def random_effects_pool(estimates: np.ndarray, se: np.ndarray) -> Pool | None:
    """DerSimonian-Laird pooling of estimates with standard errors; None without estimates."""
    ok = np.isfinite(estimates) & np.isfinite(se) & (se > 0)
    b, v = estimates[ok], se[ok] ** 2
    if len(b) == 0:
        return None
    w = 1.0 / v
    fixed = float(np.sum(w * b) / np.sum(w))
    q = float(np.sum(w * (b - fixed) ** 2))
    denom = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (len(b) - 1)) / denom) if len(b) > 1 and denom > 0 else 0.0
    w_star = 1.0 / (v + tau2)
    mean = float(np.sum(w_star * b) / np.sum(w_star))
    return Pool(mean=mean, mean_var=float(1.0 / np.sum(w_star)), tau2=tau2, n=len(b))


def shrink(estimate: float, se: float, pool: Pool) -> tuple[float, float, float]:
    """Empirical-Bayes posterior (mean, sd) of one slope toward the pool, and its own weight."""
    v = se**2
    weight = pool.tau2 / (pool.tau2 + v) if pool.tau2 + v > 0 else 0.0
    mean = weight * estimate + (1 - weight) * pool.mean
    var = weight * v + (1 - weight) ** 2 * pool.mean_var
    return mean, float(np.sqrt(var)), weight


class DMLElasticity:
    """Per-item own-price elasticities (pooled toward the category) and per-category cross-price
    elasticities by double machine learning on a weekly panel (see the module docstring)."""

    def __init__(
        self,
        *,
        folds: int = 5,
        ridge: float = 1e-3,
        min_periods: int = 8,
        level: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.folds = folds
        self.ridge = ridge
        self.min_periods = min_periods
        self.level = level
        self.seed = seed

    def fit(self, panel: pd.DataFrame, *, controls: Sequence[str] = ()) -> Self:
        design = _design(panel, controls)
        n_items, n_groups = len(design.items), len(design.groups)
        identified = (design.periods_per_item >= self.min_periods) & (
            design.spread >= MIN_PRICE_SPREAD
        )
        if not identified.any():
            raise TooLittleDataError(
                f"There is too little data to estimate elasticities: no item has "
                f"{self.min_periods} or more weeks with varying prices."
            )
        res = _cross_fit_residuals(
            design.w,
            np.column_stack([design.y, design.d, design.c]),
            self.folds,
            self.ridge,
            self.seed,
        )
        y_r, d_r, c_r = res[:, 0], res[:, 1], res[:, 2]
        rows = identified[design.item]
        cross_rows = rows & design.has_cross
        items_per_group = np.bincount(design.item_group[identified], minlength=n_groups)
        cross_groups = items_per_group >= 3
        cross_rows &= cross_groups[design.group]
        theta = np.zeros(n_items)
        gamma = np.zeros(n_groups)
        # Own and cross slopes share the outcome: alternate the two least-squares blocks
        # (Gauss-Seidel), which converges to their joint solution.
        for _ in range(BACKFIT_ROUNDS):
            own_y = y_r - np.where(cross_rows, gamma[design.group] * c_r, 0.0)
            theta, theta_se = _slopes(d_r[rows], own_y[rows], design.item[rows], n_items)
            theta = np.nan_to_num(theta)
            cross_y = y_r - theta[design.item] * d_r
            if cross_rows.any():
                gamma, gamma_se = _slopes(
                    c_r[cross_rows], cross_y[cross_rows], design.group[cross_rows], n_groups
                )
                gamma = np.where(cross_groups, np.nan_to_num(gamma), 0.0)
            else:
                gamma_se = np.full(n_groups, np.nan)
        theta_se = np.where(identified, theta_se, np.nan)
        raw = np.where(identified, theta, np.nan)
        self.info_ = design.info | {"folds": self.folds, "outcome": "log1p(weekly units)"}
        self.items_, self.groups_, self.overall_ = _pooled_tables(
            design, raw, theta_se, identified, self.level, DML
        )
        self.groups_["cross_price_elasticity"] = np.where(cross_groups, gamma, np.nan)
        self.groups_["cross_price_se"] = np.where(cross_groups, gamma_se, np.nan)
        return self


class NaiveOLSElasticity:
    """Log-log OLS with an intercept per series only: no seasonality, promotions or pooling."""

    def __init__(self, *, min_periods: int = 8, level: float = 0.95) -> None:
        self.min_periods = min_periods
        self.level = level

    def fit(self, panel: pd.DataFrame) -> Self:
        _check_panel(panel, ())
        frame = panel.copy()
        keys = [ITEM, UNIT] if UNIT in frame.columns else [ITEM]
        item_codes, items = pd.factorize(frame[ITEM].astype(str), sort=True)
        by = frame.groupby(keys, sort=False)
        y = np.log1p(np.maximum(frame[QTY].to_numpy(dtype=float), 0.0))
        y = y - pd.Series(y, index=frame.index).groupby([frame[k] for k in keys]).transform("mean")
        d = (frame[LOG_PRICE] - by[LOG_PRICE].transform("mean")).to_numpy(dtype=float)
        slope, se = _slopes(d, y.to_numpy(), item_codes, len(items))
        counts = np.bincount(item_codes, minlength=len(items))
        ok = (counts >= self.min_periods) & np.isfinite(slope) & (se > 0)
        z = NormalDist().inv_cdf(0.5 + self.level / 2)
        self.items_ = pd.DataFrame(
            {
                ITEM: np.asarray(items),
                "method": OLS,
                "elasticity": np.where(ok, slope, np.nan),
                "se": np.where(ok, se, np.nan),
                "lower": np.where(ok, slope - z * se, np.nan),
                "upper": np.where(ok, slope + z * se, np.nan),
                "n_periods": counts,
            }
        )
        return self


def _pooled_tables(
    design: _Design,
    raw: np.ndarray,
    raw_se: np.ndarray,
    identified: np.ndarray,
    level: float,
    method: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    z = NormalDist().inv_cdf(0.5 + level / 2)
    overall = random_effects_pool(raw, raw_se)
    if overall is None:  # guarded by the caller; keeps the types honest
        raise TooLittleDataError("There is too little data to estimate elasticities.")
    pools: dict[int, Pool] = {}
    for g in range(len(design.groups)):
        members = design.item_group == g
        pool = random_effects_pool(raw[members], raw_se[members])
        # One item cannot estimate a spread between items: it borrows the overall one.
        pools[g] = overall if pool is None or pool.n < 2 else pool
    rows = []
    for i, label in enumerate(design.items):
        g = int(design.item_group[i])
        pool = pools[g]
        if identified[i]:
            est, sd, weight = shrink(float(raw[i]), float(raw_se[i]), pool)
            item_method = method
        else:
            est, sd, weight = pool.mean, float(np.sqrt(pool.tau2 + pool.mean_var)), 0.0
            item_method = CATEGORY_PRIOR if pool is not overall else GLOBAL_PRIOR
        rows.append(
            {
                ITEM: label,
                GROUP: design.groups[g],
                "method": item_method,
                "elasticity": est,
                "se": sd,
                "lower": est - z * sd,
                "upper": est + z * sd,
                "raw_elasticity": raw[i],
                "raw_se": raw_se[i],
                "shrinkage_weight": weight,
                "n_periods": int(design.periods_per_item[i]),
                "price_spread": float(design.spread[i]),
            }
        )
    groups = []
    for g, label in enumerate(design.groups):
        pool = pools[g]
        sd = float(np.sqrt(pool.mean_var))
        groups.append(
            {
                GROUP: label,
                "method": f"{method} mean" if pool is not overall else GLOBAL_PRIOR,
                "elasticity": pool.mean,
                "se": sd,
                "lower": pool.mean - z * sd,
                "upper": pool.mean + z * sd,
                "between_item_sd": float(np.sqrt(pool.tau2)),
                "n_items": int((design.item_group == g).sum()),
                "n_estimated": int((identified & (design.item_group == g)).sum()),
            }
        )
    sd = float(np.sqrt(overall.mean_var))
    summary = {
        "elasticity": overall.mean,
        "se": sd,
        "lower": overall.mean - z * sd,
        "upper": overall.mean + z * sd,
        "between_item_sd": float(np.sqrt(overall.tau2)),
        "n_estimated": overall.n,
    }
    return pd.DataFrame(rows), pd.DataFrame(groups), summary
