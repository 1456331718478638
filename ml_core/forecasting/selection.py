"""Model selection that generalises: a per-panel choice by time-series cross-validation on the
training data alone, among single models and equal-weight combinations of the best of them.

`AutoForecaster.fit(data)` backtests every candidate on the last `windows` blocks of `horizon`
periods of `data` (rolling origin, `ml_core.forecasting.backtest`), so everything it compares is
older than anything a caller will score it on: inside `aisle forecast backtest` each window's
model only ever sees that window's training part. Options scored on the same CV rows:
- each candidate alone;
- the mean of the `k` best candidates (for each `k` of `ensemble_sizes`), quantile by quantile,
  because in forecasting competitions a combination of a few good models beats picking one
  (M4; the members' errors are partly independent);
- the median of every candidate (the project's `ensemble`).
The option with the lowest CV error wins, and its members are refitted on all of `data`. The
top-k combinations are ranked and scored on the same CV windows, which flatters them a little
(selection bias); `min_gain` makes a combination win only by a margin over the best single model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Literal, Self

import numpy as np
import pandas as pd

from ml_core.forecasting.backtest import BacktestError, BacktestSpec, backtest, cutoffs
from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    Forecaster,
    NotFittedError,
    SeriesData,
    Y,
    trained_for,
)
from ml_core.forecasting.data import PERIOD
from ml_core.forecasting.metrics import CUTOFF, evaluate

Metric = Literal["wape", "mase", "mape"]
DEFAULT_CANDIDATES: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "gbm", "global")
_DEFAULT_HORIZON: dict[str, int] = {"D": 28, "W": 13}
_COLUMNS: tuple[str, ...] = ("y_hat", *QUANTILE_FIELDS)


class AutoForecaster(Forecaster):
    """Chooses, per panel, the candidate or combination with the lowest CV error.

    Hyperparameters: registry (name -> factory, passed in because the registry lists this
    model too), candidates (names in it), horizon (of the CV windows, and the one the candidates
    that learn a horizon are trained for; default 28 daily, 13 weekly), windows (CV blocks, at
    most; fewer when the history is short), metric (wape, mase or mape), ensemble_sizes (the k
    of the top-k means), min_gain (the relative CV improvement a combination needs over the
    best single candidate).

    Inside a backtest of the same horizon, `auto` is not fitted as such: its candidates are
    fitted at its CV cutoffs and at each scored window like any model, and `choose` and
    `combine_forecasts` make its forecasts from theirs (`ml_core.forecasting.backtest`).
    """

    name: ClassVar[str] = "auto"

    def __init__(
        self,
        *,
        registry: Mapping[str, Callable[..., Forecaster]],
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        horizon: int | None = None,
        windows: int = 2,
        metric: Metric = "wape",
        ensemble_sizes: Sequence[int] = (2, 3),
        min_gain: float = 0.0,
    ) -> None:
        self.registry = registry
        self.candidates = tuple(candidates)
        self.horizon = horizon
        self.windows = windows
        self.metric = metric
        self.ensemble_sizes = tuple(ensemble_sizes)
        self.min_gain = min_gain

    def fit(self, data: SeriesData) -> Self:
        self._check()
        horizon = self._horizon(data.freq)
        cuts = self.cv_cutoffs(data)
        forecasts, scales = None, None
        if cuts:
            factories = {name: self.registry[name] for name in self.candidates}
            spec = BacktestSpec(horizon, horizon, len(cuts))
            try:
                result = backtest(data, factories, spec, show_progress=False)
                forecasts, scales = result.forecasts, result.scales
            except BacktestError:
                pass  # no series alive at any CV cutoff: nothing to choose by
        self.choose(forecasts, scales, cuts)
        self.horizon_ = horizon
        self.models_ = [
            trained_for(self.registry[name](), horizon).fit(data) for name in self.members_
        ]
        self.ids_ = np.sort(data.frame[ID].unique())
        self.freq_ = data.freq
        return self

    def _check(self) -> None:
        unknown = [c for c in self.candidates if c not in self.registry or c == self.name]
        if unknown or not self.candidates:
            raise ValueError(f"Unknown candidates {unknown}; known: {list(self.registry)}.")
        if self.metric not in ("wape", "mase", "mape"):
            raise ValueError(f"metric must be wape, mase or mape, not {self.metric!r}.")

    def _horizon(self, freq: str) -> int:
        return self.horizon or _DEFAULT_HORIZON[freq]

    def cv_cutoffs(self, data: SeriesData) -> list[pd.Timestamp]:
        """The cutoffs of the CV windows `fit` holds out of `data`: as many as `windows` allows
        and the history holds (none when it is too short for one), oldest first."""
        frame = data.frame
        horizon = self._horizon(data.freq)
        first = frame[DS].min() + PERIOD[data.freq]
        for windows in range(self.windows, 0, -1):
            cuts = cutoffs(frame[DS].max(), data.freq, BacktestSpec(horizon, horizon, windows))
            if cuts[0] >= first:
                return cuts
        return []

    def choose(
        self,
        forecasts: pd.DataFrame | None,
        scales: pd.DataFrame | None,
        cv_cutoffs: list[pd.Timestamp],
    ) -> Self:
        """Choose the option with the lowest CV error from the candidates' forecasts of the CV
        windows (rows shaped like a backtest's, with their actuals, and each window's MASE
        scales); without any (too short a history), the median of every candidate. Sets what
        `combine_forecasts` combines; `fit` then refits the chosen members on all the data."""
        self._check()
        scores: dict[str, float] = {}
        options: dict[str, tuple[tuple[str, ...], str]] = {}
        if forecasts is not None and scales is not None and not forecasts.empty:
            scores, options = self._score(forecasts, scales)
        if scores:
            single = {k: v for k, v in scores.items() if len(options[k][0]) == 1}
            best_single = min(single, key=lambda k: single[k])
            best = min(scores, key=lambda k: scores[k])
            if scores[best] > scores[best_single] * (1 - self.min_gain):
                best = best_single
        else:  # no window fits the history: the median of every candidate, the safe default
            best = "median(all)"
            options = {best: (self.candidates, "median")}
            cv_cutoffs = []
        members, combine = options[best]
        self.chosen_ = best
        self.members_ = members
        self.combine_ = combine
        self.cv_scores_ = {k: round(v, 5) for k, v in sorted(scores.items(), key=lambda kv: kv[1])}
        self.cv_cutoffs_ = list(cv_cutoffs)
        return self

    def _score(
        self, forecasts: pd.DataFrame, scales: pd.DataFrame
    ) -> tuple[dict[str, float], dict[str, tuple[tuple[str, ...], str]]]:
        """CV error of every option, and each option's (members, combination)."""
        table = evaluate(forecasts, scales)
        single = table[self.metric].astype(float).fillna(np.inf).sort_values(kind="stable")
        options: dict[str, tuple[tuple[str, ...], str]] = {
            name: ((name,), "mean") for name in single.index
        }
        ranked = [str(name) for name in single.index]
        for k in self.ensemble_sizes:
            if 2 <= k <= len(ranked):
                options[f"mean(top {k})"] = (tuple(ranked[:k]), "mean")
        if len(ranked) >= 3:
            options["median(all)"] = (tuple(ranked), "median")
        rows = [forecasts.assign(model=forecasts["model"].astype(str))]
        keys = [ID, DS, CUTOFF]
        wide = {
            name: part.set_index(keys).sort_index()
            for name, part in forecasts.groupby("model", sort=False)
        }
        for option, (members, combine) in options.items():
            if len(members) == 1:
                continue
            combined = _combine([wide[m][list(_COLUMNS)] for m in members], combine)
            first = wide[members[0]]
            rows.append(combined.assign(**{Y: first[Y].to_numpy(), "model": option}).reset_index())
        scored = evaluate(pd.concat(rows, ignore_index=True), scales)[self.metric]
        return {str(k): float(v) for k, v in scored.fillna(np.inf).items()}, options

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "models_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        return self.combine_forecasts(
            {
                name: model.predict(horizon, future)
                for name, model in zip(self.members_, self.models_, strict=True)
            }
        )

    def combine_forecasts(self, forecasts: Mapping[str, Forecast]) -> Forecast:
        """The chosen combination of the chosen members' forecasts (by member name) of the same
        rows: `predict` combines the members `fit` refitted; a backtest that has fitted every
        candidate on the window already combines those forecasts instead."""
        keys = [ID, DS]
        frames = [forecasts[name].to_frame().set_index(keys).sort_index() for name in self.members_]
        combined = _combine([f[list(_COLUMNS)] for f in frames], self.combine_).reset_index()
        result = Forecast.from_frame(combined, model=self.name)
        result.meta.update(
            chosen=self.chosen_,
            members=list(self.members_),
            cv_scores=self.cv_scores_,
            cv_cutoffs=[str(c.date()) for c in self.cv_cutoffs_],
        )
        return result


def _combine(frames: list[pd.DataFrame], combine: str) -> pd.DataFrame:
    """Row by row and column by column, the mean or median of frames sharing one index."""
    first = frames[0]
    for frame in frames[1:]:
        if not frame.index.equals(first.index):
            raise RuntimeError("Candidates forecast different rows; they cannot be combined.")
    stacked = np.stack([f.to_numpy(dtype=float) for f in frames])
    values = np.median(stacked, axis=0) if combine == "median" else stacked.mean(axis=0)
    return pd.DataFrame(values, index=first.index, columns=first.columns)
