"""Own- and cross-price elasticities from observational sales, with their uncertainty.

The demand model is a log-linear mean on the panel as it comes (daily rows preferred: promotions
last days, and a weekly average blurs their start and end), one row per item, optional unit such
as a store, and period:

    E[q] = exp(theta_i * log p + kappa' controls + gamma * log(category price index)
               + a_s + b_s * t + period effects + group season + group x weekday effects)

- Poisson pseudo-maximum likelihood (PPML, Santos Silva & Tenreyro 2006): consistent for any
  non-negative outcome whose *mean* is log-linear, zeros included and whatever the dispersion,
  so no log1p on small daily counts (which would attenuate the slopes).
- `a_s + b_s * t`: a fixed effect and a linear trend per series (item x unit).
- Period effects (holidays, channel-wide lifts), each group's season and group x weekday
  effects are high-dimensional fixed effects. They are the confounders the data shows: seasonal
  markdowns coincide with the season. On daily rows the group season is by default a smooth
  yearly curve (`YEARLY_HARMONICS` harmonics of the day of the year per group); `season="weeks"`
  gives each group its own effect per week instead, robust to any category-wide shock of a week
  but absorbing the markdowns and promotions a group's items share in that week, so less price
  variation is left (generated world: pooled MAE 0.238 against 0.204 with the yearly curve,
  median per-item standard error 0.268 against 0.239). Groups with too few series for their own
  season share one. The caller's controls (promotion flag: display lifts demand beyond the price
  cut) enter with common slopes, so promotions identify the price slope through their depth.
- Each IRLS step is one weighted least squares of the working outcome on the fixed effects and
  the regressors (per-item own prices, common control slopes, one cross slope) together, solved
  exactly by a sparse LU factorisation of its normal equations. Fitting them jointly matters:
  period and group x week effects span items, so an item's price column partialled off them is
  *not* its share of the partialled common price column (an earlier version did that: on
  noise-free panels its slopes were off by 0.1 to 0.2). All price variation left after the
  effects (list-price changes, markdowns, promotion depth) identifies the slopes.
- Standard errors: sandwich (quasi-likelihood, so over-dispersion is allowed) clustered by series
  and week, since errors within a week share unmodelled shocks (stock, weather, displays), but
  never below the quasi-Poisson ones: a slope that rests on a few price changes has few
  clusters, and there the clustered variance is biased down.
- Partial pooling: each group's mean slope and a between-item variance within groups (method of
  moments, pooled over groups: a handful of items per group cannot estimate their own spread)
  give each item an empirical-Bayes posterior; group means are themselves shrunk toward the
  overall mean; an item without price variation gets its group's mean ("category-prior").
- Item features in the prior (optional: a brand's tier, say, since premium shoppers are less
  price sensitive): the prior mean of an item is its group's mean plus slopes on its features,
  a random-effects meta-regression fitted on the within-group variation of the features
  (weights 1 / (se^2 + between-item variance), alternated with that variance until both
  settle). A feature that never varies within a group (a tier each category holds alone) is
  not identified there and moves no prior. The features narrow the between-item spread the
  prior has to allow for; on the generated world a brand's tier took the small world's MAE
  from 0.202 to 0.189.

`NaiveOLSElasticity` is the textbook baseline: log-log with item fixed effects and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Literal, Protocol, Self, cast

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve, pinvh
from scipy.sparse.linalg import splu

from retail.errors import AisleError

ITEM, GROUP, UNIT, PERIOD, QTY, LOG_PRICE = "item", "group", "unit", "period", "qty", "log_price"
# Period effects need several series sharing each period, or they absorb the prices themselves.
MIN_SERIES_FOR_PERIOD_EFFECTS = 8
# A group's own season is fitted from its items: that needs a few of them.
MIN_SERIES_FOR_GROUP_SEASON = 3
# Below this within-series spread of log price (about 0.5%), a slope is not identified.
MIN_PRICE_SPREAD = 0.005
IRLS_ROUNDS = 50
IRLS_TOLERANCE = 1e-8
# A group's yearly season on daily rows: this many harmonics of the day of the year.
YEARLY_HARMONICS = 3
# Up to this many parameters the normal equations are factorised dense (`factorise`).
DENSE_LIMIT = 4_000
# Relative ridge on the fixed effects' normal equations (see `_ppml`).
FIXED_EFFECT_RIDGE = 1e-6
# The item-feature prior alternates its slopes with the between-item variance at most this often.
PRIOR_ROUNDS = 20
# A direction of the item features whose within-group variation is below this share of its
# whole variation is not identified (a tier that each category holds alone): `_feature_prior`
# gives it no slope and no variance instead of inverting rounding noise.
PRIOR_IDENTIFIED_SHARE = 1e-8

# How a group's season enters on daily rows: one effect per group and week, or a smooth yearly
# curve per group (module docstring).
Season = Literal["weeks", "yearly"]

DML = "ppml-fe-pooled"
OLS = "ols-fe"
CATEGORY_PRIOR = "category-prior"
GLOBAL_PRIOR = "global-prior"
# What each method means, in the words a pricing manager reads (`describe_method`).
METHOD_WORDS = {
    DML: "estimated from the product's own price changes, shrunk toward its category's average",
    CATEGORY_PRIOR: "its category's average (the product's own prices varied too little)",
    GLOBAL_PRIOR: "the average over all products (too little price variation to go on)",
}


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


def _check_panel(panel: pd.DataFrame, controls: Sequence[str]) -> None:
    missing = [c for c in (ITEM, PERIOD, QTY, LOG_PRICE, *controls) if c not in panel.columns]
    if missing:
        raise AisleError(f"The pricing panel has no column {missing[0]!r}.")
    if panel.empty:
        raise TooLittleDataError("There are no sales to estimate elasticities from.")


def indicator(
    codes: np.ndarray, values: np.ndarray | None = None, *, size: int | None = None
) -> sparse.csr_matrix:
    """(rows x codes) sparse matrix: each row's `values` (or 1) in its code's column."""
    n = len(codes)
    data = np.ones(n) if values is None else values
    columns = int(codes.max()) + 1 if size is None else size
    return sparse.csr_matrix((data, (np.arange(n), codes)), shape=(n, columns))


def _within_series(x: np.ndarray, series: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x minus its least-squares fit on (1, t) within each series."""
    s = indicator(series)
    sw, swt, swtt = s.T @ np.ones(len(t)), s.T @ t, s.T @ (t * t)
    swx, swtx = s.T @ x, s.T @ (t * x)
    det = sw * swtt - swt**2
    ok = det > 1e-12 * np.maximum(sw * swtt, 1e-300)
    slope = np.where(ok, (sw * swtx - swt * swx) / np.where(ok, det, 1.0), 0.0)
    level = (swx - slope * swt) / np.where(sw > 0, sw, 1.0)
    return x - level[series] - slope[series] * t


