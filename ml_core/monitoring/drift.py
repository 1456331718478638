"""Drift per feature and segment against a seasonality-aware reference.

Demand is read off the SKU-days in stock (`segments.load_segment_panel`): a stock-out censors
sales, and a drop that empty shelves explain is supply, not drift.

Each finest segment (a category at a location) gets a seasonal reference fitted on the year
before the days tested: its own weekday profile and yearly season (Fourier terms of the day of
the year), a pooled response to its price index and promotion share (promotions and markdowns
are planned, not drift), and the day's common factor of its channel: the median, over every
category of that channel, of what the seasonal model did not explain that day. The common
factor carries whatever moves the whole channel at once (Black Friday, the December run-up,
Christmas closing, a heatwave), so a holiday peak is not drift; a category or a store that
leaves its peers is. The reference of a coarser segment (a category chain-wide, a location, a
category in one channel) is the sum of its members' references.

The residual of a segment is log(1 + actual) - log(1 + reference). The test on an as-of day
compares the residual of the last `WINDOW` days with that of the `LEVEL_DAYS` days before them
(the segment's recent level: launches and slow trends move it without alarm), counting only the
level's days priced and promoted as the window is (like for like), scaled by the spread that
same statistic had over the reference year (so the residuals' own autocorrelation is priced in).
A segment drifts when the shift is significant after a Bonferroni correction over the feature's
segments (by the normal tail and by the negative-binomial tail of the window's count, with the
segment's own over-dispersion, which the normal one understates for a window of a few units)
and larger than the feature's minimum effect.

Sales that fell while demand did not, because shelves were empty, are reported apart as supply
findings: the same test on everything sold against the reference with every SKU on the shelf.

The cost is a few least-squares fits shared by every segment (one design matrix for all), so a
replay of two years re-fits weekly in seconds on a small world.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ml_core.monitoring.segments import SegmentPanel, Segments, build_segments
from retail.errors import AisleError

FIT_DAYS = 364  # the reference year
WINDOW = 7  # days whose mean residual is tested
LEVEL_DAYS = 28  # the recent level the window is compared with
HARMONICS = 2  # yearly Fourier pairs of the seasonal reference
ROUNDS = 6  # reweighting rounds, each also updating the common factor and price response
RIDGE = 1.0  # keeps a segment's season finite when its reference year is nearly all zeros
ALPHA = 0.001  # family-wise false-alarm rate per feature and as-of day (Bonferroni)
# The smallest shift worth an alert: a significant 3% move in a big segment is not news.
MIN_EFFECT = {"demand": 0.15, "stockouts": 0.5, "supply": 0.2}
# A day of the recent level is compared with the window only when the segment's mean log price
# (3%) and promotion share (10 points) that day were within these of the window's mean; with
# fewer than MIN_LEVEL_DAYS such days a shift has a planned cause and is not drift.
PRICE_TOLERANCE = 0.03
PROMO_TOLERANCE = 0.1
MIN_LEVEL_DAYS = 14
# So does a product launched in the segment within this many days (a launch ramps up for weeks).
LAUNCH_DAYS = 91
# Days of history the test of one as-of day needs before it.
HISTORY_DAYS = FIT_DAYS + LEVEL_DAYS + 2 * WINDOW


@dataclass(frozen=True, slots=True)
class DriftFinding:
    """A segment whose feature drifted, as seen on `as_of`."""

    feature: str
    level: str
    segment: dict[str, str]
    as_of: dt.date
    effect: float  # actual over reference, minus one, over the window (0.31: 31% above)
    z: float
    p_value: float
    days_beyond: int  # days of the window on the side of the shift
    since: dt.date  # where the shift began, by a CUSUM over the last weeks
    actual: float  # the window's total
    expected: float  # the reference's total over the window, at the segment's recent level
    off_shelf: float  # SKUs out of stock on the window's average day
    listed: float  # SKUs on sale on the window's average day
    volume_out: float  # share of the segment's usual volume out of stock over the window

    @property
    def message(self) -> str:
        return drift_sentence(self)


def drift_sentence(f: DriftFinding) -> str:
    """One sentence a planner reads: "Tents demand at S003 is 31% above its seasonal reference
    for 6 of the last 7 days (shift since 2026-10-02)."; for supply: "Tents at S003 sold 40%
    less than its seasonal reference over the last 7 days while 12 of 30 SKUs (45% of its usual
    volume) were out of stock on an average day: a supply problem, not a drop in demand (since
    2026-10-02)." """
    key = f.segment
    what = {"demand": " demand", "stockouts": " stock-outs", "supply": ""}[f.feature]
    if f.level == "location":
        at = f"{what.strip().capitalize()} at " if what else ""
        subject = f"{at}{key['location']} (all categories)"
    elif f.level == "category":
        subject = f"{key['category']}{what} across the chain"
    elif f.level == "category_channel":
        where = "online" if key["channel"] == "online" else "in the stores"
        subject = f"{key['category']}{what} {where}"
    else:
        subject = f"{key['category']}{what} at {key['location']}"
    if f.feature == "supply":
        return (
            f"{subject} sold {-f.effect:.0%} less than its seasonal reference over the last "
            f"{WINDOW} days while {f.off_shelf:.0f} of {f.listed:.0f} SKUs ({f.volume_out:.0%} of "
            f"its usual volume) were out of stock on an average day: a supply problem, not a "
            f"drop in demand (since {f.since.isoformat()})."
        )
    verb = "are" if f.feature == "stockouts" else "is"
    direction = "above" if f.effect > 0 else "below"
    return (
        f"{subject} {verb} {abs(f.effect):.0%} {direction} its seasonal reference for "
        f"{f.days_beyond} of the last {WINDOW} days (shift since {f.since.isoformat()})."
    )


