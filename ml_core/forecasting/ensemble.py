"""A forecast combination: several forecasters fitted on the same data, combined per row.

Combining forecasts is the most reliable accuracy gain in forecasting competitions (M3, M4: the
equal-weight combination of a few simple methods beats most single methods), because the
members' errors are partly independent. The median is used by default rather than the mean so
that one member that fails on a series (ETS on a weekly series whose 52-period season it cannot
fit, say) moves the combination less. Quantiles are combined level by level (quantile
averaging, "Vincentization"), which keeps the members' spread instead of inventing one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Literal, Self

import numpy as np
import pandas as pd

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    Forecaster,
    NotFittedError,
    SeriesData,
    trained_for,
)

Combine = Literal["median", "mean"]
DEFAULT_MEMBERS: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "global")


class Ensemble(Forecaster):
    """The per-row median (or mean) of its members' point forecasts and of each quantile.

    `registry` maps member names to factories; it is passed in rather than imported because the
    registry of all models itself lists the ensemble. `horizon`: the one the members that learn
    a horizon are trained for (unset: their default).
    """

    name: ClassVar[str] = "ensemble"

    def __init__(
        self,
        *,
        registry: Mapping[str, Callable[..., Forecaster]],
        members: Sequence[str] = DEFAULT_MEMBERS,
        combine: Combine = "median",
        horizon: int | None = None,
    ) -> None:
        self.registry = registry
        self.members = tuple(members)
        self.combine = combine
        self.horizon = horizon

    def fit(self, data: SeriesData) -> Self:
        unknown = [name for name in self.members if name not in self.registry]
        if unknown or not self.members:
            raise ValueError(f"Unknown ensemble members {unknown}; known: {list(self.registry)}.")
        if self.combine not in ("median", "mean"):
            raise ValueError(f"combine must be 'median' or 'mean', not {self.combine!r}.")
        models = [self.registry[name]() for name in self.members]
        if self.horizon is not None:
            models = [trained_for(model, self.horizon) for model in models]
        self.models_ = [model.fit(data) for model in models]
        self.ids_ = np.sort(data.frame[ID].unique())
        self.freq_ = data.freq
        return self

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "models_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        forecasts = [model.predict(horizon, future) for model in self.models_]
        return self.combine_forecasts(dict(zip(self.members, forecasts, strict=True)))

    def combine_forecasts(self, forecasts: Mapping[str, Forecast]) -> Forecast:
        """The combination of the members' forecasts of the same rows, by member name.

        `predict` combines the members it fitted; a backtest that has already fitted every
        member on a window combines their forecasts here instead of fitting them again.
        """
        columns = ["y_hat", *QUANTILE_FIELDS]
        frames = [
            forecasts[name].to_frame().sort_values([ID, DS], kind="stable") for name in self.members
        ]
        keys = frames[0][[ID, DS]].reset_index(drop=True)
        for name, frame in zip(self.members[1:], frames[1:], strict=True):
            if not keys.equals(frame[[ID, DS]].reset_index(drop=True)):
                raise RuntimeError(f"Ensemble member {name!r} forecast other rows than the rest.")
        stacked = np.stack([frame[columns].to_numpy(dtype=float) for frame in frames])
        combined = np.median(stacked, axis=0) if self.combine == "median" else stacked.mean(0)
        result = Forecast.from_frame(
            keys.assign(**{col: combined[:, j] for j, col in enumerate(columns)}), model=self.name
        )
        result.meta["members"] = list(self.members)
        return result
