"""Features of the global forecaster, built for whole batches of (series, origin) pairs at once.

A long-form panel becomes dense (series x period) arrays once, with prefix sums of the values,
their squares, the observed days and the selling days. Features of any batch of training origins
are then a few fancy-index gathers and prefix-sum differences: the cost of a batch does not grow
with the length of the history, and nothing loops over time or over series in Python.

Everything about the history is divided by the series' scale (1 + its recent mean level), so one
network serves slow and fast movers alike; the absolute level goes in as log1p(level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_core.forecasting.base import DS, ID, Freq, SeriesData, Y


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Window lengths, in periods of the panel's frequency."""

    freq: Freq
    lags: int  # most recent values given one by one
    mean_windows: tuple[int, ...]  # rolling means (short, medium, long)
    std_windows: tuple[int, ...]  # rolling standard deviations
    level_window: int  # the scale: 1 + mean over this window
    season: int  # a year ago, in periods (364 days keeps the weekday)
    season_halfwidth: int  # a year-ago value is the mean of +-halfwidth periods around it
    fourier_terms: int  # sin/cos pairs of the day (week) of year


def default_spec(freq: Freq, lags: int | None = None) -> FeatureSpec:
    if freq == "D":
        return FeatureSpec("D", lags or 28, (7, 28, 91), (7, 28), 28, 364, 3, 3)
    return FeatureSpec("W", lags or 13, (4, 13, 52), (4, 13), 13, 52, 0, 3)


def calendar_features(ds: np.ndarray, freq: Freq, fourier_terms: int) -> np.ndarray:
    """(..., F) float32: day-of-week one-hot (daily only) and Fourier terms of the day of year."""
    flat = pd.DatetimeIndex(np.asarray(ds, dtype="datetime64[ns]").ravel())
    angle = 2 * np.pi * flat.day_of_year.to_numpy(dtype=np.float64) / 365.25
    columns = []
    if freq == "D":
        columns.append(np.eye(7, dtype=np.float64)[flat.day_of_week.to_numpy()])
    harmonics = np.arange(1, fourier_terms + 1)[None, :] * angle[:, None]
    columns += [np.sin(harmonics), np.cos(harmonics)]
    out = np.concatenate(columns, axis=1).astype(np.float32)
    return out.reshape(*np.shape(ds), out.shape[1])


def n_calendar_features(freq: Freq, fourier_terms: int) -> int:
    return (7 if freq == "D" else 0) + 2 * fourier_terms


@dataclass(slots=True)
class Panel:
    """Dense arrays of a panel on a regular grid of periods shared by all series."""

    ids: np.ndarray  # (n,) sorted series ids
    grid: np.ndarray  # (T + extra,) datetime64 of each period; the tail is room for forecasts
    y: np.ndarray  # (n, T) float32, NaN where a series has no observation
    first: np.ndarray  # (n,) index of each series' first observation
    last: np.ndarray  # (n,) index of its last observation
    csum: np.ndarray  # (n, T + 1) prefix sums of y (missing counted as 0)
    csq: np.ndarray  # (n, T + 1) prefix sums of y^2
    ccount: np.ndarray  # (n, T + 1) prefix counts of observed periods
    cpos: np.ndarray  # (n, T + 1) prefix counts of periods with y > 0
    last_sale: np.ndarray  # (n, T) index of the last y > 0 at or before t, -1 if none yet
    exog: np.ndarray  # (n, T + extra, E) float32 standardised known-future covariates, 0 if unknown
    calendar: np.ndarray  # (T + extra, F) float32 calendar features of each grid period

    @property
    def n_periods(self) -> int:
        return int(self.y.shape[1])


def period_of(freq: Freq) -> np.timedelta64:
    return np.timedelta64(1 if freq == "D" else 7, "D").astype("timedelta64[ns]")