def _design(days: pd.DatetimeIndex) -> np.ndarray:
    """(T, p): intercept, weekday dummies, yearly Fourier pairs."""
    dow = days.day_of_week.to_numpy()
    angle = 2 * np.pi * days.day_of_year.to_numpy() / 365.25
    columns = [np.ones(len(days))]
    columns += [(dow == d).astype(float) for d in range(1, 7)]
    for k in range(1, HARMONICS + 1):
        columns += [np.cos(k * angle), np.sin(k * angle)]
    return np.column_stack(columns)


def _trimmed_log_ratio(
    y: np.ndarray, base: np.ndarray, group: np.ndarray, use: np.ndarray
) -> np.ndarray:
    """(n_groups, T) each day's common factor per group: log of actual over the seasonal model,
    summed over the group's segments whose own ratio that day lies between the group's 20th and
    80th percentiles (one category leaving its peers does not move its peers' reference)."""
    out = np.zeros((int(group.max()) + 1, y.shape[1]))
    for g in range(out.shape[0]):
        rows = group == g
        used = use[rows]
        if not used.any():
            continue
        ratio = np.where(used, (y[rows] + 0.5) / (base[rows] + 0.5), np.nan)
        low, high = np.full(y.shape[1], np.inf), np.full(y.shape[1], -np.inf)
        days = used.any(axis=0)
        low[days], high[days] = np.nanpercentile(ratio[:, days], [20, 80], axis=0)
        keep = used & (ratio >= low) & (ratio <= high)
        kept_y = np.sum(y[rows] * keep, axis=0)
        kept_base = np.sum(base[rows] * keep, axis=0)
        out[g] = np.log((kept_y + 0.5) / (kept_base + 0.5))
    return out