@dataclass(slots=True)
class _Design:
    """The panel as arrays; the fixed effects as the sparse indicator matrix `fixed`."""

    item: np.ndarray  # (n,) item index
    group: np.ndarray  # (n,) group index
    items: np.ndarray  # item labels
    groups: np.ndarray  # group labels
    item_group: np.ndarray  # (n_items,) group index of each item
    y: np.ndarray  # units
    d: np.ndarray  # log price
    c: np.ndarray  # log category price index (others' prices), 0 where none
    has_cross: np.ndarray  # (n,) bool: the row has at least one other item in its group
    x: np.ndarray  # (n, k) controls
    series: np.ndarray  # (n,) series (item x unit) index
    cluster: np.ndarray  # (n,) series x week, for the standard errors
    fixed: sparse.csr_matrix  # (n, p) series levels and trends, then the categorical effects
    periods_per_item: np.ndarray
    spread: np.ndarray  # (n_items,) sd of the own log price after the series mean and trend
    info: dict[str, Any]


def _cross_index(panel: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """log of the mean relative price of the *other* items of the group in the same period/unit."""
    relative = np.exp(panel[LOG_PRICE] - panel.groupby(ITEM)[LOG_PRICE].transform("mean"))
    by = [GROUP, *[k for k in keys if k == UNIT], PERIOD]
    total = relative.groupby([panel[k] for k in by]).transform("sum")
    count = relative.groupby([panel[k] for k in by]).transform("size")
    others = count.to_numpy() - 1
    has = others > 0
    mean_others = np.where(has, (total - relative).to_numpy() / np.maximum(others, 1), 1.0)
    return np.log(mean_others), has


def _design(panel: pd.DataFrame, controls: Sequence[str], season: Season) -> _Design:
    _check_panel(panel, controls)
    panel = panel.copy()
    if GROUP not in panel.columns:
        panel[GROUP] = "all"
    panel[GROUP] = panel[GROUP].astype(str)
    panel[ITEM] = panel[ITEM].astype(str)
    keys = [ITEM, UNIT] if UNIT in panel.columns else [ITEM]
    panel = panel.sort_values([*keys, PERIOD], kind="stable").reset_index(drop=True)
    # A series that never sells has no finite fixed effect under a log link; it says nothing.
    panel = panel[panel.groupby(keys)[QTY].transform("sum") > 0].reset_index(drop=True)
    if panel.empty:
        raise TooLittleDataError("There are no sales to estimate elasticities from.")
    item_codes, items = pd.factorize(panel[ITEM], sort=True)
    group_codes, groups = pd.factorize(panel[GROUP], sort=True)
    series = panel.groupby(keys, sort=False).ngroup().to_numpy()
    period = pd.to_datetime(panel[PERIOD])
    t = ((period - period.min()).dt.days / 365.25).to_numpy()
    week = (period - pd.to_timedelta(period.dt.day_of_week, unit="D")).dt.normalize()
    week_codes = pd.factorize(week, sort=True)[0]
    n_series = int(series.max()) + 1

    effects: list[np.ndarray] = []
    period_effects = n_series >= MIN_SERIES_FOR_PERIOD_EFFECTS
    if period_effects:
        effects.append(pd.factorize(period, sort=True)[0])
    weekday = period.dt.day_of_week.to_numpy()
    daily = len(np.unique(weekday)) > 1
    series_per_group = np.bincount(group_codes[np.unique(series, return_index=True)[1]])
    # On weekly rows a group x week cell holds one row per item: its effect would leave only
    # the items' deviations from each other, so group weeks need daily rows (a yearly curve
    # does not).
    weeks = season == "weeks"
    own_season = (daily or not weeks) & (
        series_per_group[group_codes] >= MIN_SERIES_FOR_GROUP_SEASON
    )
    # Groups too small for their own season share one (beside the period effects).
    season_group = pd.factorize(np.where(own_season, group_codes, -1))[0]
    harmonics: list[sparse.csr_matrix] = []
    if daily and weeks:
        effects.append(pd.factorize(pd.Series(season_group * 100_000 + week_codes))[0])
    elif not weeks:
        angle = 2 * np.pi * period.dt.day_of_year.to_numpy() / 365.25
        for k in range(1, YEARLY_HARMONICS + 1):
            harmonics.append(indicator(season_group, np.cos(k * angle)))
            harmonics.append(indicator(season_group, np.sin(k * angle)))
    if daily:
        effects.append(group_codes * 7 + weekday)

    c, has_cross = _cross_index(panel, keys)
    d = panel[LOG_PRICE].to_numpy(dtype=float)
    # Trends centred within each series: the level and trend columns are then near orthogonal.
    t_centred = t - pd.Series(t).groupby(series).transform("mean").to_numpy()
    fixed = sparse.hstack(
        [indicator(series), indicator(series, t_centred)]
        + [indicator(pd.factorize(e)[0]) for e in effects]
        + harmonics,
        format="csr",
    )
    within = _within_series(d, series, t)
    item_group = np.zeros(len(items), dtype=np.int64)
    item_group[item_codes] = group_codes
    counts = np.bincount(item_codes, minlength=len(items))
    spread = np.sqrt(np.bincount(item_codes, within**2, len(items)) / np.maximum(counts, 1))
    cluster = pd.factorize(pd.Series(series * 100_000 + week_codes))[0]
    return _Design(
        item=item_codes,
        group=group_codes,
        items=np.asarray(items),
        groups=np.asarray(groups),
        item_group=item_group,
        y=np.maximum(panel[QTY].to_numpy(dtype=float), 0.0),
        d=d,
        c=c,
        has_cross=has_cross,
        x=panel[list(controls)].to_numpy(dtype=float).reshape(len(panel), len(controls)),
        cluster=cluster,
        series=series,
        fixed=fixed,
        periods_per_item=counts,
        spread=spread,
        info={
            "rows": len(panel),
            "series": n_series,
            "periods": int(period.nunique()),
            "frequency": "daily" if daily else "weekly",
            "period_effects": period_effects,
            "group_season": season if daily or not weeks else None,
            "groups_with_own_season": sorted(map(str, np.unique(groups[group_codes[own_season]]))),
            "group_weekday_effects": daily,
            "controls": list(controls),
        },
    )


@dataclass(slots=True)
class _Fit:
    coef: np.ndarray
    se: np.ndarray
    iterations: int
    dispersion: float


def _ppml(y: np.ndarray, regressors: sparse.csr_matrix, d: _Design) -> _Fit:
    """Poisson pseudo-likelihood by IRLS; each step one weighted least squares of the working
    outcome on the fixed effects and the regressors together, solved exactly by a sparse LU
    factorisation of its normal equations.

    The fixed effects overlap (series levels, period and group x week effects each sum to a
    constant), so their normal equations are singular: a ridge of a millionth of a diagonal
    entry on those columns picks one of the equivalent solutions and leaves the fitted values,
    and so the slopes, unchanged. Only `coef` and `cov` of the regressors are returned.
    """
    design = sparse.hstack([d.fixed, regressors], format="csr")
    n_fixed, k = d.fixed.shape[1], regressors.shape[1]
    series_mean = pd.Series(y).groupby(d.series).transform("mean").to_numpy()
    coef, mu, rounds = poisson_irls(y, design, start=series_mean, n_ridge=n_fixed)
    # Sandwich for the regressors' block: bread = the inverse normal matrix's columns of the
    # regressors, meat = the scores summed within each cluster (series x week).
    lu = factorise(design, mu, n_fixed)
    unit = np.zeros((n_fixed + k, k))
    unit[n_fixed + np.arange(k), np.arange(k)] = 1.0
    bread = lu.solve(unit)
    scores = indicator(d.cluster).T @ design.multiply((y - mu)[:, None]).tocsr()
    per_cluster = np.asarray(scores @ bread)
    clusters = len(per_cluster)
    # Small-sample factor as in Stata's cluster option.
    factor = clusters / max(clusters - 1, 1)
    clustered = factor * np.einsum("ij,ij->j", per_cluster, per_cluster)
    # An item's slope rests on a few promotions and price changes, i.e. a few clusters, where
    # the clustered variance is too small (about 20% in sd on the generated world, in repeated
    # draws); the quasi-Poisson variance (dispersion x inverse information) is the floor.
    dispersion = float(np.sum((y - mu) ** 2 / mu) / max(len(y) - n_fixed - k, 1))
    model = dispersion * np.diag(bread[n_fixed:])
    se = np.sqrt(np.maximum(np.maximum(clustered, model), 0.0))
    return _Fit(coef=coef[n_fixed:], se=se, iterations=rounds, dispersion=dispersion)


def poisson_irls(
    y: np.ndarray,
    design: sparse.csr_matrix,
    *,
    start: np.ndarray | float,
    n_ridge: int,
    offset: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Poisson pseudo-likelihood of `y` on `design` (plus a known `offset` in the linear
    predictor) by IRLS: (coefficients, fitted means, rounds). Each round is one weighted least
    squares, `factorise`d with the ridge on the first `n_ridge` columns; the means start halfway
    between `y` and `start` (a rough mean per row, or one for all)."""
    mu = 0.5 * (y + np.maximum(start, 1e-3))
    eta = np.log(mu)
    previous = np.inf
    rounds = 0
    coef = np.zeros(design.shape[1])
    while rounds < IRLS_ROUNDS:
        rounds += 1
        z = eta - offset + (y - mu) / mu
        coef = factorise(design, mu, n_ridge).solve(design.T @ (mu * z))
        eta = np.clip(design @ coef + offset, -30, 30)
        mu = np.exp(eta)
        deviance = 2 * np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0) - (y - mu))
        if abs(deviance - previous) <= IRLS_TOLERANCE * max(abs(deviance), 1.0):
            break
        previous = deviance
    return coef, mu, rounds


class _Factor(Protocol):
    def solve(self, rhs: np.ndarray) -> np.ndarray: ...


@dataclass(slots=True)
class _Cholesky:
    factor: tuple[np.ndarray, bool]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return np.asarray(cho_solve(self.factor, rhs))


def factorise(design: sparse.csr_matrix, weights: np.ndarray, n_fixed: int) -> _Factor:
    """The weighted normal matrix with the fixed effects' ridge (see `_ppml`), factorised: dense
    Cholesky while it is small (a smooth season leaves about two thousand parameters on a daily
    chain panel, whose factor fills in anyway), sparse LU beyond."""
    gram = (design.T @ design.multiply(weights[:, None])).tocsc()
    diagonal = gram.diagonal()
    ridge = np.zeros(len(diagonal))
    ridge[:n_fixed] = FIXED_EFFECT_RIDGE * np.maximum(diagonal[:n_fixed], 1e-12)
    gram = gram + sparse.diags(ridge)
    if gram.shape[0] <= DENSE_LIMIT:
        return _Cholesky(cho_factor(gram.toarray()))
    # The fixed effects' indicators first and one regressor per item: a minimum-degree ordering
    # of the symmetric pattern keeps the factor sparse (COLAMD fills it in several times over).
    return cast(
        _Factor,
        splu(
            gram.tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        ),
    )


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


def random_effects_pool(
    estimates: np.ndarray, se: np.ndarray, tau2: float | None = None
) -> Pool | None:
    """Random-effects mean of estimates with standard errors (DerSimonian-Laird between-item
    variance unless `tau2` is given); None without estimates."""
    ok = np.isfinite(estimates) & np.isfinite(se) & (se > 0)
    b, v = estimates[ok], se[ok] ** 2
    if len(b) == 0:
        return None
    if tau2 is None:
        tau2 = _moments_tau2([b], [v])
    w_star = 1.0 / (v + tau2)
    mean = float(np.sum(w_star * b) / np.sum(w_star))
    return Pool(mean=mean, mean_var=float(1.0 / np.sum(w_star)), tau2=tau2, n=len(b))


def _moments_tau2(estimates: list[np.ndarray], variances: list[np.ndarray]) -> float:
    """Method-of-moments (DerSimonian-Laird) variance of true slopes around their *own* block's
    mean, pooled over blocks: Cochran's Q of each block about its fixed-effect mean, summed."""
    q = df = denom = 0.0
    for b, v in zip(estimates, variances, strict=True):
        if len(b) < 2:
            continue
        w = 1.0 / v
        fixed = np.sum(w * b) / np.sum(w)
        q += float(np.sum(w * (b - fixed) ** 2))
        df += len(b) - 1
        denom += float(np.sum(w) - np.sum(w**2) / np.sum(w))
    return max(0.0, (q - df) / denom) if denom > 0 else 0.0


def shrink(estimate: float, se: float, pool: Pool) -> tuple[float, float, float]:
    """Empirical-Bayes posterior (mean, sd) of one slope toward the pool, and its own weight."""
    v = se**2
    weight = pool.tau2 / (pool.tau2 + v) if pool.tau2 + v > 0 else 0.0
    mean = weight * estimate + (1 - weight) * pool.mean
    var = weight * v + (1 - weight) ** 2 * pool.mean_var
    return mean, float(np.sqrt(var)), weight


class DMLElasticity:
    """Per-item own-price elasticities (pooled toward the group) and per-group cross-price
    elasticities by Poisson pseudo-likelihood with high-dimensional fixed effects (module
    docstring).

    The name stays from the first version (double machine learning with linear nuisances: the
    fixed effects are fitted jointly with the slopes, which is the same partialling out);
    `method` in the output says what produced each estimate."""

    def __init__(
        self, *, min_periods: int = 8, level: float = 0.95, season: Season = "yearly"
    ) -> None:
        self.min_periods = min_periods
        self.level = level
        self.season = season

    def fit(
        self,
        panel: pd.DataFrame,
        *,
        controls: Sequence[str] = (),
        item_features: pd.DataFrame | None = None,
    ) -> Self:
        """`item_features`: one row per item (indexed by item), columns that shift the pooling
        prior's mean (text columns as levels, numbers as they are); items without a row sit at
        the features' mean."""
        design = _design(panel, controls, self.season)
        n_items, n_groups, k = len(design.items), len(design.groups), len(controls)
        identified = (design.periods_per_item >= self.min_periods) & (
            design.spread >= MIN_PRICE_SPREAD
        )
        if not identified.any():
            raise TooLittleDataError(
                f"There is too little data to estimate elasticities: no item has "
                f"{self.min_periods} or more periods with varying prices."
            )
        item_col = np.cumsum(identified) - 1
        # One cross slope shared by all groups: within a group, the others' price index moves
        # against the item's own price (with group x week effects their sum is absorbed
        # outright), so per-group cross slopes would trade off against the own slopes.
        cross_groups = np.bincount(design.item_group[identified], minlength=n_groups) >= 3
        n_own, n_cross = int(identified.sum()), int(cross_groups.any())
        n = len(design.y)
        own = np.flatnonzero(identified[design.item])
        cross = np.flatnonzero(design.has_cross & cross_groups[design.group])
        rows = [own, *([np.arange(n)] * k), cross]
        cols = [item_col[design.item[own]], *(np.full(n, n_own + j) for j in range(k))]
        cols.append(np.full(len(cross), n_own + k))
        values = [design.d[own], *(design.x[:, j] for j in range(k)), design.c[cross]]
        regressors = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, n_own + k + n_cross),
        )
        fit = _ppml(design.y, regressors, design)
        se = fit.se
        raw = np.full(n_items, np.nan)
        raw_se = np.full(n_items, np.nan)
        raw[identified] = fit.coef[:n_own]
        raw_se[identified] = se[:n_own]
        self.info_ = design.info | {
            "outcome": "units (Poisson pseudo-likelihood, log link)",
            "irls_iterations": fit.iterations,
            "standard_errors": "clustered by series and week, at least the quasi-Poisson ones",
            "dispersion": fit.dispersion,
            "control_slopes": {name: float(fit.coef[n_own + j]) for j, name in enumerate(controls)},
        }
        features = _feature_matrix(item_features, design.items)
        self.items_, self.groups_, self.overall_ = _pooled_tables(
            design, raw, raw_se, identified, self.level, DML, features
        )
        gamma, gamma_se = (fit.coef[-1], se[-1]) if n_cross else (np.nan, np.nan)
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
        # A price that barely moves gives a slope of noise over almost nothing (on the medium
        # world, one item's came out at -4e13).
        spread = np.sqrt(np.bincount(item_codes, d * d, len(items)) / np.maximum(counts, 1))
        ok = (
            (counts >= self.min_periods)
            & (spread >= MIN_PRICE_SPREAD)
            & np.isfinite(slope)
            & (se > 0)
        )
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


