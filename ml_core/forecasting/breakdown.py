"""A backtest's errors broken down by horizon step and by segment (a static column's values).

An average over every row hides where a model wins: a GBM may beat the statistical baselines a
week ahead and lose three weeks ahead, or win in one store and lose in another. These tables
set each model's error per step and per segment side by side; the report draws them.
"""

from __future__ import annotations

import pandas as pd

from ml_core.forecasting.backtest import BacktestResult
from ml_core.forecasting.base import DS, ID, SeriesData
from ml_core.forecasting.data import PERIOD
from ml_core.forecasting.metrics import CUTOFF, evaluate

STEP = "step"
# A static column with more values than this is an identity (a product, a SKU), not a segment.
MAX_SEGMENTS = 30
BREAKDOWN_METRICS: tuple[str, ...] = ("wape", "mase", "mape", "pinball", "coverage_80")


def by_step(result: BacktestResult) -> pd.DataFrame:
    """Metrics per (model, step): step h is the h-th period after the window's cutoff."""
    fc = result.forecasts
    period = PERIOD[result.freq]
    steps = ((fc[DS] - fc[CUTOFF]) / period).round().astype(int)
    return evaluate(fc.assign(**{STEP: steps}), result.scales, by=("model", STEP))


def segment_columns(data: SeriesData) -> list[str]:
    """The static columns that split the series into a few segments (2..MAX_SEGMENTS)."""
    statics = data.statics()
    return [c for c in data.static_cols if 2 <= statics[c].nunique() <= MAX_SEGMENTS]


def by_segment(result: BacktestResult, data: SeriesData, column: str) -> pd.DataFrame:
    """Metrics per (model, value of the static `column`)."""
    segment = data.statics()[column].astype(str)
    fc = result.forecasts.assign(**{column: result.forecasts[ID].map(segment)})
    return evaluate(fc, result.scales, by=("model", column))


def breakdown_dict(result: BacktestResult, data: SeriesData) -> dict[str, object]:
    """`{"by_step": {model: {step: metrics}}, "by_segment": {column: {model: {value: ...}}}}`
    for metrics.json."""

    def nested(table: pd.DataFrame) -> dict[str, object]:
        out: dict[str, dict[str, object]] = {}
        for (model, key), row in table[list(BREAKDOWN_METRICS)].iterrows():
            out.setdefault(str(model), {})[str(key)] = {
                name: None if pd.isna(value) else round(float(value), 6)
                for name, value in row.items()
            }
        return dict(out)

    return {
        "by_step": nested(by_step(result)),
        "by_segment": {c: nested(by_segment(result, data, c)) for c in segment_columns(data)},
    }