def reference(panel: SegmentPanel, feature: str, start: int, fit_end: int, stop: int) -> np.ndarray:
    """(F, stop - start) expected values of the finest segments over days [start, stop), fitted
    on [start, fit_end); days from `fit_end` on are forecasts, with their own day's common
    factor.

    Each segment's seasonal model is a Poisson regression (log link, by iteratively reweighted
    least squares, all segments at once: one design shared by all) with the common factor, the
    pooled price and promotion response and the log of the segment's availability as offsets,
    fitted in turns with them.
    """
    y = panel.values[feature][:, start:stop]
    x = _design(panel.days[start:stop])
    covariates = np.stack([panel.log_price[:, start:stop], panel.promo[:, start:stop]], axis=-1)
    # `y` counts only the SKU-days in stock: the reference expects the share of the segment's
    # usual volume that was on the shelf (a stock-out is supply, not a drop in demand).
    shelf = np.log(np.maximum(panel.availability[:, start:stop], 1e-6))
    n_fit = fit_end - start
    group = panel.online.astype(int)
    # A segment with nothing in its reference year has no season to learn, and no say in the
    # common factor; a day a whole channel sold nothing it was closed (Thanksgiving, Christmas
    # in the stores), and nothing is expected of it, whatever the season says.
    active = y[:, :n_fit].sum(axis=1) > 0
    totals = np.zeros((2, stop - start))
    np.add.at(totals, group, y)
    use = active[:, None] & (totals[group] > 0)
    weight_mask = use[:, :n_fit].astype(float)
    coef = np.zeros((len(y), x.shape[1]))
    coef[:, 0] = np.log(y[:, :n_fit].mean(axis=1) + 0.1)
    beta = np.zeros(2)
    common = np.zeros((2, stop - start))
    ridge = RIDGE * np.eye(x.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(ROUNDS):
        priced = covariates @ beta + shelf
        offset = priced + common[group]
        eta = np.clip(coef @ x.T + offset, -20, 20)
        mu = np.exp(eta)
        work = (eta - offset + (y - mu) / mu)[:, :n_fit]
        w = mu[:, :n_fit] * weight_mask
        xf = x[:n_fit]
        lhs = np.einsum("fn,np,nq->fpq", w, xf, xf) + ridge
        rhs = np.einsum("fn,np,fn->fp", w, xf, work)
        coef = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        base = np.exp(np.clip(coef @ x.T + priced, -20, 20))
        common = _trimmed_log_ratio(y, base, group, use)
        # One Newton step of the pooled price and promotion response, every segment's fit days.
        mu = base * np.exp(common[group])
        z = covariates[:, :n_fit][weight_mask > 0]
        resid = (y - mu)[:, :n_fit][weight_mask > 0]
        m = mu[:, :n_fit][weight_mask > 0]
        beta = beta + np.linalg.solve(z.T @ (z * m[:, None]) + 1e-6 * np.eye(2), z.T @ resid)
    expected = np.exp(np.clip(coef @ x.T + covariates @ beta + shelf, -20, 20) + common[group])
    return np.where(use, expected, 0.0)


def _rolling_sum(r: np.ndarray, width: int) -> np.ndarray:
    """(S, T) sum over the `width` days ending at each day (NaN before there are enough)."""
    c = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r, axis=1)], axis=1)
    out = np.full(r.shape, np.nan)
    out[:, width - 1 :] = c[:, width:] - c[:, :-width]
    return out


def _lagged(r: np.ndarray, days: int) -> np.ndarray:
    out = np.full(r.shape, np.nan)
    out[:, days:] = r[:, :-days]
    return out


@dataclass(frozen=True, slots=True)
class _Window:
    """The test statistic of every segment over a stretch of days."""

    shift: np.ndarray  # (S, n) log ratio actual/reference over the window minus the level's
    level: np.ndarray  # (S, n) log ratio actual/reference over the LEVEL_DAYS before the window
    scale: np.ndarray  # (S, n) sd of `shift` without drift
    actual: np.ndarray  # (S, n) daily
    expected: np.ndarray  # (S, n) daily
    planned: np.ndarray  # (S, n) bool: prices, promotions or assortment moved; not tested
    extra: np.ndarray  # (S,) variance of `shift` beyond counting noise, in the reference year
    sold: np.ndarray  # (S, n) daily units sold, in stock or not (what the tills saw)
    full: np.ndarray  # (S, n) daily reference with every SKU on the shelf
    off_shelf: np.ndarray  # (S, n) SKUs out of stock each day
    listed: np.ndarray  # (S, n) SKUs on sale each day