@dataclass(frozen=True, slots=True)
class _Features:
    """Item features as prior regressors: (n_items, p) centred columns and their names."""

    values: np.ndarray
    names: list[str]


def _feature_matrix(features: pd.DataFrame | None, items: np.ndarray) -> _Features | None:
    """Text columns as indicators of each level but the most common one, numbers as they are;
    every column centred over the items, so an item without features sits at the mean."""
    if features is None or features.empty:
        return None
    frame = features.copy()
    frame.index = frame.index.astype(str)
    frame = frame[~frame.index.duplicated()].reindex(pd.Index(items))
    columns: dict[str, np.ndarray] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=float)
            columns[str(name)] = np.where(np.isfinite(values), values, np.nanmean(values))
            continue
        levels = column.dropna().astype(str)
        for value in levels.value_counts().index[1:]:
            columns[f"{name}={value}"] = np.where(
                column.isna(), np.mean(levels == value), (column.astype(str) == value)
            ).astype(float)
    if not columns:
        return None
    values = np.column_stack(list(columns.values()))
    values = np.nan_to_num(values - np.nanmean(values, axis=0))
    return _Features(values=values, names=list(columns))


@dataclass(frozen=True, slots=True)
class _Prior:
    """The item-feature part of the prior: slopes, their covariance, the between-item variance
    left around group mean + features, and each item's shift."""

    slopes: np.ndarray
    cov: np.ndarray
    tau2: float
    shift: np.ndarray
    shift_var: np.ndarray


