"""Every forecaster by the name the command line, backtests and reports use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml_core.forecasting.base import Forecaster
from ml_core.forecasting.baselines import BASELINES
from ml_core.forecasting.ensemble import Ensemble


def _global(**hyperparameters: Any) -> Forecaster:
    # Imported on use: torch costs seconds to import, and most commands never train it.
    from ml_core.forecasting.global_model import GlobalQuantileForecaster

    return GlobalQuantileForecaster(**hyperparameters)


def _ensemble(**hyperparameters: Any) -> Forecaster:
    return Ensemble(registry=MODELS, **hyperparameters)


MODELS: dict[str, Callable[..., Forecaster]] = {
    **BASELINES,
    "global": _global,
    "ensemble": _ensemble,
}