def _statistics(
    panel: SegmentPanel, segments: Segments, feature: str, start: int, fit_end: int, stop: int
) -> _Window:
    expected_f = reference(panel, feature, start, fit_end, stop)
    actual = segments.members @ panel.values[feature][:, start:stop]
    expected = segments.members @ expected_f
    # The recent level is read off the days priced and promoted as the window is: a promotion
    # that ended the day a shift began neither hides the shift nor fakes one, whatever the pooled
    # promotion response gets wrong about this segment.
    comparable = _comparable_days(panel, segments, start, stop)
    level_actual = np.zeros(actual.shape)
    level_expected = np.zeros(actual.shape)
    for k, lag in enumerate(range(WINDOW, WINDOW + LEVEL_DAYS)):
        level_actual += np.where(comparable[k], _lagged(actual, lag), 0.0)
        level_expected += np.where(comparable[k], _lagged(expected, lag), 0.0)
    window_actual, window_expected = _rolling_sum(actual, WINDOW), _rolling_sum(expected, WINDOW)
    level = np.log((level_actual + 1) / (level_expected + 1))
    shift = np.log((window_actual + 1) / (window_expected + 1)) - level
    # The spread of `shift`: counting noise, which follows the volume of the days compared (an
    # off-season week of a few units is noisy, a peak week is not), plus what the segment does
    # beyond counting noise, sized on the reference year (a promotion that worked better than
    # the pooled response, a run of stock-outs).
    counting = 1.0 / (window_expected + 1) + 1.0 / (level_expected + 1)
    # Too few comparable days, or a launch: the shift has a planned cause and is not tested.
    planned = (comparable.sum(axis=0) < MIN_LEVEL_DAYS) | _launched(panel, segments, start, stop)
    # Sized on the days the test would have looked at: planned changes are not tested.
    n_fit = fit_end - start
    tested = ~planned[:, :n_fit] & np.isfinite(shift[:, :n_fit])
    n_tested = np.maximum(tested.sum(axis=1), 1)
    excess = np.where(tested, shift[:, :n_fit] ** 2 - counting[:, :n_fit], 0.0)
    extra = np.maximum(excess.sum(axis=1) / n_tested, 0.0)
    scale = np.sqrt(counting + extra[:, None])
    # The reference undone of its shelf offset: what would have sold had every SKU been there.
    full = expected_f / np.maximum(panel.availability[:, start:stop], 1e-6)
    return _Window(
        shift,
        level,
        scale,
        actual,
        expected,
        planned,
        extra,
        sold=segments.members @ panel.sold[:, start:stop],
        full=segments.members @ full,
        off_shelf=segments.members @ panel.off_shelf[:, start:stop],
        listed=segments.members @ panel.listed[:, start:stop],
    )