def _feature_prior(
    raw: np.ndarray,
    v: np.ndarray,
    members: list[np.ndarray],
    item_group: np.ndarray,
    features: _Features | None,
) -> _Prior:
    """Random-effects meta-regression of the raw slopes on the item features within groups
    (module docstring); without features, no shift and the plain between-item variance."""
    n_items = len(raw)
    tau2 = _moments_tau2([raw[m] for m in members], [v[m] for m in members])
    if features is None:
        return _Prior(np.zeros(0), np.zeros((0, 0)), tau2, np.zeros(n_items), np.zeros(n_items))
    used = np.concatenate(members)
    x, y, groups = features.values[used], raw[used], item_group[used]
    slopes = np.zeros(x.shape[1])
    cov = np.zeros((x.shape[1], x.shape[1]))
    for _ in range(PRIOR_ROUNDS):
        w = 1.0 / (v[used] + tau2)
        # Each group's weighted mean removed: the slopes rest on differences within groups,
        # whose own means are pooled afterwards.
        xc = x - _group_weighted_mean(x, w, groups)
        yc = y - _group_weighted_mean(y[:, None], w, groups)[:, 0]
        gram = xc.T @ (xc * w[:, None])
        # The cut-off is measured against the features' variation before the group means are
        # removed: when none is left within groups, gram is rounding noise of ~1e-32, and a
        # cut-off relative to gram's own largest eigenvalue would invert it (intervals of
        # +-1e15 on the pricing page).
        whole = float(np.trace(x.T @ (x * w[:, None])))
        cov = pinvh(gram, atol=PRIOR_IDENTIFIED_SHARE * whole, rtol=0.0)
        new = cov @ (xc.T @ (w * yc))
        adjusted = raw - features.values @ new
        tau2 = _moments_tau2([adjusted[m] for m in members], [v[m] for m in members])
        settled = np.allclose(new, slopes, atol=1e-6)
        slopes = new
        if settled:
            break
    shift = features.values @ slopes
    shift_var = np.einsum("ij,jk,ik->i", features.values, cov, features.values)
    return _Prior(slopes, cov, tau2, shift, shift_var)