def build_panel(
    frame: pd.DataFrame,
    freq: Freq,
    exog_cols: tuple[str, ...],
    exog_mean: np.ndarray,
    exog_std: np.ndarray,
    extra: int,
    fourier_terms: int,
) -> Panel:
    """Dense arrays of a long frame sorted or not; `extra` periods are added after the last date."""
    codes, ids = pd.factorize(frame[ID], sort=True)
    ds = frame[DS].to_numpy(dtype="datetime64[ns]")
    step = period_of(freq)
    start = ds.min()
    # Weekly series anchored on different weekdays share the week that contains them.
    index = ((ds - start) // step).astype(np.int64)
    n, n_periods = len(ids), int(index.max()) + 1
    y = np.full((n, n_periods), np.nan, dtype=np.float32)
    y[codes, index] = frame[Y].to_numpy(dtype=np.float32)
    observed = ~np.isnan(y)
    filled = np.where(observed, y, 0.0).astype(np.float64)

    def prefix(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n, n_periods + 1), dtype=values.dtype)
        np.cumsum(values, axis=1, out=out[:, 1:])
        return out

    first = np.full(n, n_periods, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    np.minimum.at(first, codes, index)
    np.maximum.at(last, codes, index)
    positions = np.where(filled > 0, np.arange(n_periods)[None, :], -1)
    exog = np.zeros((n, n_periods + extra, len(exog_cols)), dtype=np.float32)
    if exog_cols:
        values = frame[list(exog_cols)].to_numpy(dtype=np.float64)
        exog[codes, index] = np.nan_to_num((values - exog_mean) / exog_std).astype(np.float32)
    grid = start + np.arange(n_periods + extra) * step
    return Panel(
        ids=np.asarray(ids),
        grid=grid,
        y=y,
        first=first,
        last=last,
        csum=prefix(filled),
        csq=prefix(filled**2),
        ccount=prefix(observed.astype(np.int32)),
        cpos=prefix((filled > 0).astype(np.int32)),
        last_sale=np.maximum.accumulate(positions, axis=1).astype(np.int32),
        exog=exog,
        calendar=calendar_features(grid, freq, fourier_terms),
    )


def _window(prefix: np.ndarray, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of periods lo..hi (inclusive, clipped to the panel) of each row, from prefix sums."""
    width = prefix.shape[1] - 1
    lo = np.clip(lo, 0, width)
    hi = np.clip(hi + 1, 0, width)
    return (prefix[rows, np.maximum(hi, lo)] - prefix[rows, lo]).astype(np.float64)


def _mean(
    panel: Panel, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean over the observed periods of lo..hi, number observed); mean 0 when none is."""
    count = _window(panel.ccount, rows, lo, hi)
    total = _window(panel.csum, rows, lo, hi)
    return total / np.maximum(count, 1.0), count


def scale_of(panel: Panel, spec: FeatureSpec, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1 + mean level over the window ending at origin t (DeepAR's scale): never zero, so a
    series without recent sales still forecasts from its peers' absolute level."""
    level, _ = _mean(panel, rows, t - spec.level_window + 1, t)
    return 1.0 + np.maximum(level, 0.0)  # net returns can make a window's sum negative


def n_history_features(spec: FeatureSpec, n_exog: int) -> int:
    return spec.lags + len(spec.mean_windows) + len(spec.std_windows) + 8 + n_exog


def history_features(
    panel: Panel, spec: FeatureSpec, rows: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of the history up to and including origin t: (features, scale, exog level).

    Returns (B, n_history_features) float32, the (B,) scale and the (B, E) mean of each
    covariate over the level window (the step features compare future values with it).
    """
    scale = scale_of(panel, spec, rows, t)
    level = scale - 1.0
    columns: list[np.ndarray] = []
    lag_index = t[:, None] - np.arange(spec.lags)[None, :]
    lags = panel.y[rows[:, None], np.maximum(lag_index, 0)].astype(np.float64)
    lags = np.where((lag_index >= 0) & ~np.isnan(lags), lags, level[:, None])
    columns.append(lags / scale[:, None])
    for w in spec.mean_windows:
        mean, _ = _mean(panel, rows, t - w + 1, t)
        columns.append((mean / scale)[:, None])
    for w in spec.std_windows:
        mean, count = _mean(panel, rows, t - w + 1, t)
        sq = _window(panel.csq, rows, t - w + 1, t) / np.maximum(count, 1.0)
        columns.append((np.sqrt(np.maximum(sq - mean**2, 0.0)) / scale)[:, None])
    w = spec.level_window
    count = _window(panel.ccount, rows, t - w + 1, t)
    selling = _window(panel.cpos, rows, t - w + 1, t)
    zero_share = np.where(count > 0, 1.0 - selling / np.maximum(count, 1.0), 1.0)
    age = np.maximum(t - panel.first[rows] + 1, 0).astype(np.float64)
    last_sale = panel.last_sale[rows, t]
    since = np.where(last_sale >= 0, t - last_sale, age).astype(np.float64)
    year_ago, year_count = _mean(panel, rows, t - spec.season - w + 1, t - spec.season)
    columns.append(
        np.stack(
            [
                zero_share,
                count / w,  # share of the window observed: gaps and young series
                np.log1p(since) / 4.0,
                (last_sale < 0).astype(np.float64),
                np.log1p(age) / 6.0,
                np.log1p(level),
                year_ago / scale,
                (year_count > 0).astype(np.float64),
            ],
            axis=1,
        )
    )
    exog_window = t[:, None] - np.arange(w)[None, :]
    exog_level = panel.exog[rows[:, None], np.maximum(exog_window, 0)].mean(axis=1)
    columns.append(exog_level)
    return np.concatenate(columns, axis=1).astype(np.float32), scale, exog_level


def year_ago_features(
    panel: Panel,
    spec: FeatureSpec,
    rows: np.ndarray,
    t: np.ndarray,
    horizon: int,
    scale: np.ndarray,
) -> np.ndarray:
    """(B, H, 2): each target period's value a year earlier over the scale, and whether known."""
    target = t[:, None] + 1 + np.arange(horizon)[None, :] - spec.season
    rows_h = np.repeat(rows, horizon)
    lo = (target - spec.season_halfwidth).ravel()
    hi = (target + spec.season_halfwidth).ravel()
    # Only history up to the origin counts: a horizon longer than a season must not peek.
    hi = np.minimum(hi, np.repeat(t, horizon))
    mean, count = _mean(panel, rows_h, lo, hi)
    mean = mean.reshape(len(rows), horizon) / scale[:, None]
    known = (count > 0).reshape(len(rows), horizon)
    return np.stack([mean, known.astype(np.float64)], axis=2).astype(np.float32)


def step_features(
    calendar: np.ndarray, exog: np.ndarray, exog_level: np.ndarray, year_ago: np.ndarray
) -> np.ndarray:
    """(B, H, F) features of each target period: calendar, covariates (as they are and against
    their recent level, so a price cut or a promotion reads as a change) and last year's value."""
    change = exog - exog_level[:, None, :]
    return np.concatenate([calendar, exog, change, year_ago], axis=2).astype(np.float32)


def n_step_features(freq: Freq, fourier_terms: int, n_exog: int) -> int:
    return n_calendar_features(freq, fourier_terms) + 2 * n_exog + 2


def training_step_features(
    panel: Panel,
    spec: FeatureSpec,
    rows: np.ndarray,
    t: np.ndarray,
    horizon: int,
    scale: np.ndarray,
    exog_level: np.ndarray,
) -> np.ndarray:
    """Step features for origins inside the panel, read from its calendar and covariates."""
    target = t[:, None] + 1 + np.arange(horizon)[None, :]
    return step_features(
        panel.calendar[target],
        panel.exog[rows[:, None], target],
        exog_level,
        year_ago_features(panel, spec, rows, t, horizon, scale),
    )


def targets(
    panel: Panel, rows: np.ndarray, t: np.ndarray, horizon: int, limit: np.ndarray
) -> np.ndarray:
    """(B, H) float32 values after origin t, NaN where unobserved or past each row's limit."""
    target = t[:, None] + 1 + np.arange(horizon)[None, :]
    inside = target <= np.minimum(limit, panel.n_periods - 1)[:, None]
    values = panel.y[rows[:, None], np.minimum(target, panel.n_periods - 1)]
    return np.where(inside, values, np.nan).astype(np.float32)


def check_training_data(data: SeriesData) -> None:
    """A global model's training data must hold every column it names, and some rows."""
    frame = data.frame
    missing = [c for c in (ID, DS, Y, *data.future_exog, *data.static_cols) if c not in frame]
    if missing:
        raise ValueError(f"the data has no column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError("the data has no rows to fit on")


def future_covariates(
    index: pd.DataFrame, future: pd.DataFrame | None, cols: tuple[str, ...]
) -> np.ndarray:
    """(len(index), len(cols)) float64: the covariates `future` gives for the forecast rows
    `index` (unique_id, ds), in its order; a missing column or row is a ValueError."""
    if not cols:
        return np.zeros((len(index), 0))
    if future is None:
        raise ValueError(
            f"this model was fitted with future covariates ({', '.join(cols)}); "
            "pass their values for the forecast rows in `future`"
        )
    absent = [c for c in (ID, DS, *cols) if c not in future]
    if absent:
        raise ValueError(f"`future` has no column(s) {', '.join(absent)}")
    keyed = future[[ID, DS, *cols]].copy()
    keyed[DS] = pd.to_datetime(keyed[DS])
    merged = index.merge(keyed.drop_duplicates([ID, DS]), on=[ID, DS], how="left")
    values = merged[list(cols)].to_numpy(dtype=np.float64)
    lacking = np.isnan(values).any(axis=1)
    if lacking.any():
        first = merged.loc[lacking, [ID, DS]].iloc[0]
        raise ValueError(
            f"`future` lacks covariate values for {int(lacking.sum())} forecast row(s), "
            f"e.g. {first[ID]} on {pd.Timestamp(first[DS]).date()}"
        )
    return values