def _counting_tail(
    stat: _Window, actual: np.ndarray, expected: np.ndarray, j: int, rows: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """(len(rows),) the probability of a window total at least as far from the reference (at the
    segment's recent level) as the one seen, on the side of `z`, under a negative binomial
    (gamma-Poisson) count: the mean is the reference's, and the variance beyond counting noise
    is the segment's own from its reference year (`extra`, a relative variance, so mu^2 *
    extra). The z-test's normal tail is far too thin for a window of a few units (a store's
    small category selling 0 against 6 expected reads z = -5, yet happens about once in 400
    weeks by counting alone, more often for a segment that varies beyond counting), so a shift
    must also be beyond what this count distribution explains; this can only veto."""
    window = slice(j - WINDOW + 1, j + 1)
    seen = np.rint(actual[rows, window].sum(axis=1))
    mean = expected[rows, window].sum(axis=1) * np.exp(stat.level[rows, j])
    # scipy's (n, p): mean n (1 - p) / p, variance mean + mean^2 / n.
    n = 1.0 / np.maximum(stat.extra[rows], 1e-9)
    count = stats.nbinom(n, n / (n + mean))
    return np.where(z < 0, count.cdf(seen), count.sf(seen - 1))


def _comparable_days(panel: SegmentPanel, segments: Segments, start: int, stop: int) -> np.ndarray:
    """(LEVEL_DAYS, S, n) whether each day of the recent level (lags WINDOW .. WINDOW +
    LEVEL_DAYS - 1 before the window's last day) had the segment's mean log price and promotion
    share within tolerance of the window's mean: those days are a like-for-like level for it."""
    size = np.maximum(segments.members.sum(axis=1), 1.0)[:, None]
    lags = range(WINDOW, WINDOW + LEVEL_DAYS)
    out = np.ones((LEVEL_DAYS, len(segments.level), stop - start), dtype=bool)
    for series, tolerance in ((panel.log_price, PRICE_TOLERANCE), (panel.promo, PROMO_TOLERANCE)):
        mean = segments.members @ series[:, start:stop] / size
        window = _rolling_sum(mean, WINDOW) / WINDOW
        for k, lag in enumerate(lags):
            # NaN (before the panel's start) compares False: such a day is no level.
            out[k] &= np.abs(_lagged(mean, lag) - window) <= tolerance
    return out


def _launched(panel: SegmentPanel, segments: Segments, start: int, stop: int) -> np.ndarray:
    """(S, n) whether a product was launched in the segment within LAUNCH_DAYS: a new product
    builds its sales for weeks, an assortment change, planned, not drift."""
    launched = segments.members @ panel.launched[:, start:stop]
    return launched - _lagged(launched, LAUNCH_DAYS) > 0


def _onset(residual: np.ndarray, scale: float, sign: float) -> int:
    """Index (into `residual`) of the day a one-sided CUSUM last left zero: the shift's start."""
    s, start = 0.0, 0
    for t, value in enumerate(residual):
        s = max(0.0, s + sign * value / scale - 0.5)
        if s == 0.0:
            start = t + 1
    return min(start, len(residual) - 1)


def check_history(first_day: dt.date, as_of: dt.date) -> None:
    """Raise AisleError when the sales starting `first_day` are too short to test `as_of`."""
    if (as_of - first_day).days < FIT_DAYS + WINDOW - 1:
        raise AisleError(
            f"Drift monitoring needs {FIT_DAYS + WINDOW - 1} days of history before the first "
            f"as-of day; the sales start {first_day.isoformat()}."
        )


def scan(
    panel: SegmentPanel,
    first_as_of: dt.date,
    last_as_of: dt.date,
    *,
    features: tuple[str, ...] = ("demand",),
    segments: Segments | None = None,
) -> list[DriftFinding]:
    """Every drift finding on each as-of day from `first_as_of` to `last_as_of`, each day seeing
    only the days up to it, and with demand its supply findings (`_supply_hits`). The reference
    is re-fitted every `WINDOW` days, on the year that ends before the first window it tests."""
    segments = build_segments(panel) if segments is None else segments
    check_history(panel.days[0].date(), first_as_of)
    first, last = panel.day_index(first_as_of), panel.day_index(last_as_of)
    tail_alpha = ALPHA / (2 * len(segments.level))
    bar = stats.norm.isf(tail_alpha)
    findings: list[DriftFinding] = []
    for chunk in range(first, last + 1, WINDOW):
        fit_end = chunk - (WINDOW - 1)
        start = max(0, fit_end - FIT_DAYS)
        stop = min(chunk + WINDOW, last + 1)
        for feature in features:
            stat = _statistics(panel, segments, feature, start, fit_end, stop)
            for t in range(chunk, stop):
                j = t - start
                z = stat.shift[:, j] / stat.scale[:, j]
                effect = np.expm1(stat.shift[:, j])
                hits = np.flatnonzero(
                    (np.abs(z) >= bar)
                    & (np.abs(effect) >= MIN_EFFECT[feature])
                    & ~stat.planned[:, j]
                )
                hits = hits[
                    _counting_tail(stat, stat.actual, stat.expected, j, hits, z[hits]) <= tail_alpha
                ]
                for s in hits:
                    findings.append(
                        _finding(panel, segments, stat, feature, int(s), j, t, start, float(z[s]))
                    )
                if feature != "demand":
                    continue
                drops = hits[z[hits] < 0]
                for row, zs in _supply_hits(stat, j, drops, bar, tail_alpha):
                    findings.append(_finding(panel, segments, stat, "supply", row, j, t, start, zs))
    return findings


def _supply_hits(
    stat: _Window, j: int, demand_drops: np.ndarray, bar: float, tail_alpha: float
) -> list[tuple[int, float]]:
    """(segment, z) of the segments whose sales fell below the full-shelf reference by the same
    test as demand, while their demand (read off the SKU-days in stock) did not: the shelves
    explain the drop, a supply problem to report as such, not demand drift."""
    window = slice(j - WINDOW + 1, j + 1)
    sold = stat.sold[:, window].sum(axis=1)
    full = stat.full[:, window].sum(axis=1)
    shortfall = np.log((sold + 1) / (full + 1)) - stat.level[:, j]
    z = shortfall / stat.scale[:, j]
    # The shelves must explain at least half the shortfall: a third of sales gone while 5% of
    # the usual volume was out of stock is a drop in demand the demand test could not confirm.
    lost = 1.0 - stat.expected[:, window].sum(axis=1) / np.maximum(full, 1e-9)
    drop = -np.expm1(shortfall)
    rows = np.flatnonzero(
        (z <= -bar) & (drop >= MIN_EFFECT["supply"]) & (lost >= drop / 2) & ~stat.planned[:, j]
    )
    rows = np.setdiff1d(rows, demand_drops)
    rows = rows[_counting_tail(stat, stat.sold, stat.full, j, rows, z[rows]) <= tail_alpha]
    return [(int(s), float(z[s])) for s in rows]


def _finding(
    panel: SegmentPanel,
    segments: Segments,
    stat: _Window,
    feature: str,
    s: int,
    j: int,
    t: int,
    start: int,
    z: float,
) -> DriftFinding:
    # A supply finding is about what the tills saw against the full-shelf reference.
    supply = feature == "supply"
    actual, expected = (stat.sold, stat.full) if supply else (stat.actual, stat.expected)
    sign = 1.0 if z > 0 else -1.0
    level = stat.level[s, j]
    window = slice(j - WINDOW + 1, j + 1)
    daily = np.log((actual[s] + 1) / (expected[s] * np.exp(level) + 1))
    days_beyond = int((sign * daily[window] > 0).sum())
    lookback = max(0, j - LEVEL_DAYS + 1)
    daily_scale = max(float(np.std(daily[: j - WINDOW])), 1e-3)
    onset = lookback + _onset(daily[lookback : j + 1], daily_scale, sign)
    seen = float(actual[s, window].sum())
    reference_total = float(expected[s, window].sum())
    on_shelf = float(stat.expected[s, window].sum() / max(stat.full[s, window].sum(), 1e-9))
    return DriftFinding(
        feature=feature,
        level=str(segments.level[s]),
        segment=segments.keys[s],
        as_of=panel.days[t].date(),
        effect=float(np.expm1(np.log((seen + 1) / (reference_total + 1)) - level)),
        z=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        days_beyond=days_beyond,
        since=panel.days[start + onset].date(),
        actual=seen,
        expected=reference_total * float(np.exp(level)),
        off_shelf=float(stat.off_shelf[s, window].mean()),
        listed=float(stat.listed[s, window].mean()),
        volume_out=1.0 - on_shelf,
    )