def _group_weighted_mean(x: np.ndarray, w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    size = int(groups.max()) + 1
    total = np.stack([np.bincount(groups, w * x[:, j], size) for j in range(x.shape[1])], axis=1)
    weight = np.bincount(groups, w, size)
    # Only groups that have rows are read back; the others would divide by zero.
    return (total / np.where(weight > 0, weight, 1.0)[:, None])[groups]


def _pooled_tables(
    design: _Design,
    raw: np.ndarray,
    raw_se: np.ndarray,
    identified: np.ndarray,
    level: float,
    method: str,
    features: _Features | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    z = NormalDist().inv_cdf(0.5 + level / 2)
    ok = identified & np.isfinite(raw) & np.isfinite(raw_se) & (raw_se > 0)
    n_groups = len(design.groups)
    members = [np.flatnonzero(ok & (design.item_group == g)) for g in range(n_groups)]
    prior = _feature_prior(raw, raw_se**2, members, design.item_group, features)
    tau2 = prior.tau2
    # The group means and shrinkage work on the slopes net of the features' shift; each item's
    # posterior gets its own shift back.
    raw = raw - prior.shift
    # Each group's mean from its own items, then shrunk toward the overall mean by the spread
    # between groups: a group of three noisy items should not set its own prior alone.
    group_raw = [random_effects_pool(raw[m], raw_se[m], tau2) for m in members]
    estimated = [g for g, p in enumerate(group_raw) if p is not None]
    if not estimated:  # guarded by the caller; keeps the types honest
        raise TooLittleDataError("There is too little data to estimate elasticities.")
    means = np.array([group_raw[g].mean for g in estimated])  # type: ignore[union-attr]
    mean_se = np.sqrt([group_raw[g].mean_var for g in estimated])  # type: ignore[union-attr]
    overall = random_effects_pool(means, mean_se)
    assert overall is not None
    pools: dict[int, Pool] = {}
    for g in range(n_groups):
        pool = group_raw[g]
        if pool is None:
            pools[g] = Pool(overall.mean, overall.mean_var + overall.tau2, tau2, 0)
            continue
        mean, sd, _ = shrink(pool.mean, float(np.sqrt(pool.mean_var)), overall)
        pools[g] = Pool(mean, sd**2, tau2, pool.n)
    rows = []
    for i, label in enumerate(design.items):
        g = int(design.item_group[i])
        pool = replace(pools[g], mean_var=pools[g].mean_var + float(prior.shift_var[i]))
        if ok[i]:
            est, sd, weight = shrink(float(raw[i]), float(raw_se[i]), pool)
            item_method = method
        else:
            est, sd, weight = pool.mean, float(np.sqrt(pool.tau2 + pool.mean_var)), 0.0
            item_method = CATEGORY_PRIOR if pool.n else GLOBAL_PRIOR
        est += float(prior.shift[i])
        rows.append(
            {
                ITEM: label,
                GROUP: design.groups[g],
                "method": item_method,
                "elasticity": est,
                "se": sd,
                "lower": est - z * sd,
                "upper": est + z * sd,
                "raw_elasticity": raw[i] + prior.shift[i],
                "prior_shift": prior.shift[i],
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
        # The group's own items' mix of features (brand tiers, say) moves its mean.
        mean = pool.mean + float(np.mean(prior.shift[design.item_group == g]))
        groups.append(
            {
                GROUP: label,
                "method": f"{method} mean" if pool.n else GLOBAL_PRIOR,
                "elasticity": mean,
                "se": sd,
                "lower": mean - z * sd,
                "upper": mean + z * sd,
                "between_item_sd": float(np.sqrt(tau2)),
                "n_items": int((design.item_group == g).sum()),
                "n_estimated": int(len(members[g])),
            }
        )
    sd = float(np.sqrt(overall.mean_var))
    summary = {
        "elasticity": overall.mean,
        "se": sd,
        "lower": overall.mean - z * sd,
        "upper": overall.mean + z * sd,
        "between_item_sd": float(np.sqrt(tau2)),
        "between_group_sd": float(np.sqrt(overall.tau2)),
        "n_estimated": int(ok.sum()),
        "prior_features": {
            name: {
                "slope": float(b),
                "se": float(np.sqrt(max(prior.cov[j, j], 0.0))),
                # False: the feature never varies within a group, so it moves no prior.
                "identified": bool(prior.cov[j, j] > 0),
            }
            for j, (name, b) in enumerate(zip(features.names, prior.slopes, strict=True))
        }
        if features is not None
        else {},
    }
    return pd.DataFrame(rows), pd.DataFrame(groups), summary


def describe_method(method: str) -> str:
    """An estimate's method in plain words (the method's name for one this does not know)."""
    return METHOD_WORDS.get(method, method)
