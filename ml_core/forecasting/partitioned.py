"""Batch forecasting in series partitions, in process or on Ray (`AISLE_RAY_ADDRESS`).

A per-series model (`Forecaster.per_series`: each series' forecast depends on that series alone)
gives the same forecasts whether it is fitted on the whole panel or on any partition of its
series. `Partitioned` uses that: it splits the panel into contiguous runs of series, fits and
predicts a copy of the model on each through `ml_core.batch.executor()` (one Ray task per
partition, or one after another here), and concatenates the forecasts in series order. The task
functions are the model's own `fit` and `predict`, so the forecasts are the in-process ones bit
for bit. `batch_model` decides: a per-series model on a Ray cluster is partitioned, anything else
runs as it is.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from ml_core.batch import executor
from ml_core.forecasting.base import ID, Forecast, Forecaster, NotFittedError, SeriesData

# Tasks per worker: enough that one slow partition does not leave the other workers idle, few
# enough that the per-task overhead (shipping a partition, a task's scheduling) stays small.
TASKS_PER_WORKER = 4


class Partitioned(Forecaster):
    """`model` fitted and predicted partition by partition (`partitions` of them at most)."""

    name: ClassVar[str] = "partitioned"
    per_series: ClassVar[bool] = True

    def __init__(self, *, model: Forecaster, partitions: int) -> None:
        self.model = model
        self.partitions = partitions

    def fit(self, data: SeriesData) -> Self:
        parts = split_series(data.frame, self.partitions)
        self.parts_: list[Forecaster] = executor().map(
            _fit,
            [
                (
                    copy.deepcopy(self.model),
                    SeriesData(part, data.freq, data.future_exog, data.static_cols),
                )
                for part in parts
            ],
        )
        self.ids_ = np.concatenate([np.asarray(m.ids_) for m in self.parts_])
        self.freq_ = data.freq
        return self

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "parts_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        inputs = [
            (m, horizon, None if future is None else future[future[ID].isin(m.ids_)])
            for m in self.parts_
        ]
        forecasts = executor().map(_predict, inputs)
        frame = pd.concat([f.to_frame() for f in forecasts], ignore_index=True)
        combined = Forecast.from_frame(frame, model=self.model.name)
        for forecast in forecasts:
            for key, value in forecast.meta.items():
                merged = combined.meta.setdefault(key, [])
                if isinstance(merged, list) and isinstance(value, list):
                    merged.extend(value)
        return combined


def batch_model(model: Forecaster) -> Forecaster:
    """`model` as batch forecasting should run it: partitioned across the Ray cluster's workers
    when one is configured and the model is per-series, else `model` itself."""
    run = executor()
    if run.workers == 1 or not model.per_series or isinstance(model, Partitioned):
        return model
    return Partitioned(model=model, partitions=run.workers * TASKS_PER_WORKER)


def split_series(frame: pd.DataFrame, partitions: int) -> list[pd.DataFrame]:
    """`frame`'s rows in at most `partitions` parts, each a contiguous run of whole series in
    sorted id order, the parts about equal in series."""
    ids = np.sort(frame[ID].unique())
    codes = pd.Categorical(frame[ID], categories=ids).codes
    count = max(1, min(partitions, len(ids)))
    part = codes.astype(np.int64) * count // max(len(ids), 1)
    return [chunk for _, chunk in frame.groupby(part, sort=True)]


def _fit(task: tuple[Forecaster, SeriesData]) -> Forecaster:
    model, data = task
    return model.fit(data)


def _predict(task: tuple[Forecaster, int, pd.DataFrame | None]) -> Forecast:
    model, horizon, future = task
    return model.predict(horizon, future)
