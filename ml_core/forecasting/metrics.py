"""Accuracy and calibration metrics for forecasts, vectorised over a backtest's long frame.

Point metrics read `y_hat` (the expected value); probabilistic metrics read the quantile columns
p10..p95. `evaluate` aggregates everything per model (or per model and series) in one groupby, so
it stays fast on millions of forecast rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml_core.forecasting.base import ID, QUANTILE_FIELDS, QUANTILES, Y

CUTOFF = "cutoff"
# What a perfectly calibrated model scores on each coverage metric.
NOMINAL_COVERAGE: dict[str, float] = {
    "coverage_80": 0.8,
    **{f"coverage_{name}": q for q, name in zip(QUANTILES, QUANTILE_FIELDS, strict=True)},
}
METRICS: tuple[str, ...] = (
    "mae",
    "wape",
    "mape",
    "smape",
    "mase",
    "pinball",
    *(f"pinball_{name}" for name in QUANTILE_FIELDS),
    *NOMINAL_COVERAGE,
)


def _arrays(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def mae(y: object, y_hat: object) -> float:
    """Mean absolute error."""
    a, f = _arrays(y, y_hat)
    return float(np.mean(np.abs(a - f)))


def wape(y: object, y_hat: object) -> float:
    """Weighted absolute percentage error: sum |y - y_hat| / sum |y| (NaN when all y are 0)."""
    a, f = _arrays(y, y_hat)
    total = np.abs(a).sum()
    return float(np.abs(a - f).sum() / total) if total > 0 else float("nan")


def mape(y: object, y_hat: object) -> float:
    """Mean absolute percentage error over the periods whose actual is not 0."""
    a, f = _arrays(y, y_hat)
    nonzero = a != 0
    if not nonzero.any():
        return float("nan")
    return float(np.mean(np.abs(a[nonzero] - f[nonzero]) / np.abs(a[nonzero])))


def smape(y: object, y_hat: object) -> float:
    """Symmetric MAPE, 2|y - y_hat| / (|y| + |y_hat|), in [0, 2]; a period where both are 0 is 0."""
    a, f = _arrays(y, y_hat)
    return float(np.mean(_sape(a, f)))


def _sape(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    denom = np.abs(a) + np.abs(f)
    safe = np.where(denom > 0, denom, 1.0)
    return np.where(denom > 0, 2 * np.abs(a - f) / safe, 0.0)


def pinball_loss(y: object, pred: object, q: float) -> float:
    """Mean quantile (pinball) loss of `pred` as the `q` quantile of `y`."""
    a, p = _arrays(y, pred)
    return float(np.mean(_pinball(a, p, q)))


def _pinball(a: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    diff = a - p
    return np.maximum(q * diff, (q - 1) * diff)


def interval_coverage(y: object, lo: object, hi: object) -> float:
    """Share of actuals inside [lo, hi]."""
    a, low, high = _arrays(y, lo, hi)
    return float(np.mean((a >= low) & (a <= high)))


def share_below(y: object, pred: object) -> float:
    """Share of actuals at or below `pred`: a calibrated q quantile scores q."""
    a, p = _arrays(y, pred)
    return float(np.mean(a <= p))


def seasonal_scale(frame: pd.DataFrame, season_length: int) -> pd.Series:
    """Per series, the in-sample MAE of the seasonal naive forecast: MASE's denominator.

    `frame` is one training set (unique_id, ds, y sorted by series and date). A series with no
    more than `season_length` observations is scaled by the lag-1 naive instead; a series with one
    observation, or a constant one, gets NaN or 0 and is left out of MASE.
    """
    y = frame[Y].to_numpy(dtype=float)
    by_series = frame.groupby(ID, sort=False)[Y]
    length = by_series.transform("size").to_numpy()
    seasonal = y - by_series.shift(season_length).to_numpy(dtype=float)
    lag_one = y - by_series.shift(1).to_numpy(dtype=float)
    diff = np.abs(np.where(length > season_length, seasonal, lag_one))
    scale = frame[[ID]].assign(scale=diff).groupby(ID, sort=True)["scale"].mean()
    return scale


def evaluate(
    forecasts: pd.DataFrame,
    scales: pd.DataFrame | None = None,
    by: Sequence[str] = ("model",),
) -> pd.DataFrame:
    """Every metric in `METRICS`, one row per group of `by` (default: per model).

    `forecasts` has y, y_hat, p10..p95, `by`'s columns and, for MASE, unique_id and cutoff;
    `scales` has unique_id, cutoff and scale (from `seasonal_scale` on each window's training
    part). MASE is the mean over (series, window) of that window's MAE divided by its scale, so
    every series weighs the same whatever its volume; (series, window) pairs whose scale is 0 or
    unknown are left out. The other metrics pool all rows of the group. `rows` and `series`
    count what each group covers.
    """
    keys = list(by)
    y = forecasts[Y].to_numpy(dtype=float)
    y_hat = forecasts["y_hat"].to_numpy(dtype=float)
    err = np.abs(y - y_hat)
    abs_y = np.abs(y)
    cols: dict[str, np.ndarray] = {
        "abs_err": err,
        "abs_y": abs_y,
        "ape": np.where(y != 0, err / np.where(y != 0, abs_y, 1.0), np.nan),
        "sape": _sape(y, y_hat),
    }
    quantiles = {name: forecasts[name].to_numpy(dtype=float) for name in QUANTILE_FIELDS}
    for q, name in zip(QUANTILES, QUANTILE_FIELDS, strict=True):
        cols[f"pinball_{name}"] = _pinball(y, quantiles[name], q)
        cols[f"coverage_{name}"] = (y <= quantiles[name]).astype(float)
    cols["coverage_80"] = ((y >= quantiles["p10"]) & (y <= quantiles["p90"])).astype(float)
    rows = pd.DataFrame(cols)
    for key in {*keys, ID}:
        if key in forecasts:
            rows[key] = forecasts[key].to_numpy()

    grouped = rows.groupby(keys, sort=True)
    means = grouped.mean(numeric_only=True)
    sums = grouped[["abs_err", "abs_y"]].sum()
    out = pd.DataFrame(index=means.index)
    out["mae"] = means["abs_err"]
    out["wape"] = sums["abs_err"] / sums["abs_y"].where(sums["abs_y"] > 0)
    out["mape"] = means["ape"]
    out["smape"] = means["sape"]
    out["mase"] = _mase(forecasts, err, scales, keys) if scales is not None else np.nan
    pinball_cols = [f"pinball_{name}" for name in QUANTILE_FIELDS]
    out["pinball"] = means[pinball_cols].mean(axis=1)
    for name in pinball_cols:
        out[name] = means[name]
    for name in NOMINAL_COVERAGE:
        out[name] = means[name]
    out["rows"] = grouped.size()
    out["series"] = grouped[ID].nunique() if ID in rows else np.nan
    return out


def _mase(
    forecasts: pd.DataFrame, err: np.ndarray, scales: pd.DataFrame, keys: list[str]
) -> pd.Series:
    pair = list(dict.fromkeys([*keys, ID, CUTOFF]))
    frame = forecasts[pair].copy()
    frame["abs_err"] = err
    per_window = frame.groupby(pair, sort=False)["abs_err"].mean().reset_index()
    per_window = per_window.merge(scales[[ID, CUTOFF, "scale"]], on=[ID, CUTOFF], how="left")
    usable = per_window["scale"].to_numpy(dtype=float) > 0  # NaN compares False
    per_window = per_window.loc[usable]
    per_window["scaled"] = per_window["abs_err"] / per_window["scale"]
    return per_window.groupby(keys, sort=True)["scaled"].mean()


def metrics_dict(table: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    """`evaluate`'s per-model table as JSON-ready dicts; NaN (undefined) becomes None."""
    out: dict[str, dict[str, float | int | None]] = {}
    for model, row in table.iterrows():
        entry: dict[str, float | int | None] = {}
        for name, value in row.items():
            if name in ("rows", "series", "chosen"):
                entry[str(name)] = None if pd.isna(value) else int(value)
            else:
                entry[str(name)] = None if pd.isna(value) else float(value)
        out[str(model)] = entry
    return out
