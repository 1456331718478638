"""The forecaster contract every model follows, and the typed data it consumes and produces.

Modelled on Nixtla's statsforecast and benfred/implicit: `__init__` stores hyperparameters only,
`fit(data) -> Self` learns, fitted state lives in trailing-underscore attributes, and `predict`
returns a typed `Forecast` whose quantiles are fields (`p10`, `p50`, ...), never "lo-80" strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Self

import numpy as np
import pandas as pd

Freq = Literal["D", "W"]
# The quantile levels every model predicts; P50 is the point forecast planners read.
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9, 0.95)
QUANTILE_FIELDS: tuple[str, ...] = ("p10", "p50", "p90", "p95")
ID, DS, Y = "unique_id", "ds", "y"


def quantile_field(q: float) -> str:
    """0.9 -> "p90"; the column and attribute name of a quantile level."""
    return f"p{round(q * 100):02d}"


@dataclass(frozen=True, slots=True)
class SeriesData:
    """Panel of time series in long form, sorted by (unique_id, ds).

    `frame` has columns unique_id (str), ds (datetime64), y (float) plus any exogenous columns;
    `future_exog` names the covariates known in advance (price, promotion, holiday flags) that a
    model may use for the forecast horizon; `static_cols` names per-series attributes (category,
    store) constant over time.
    """

    frame: pd.DataFrame
    freq: Freq
    future_exog: tuple[str, ...] = ()
    static_cols: tuple[str, ...] = ()

    @property
    def ids(self) -> np.ndarray:
        return self.frame[ID].unique()

    def statics(self) -> pd.DataFrame:
        """One row per series with its static columns, indexed by unique_id."""
        return self.frame.groupby(ID, sort=True)[list(self.static_cols)].first()


@dataclass(frozen=True, slots=True)
class Forecast:
    """Forecasts for `horizon` steps of every series: one row per (unique_id, ds).

    `mean` is the expected value; `p10`..`p95` are quantiles of the predictive distribution.
    """

    unique_id: np.ndarray
    ds: np.ndarray
    mean: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    p95: np.ndarray
    model: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                ID: self.unique_id,
                DS: self.ds,
                "y_hat": self.mean,
                **{name: getattr(self, name) for name in QUANTILE_FIELDS},
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, model: str) -> Forecast:
        """From columns unique_id, ds, y_hat, p10..p95; quantiles are sorted so they never cross."""
        q = np.sort(frame[list(QUANTILE_FIELDS)].to_numpy(dtype=float), axis=1)
        return cls(
            unique_id=frame[ID].to_numpy(),
            ds=frame[DS].to_numpy(),
            mean=frame["y_hat"].to_numpy(dtype=float),
            p10=q[:, 0],
            p50=q[:, 1],
            p90=q[:, 2],
            p95=q[:, 3],
            model=model,
        )


class Forecaster(ABC):
    """A forecasting model. Subclasses set `name` and implement `fit` and `predict`.

    Contract (checked by tests/ml_core/test_forecaster_contract.py for every model):
    - `__init__` takes keyword hyperparameters only and does no work;
    - `fit(data)` returns self and sets `ids_` (the series it knows) and `freq_`;
    - `predict(horizon, future)` returns a `Forecast` with exactly one row per known series and
      step 1..horizon after that series' last observation, non-negative, with quantiles in order
      p10 <= p50 <= p90 <= p95; `future` holds `future_exog` values for those rows;
    - `predict` before `fit` raises `NotFittedError`.
    """

    name: ClassVar[str]
    # Whether each series' forecast depends on that series alone: such a model may be fitted on
    # any partition of the series and give the same forecasts (`ml_core.forecasting.partitioned`).
    per_series: ClassVar[bool] = False
    ids_: np.ndarray
    """The series a fitted model knows, in its forecasts' order."""

    @abstractmethod
    def fit(self, data: SeriesData) -> Self: ...

    @abstractmethod
    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast: ...


def trained_for(model: Forecaster, horizon: int) -> Forecaster:
    """`model`, set to train for `horizon` steps if it learns a horizon and was given none.

    The direct multi-horizon models (the global model, the GBM) and those that fit others
    (`auto`, `ensemble`) take a `horizon` hyperparameter; left unset it means a default (13
    weeks, 28 days), which a caller forecasting another horizon cannot use (longer) or uses
    badly (shorter: trained and cross-validated for steps never asked for). Like scikit-learn's
    `set_params`, it sets the hyperparameter on the unfitted model and returns it."""
    if getattr(model, "horizon", 0) is None:
        model.horizon = horizon  # type: ignore[attr-defined]
    return model


class NotFittedError(RuntimeError):
    """`predict` was called on a model that has not been fitted."""


def future_index(frame: pd.DataFrame, horizon: int, freq: Freq) -> pd.DataFrame:
    """(unique_id, ds) of the `horizon` steps after each series' last observation."""
    last = frame.groupby(ID, sort=True)[DS].max()
    offset = pd.tseries.frequencies.to_offset(freq if freq == "D" else "7D")
    steps = np.arange(1, horizon + 1)
    ds = last.to_numpy()[:, None] + steps[None, :] * pd.Timedelta(offset)
    return pd.DataFrame(
        {ID: np.repeat(last.index.to_numpy(), horizon), DS: ds.ravel().astype("datetime64[ns]")}
    )
