"""Every forecaster by the name the command line, backtests and reports use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml_core.forecasting.base import Forecaster
from ml_core.forecasting.baselines import BASELINES
from ml_core.forecasting.ensemble import Ensemble
from ml_core.forecasting.gbm import GBMForecaster

if TYPE_CHECKING:
    from retail.store.models import ForecastRun


def _global(**hyperparameters: Any) -> Forecaster:
    # Imported on use: torch costs seconds to import, and most commands never train it.
    from ml_core.forecasting.global_model import GlobalQuantileForecaster

    return GlobalQuantileForecaster(**hyperparameters)


def _ensemble(**hyperparameters: Any) -> Forecaster:
    return Ensemble(registry=MODELS, **hyperparameters)


def _auto(**hyperparameters: Any) -> Forecaster:
    from ml_core.forecasting.selection import AutoForecaster

    return AutoForecaster(registry=MODELS, **hyperparameters)


MODELS: dict[str, Callable[..., Forecaster]] = {
    **BASELINES,
    "global": _global,
    "gbm": GBMForecaster,
    "ensemble": _ensemble,
    "auto": _auto,
}

# Each forecaster as a planner reads it: pages and proposals name a model by these words, never
# by its bare name and version (the proposal's model versions keep those).
MODEL_WORDS: dict[str, str] = {
    "seasonal_naive": "Seasonal naive (last week repeated)",
    "ets": "Exponential smoothing (ETS)",
    "theta": "Theta method",
    "tsb": "Intermittent-demand smoothing (TSB)",
    "croston_sba": "Croston's method for intermittent demand (SBA)",
    "global": "Global model learned across all products",
    "gbm": "Gradient-boosted trees learned across all products (LightGBM)",
    "ensemble": "Ensemble: the median of several models",
    "auto": "The model (or blend of models) that forecast this data best in a cross-validation",
}


def describe_model(name: str) -> str:
    """A forecaster in words (its name, for one this does not know)."""
    return MODEL_WORDS.get(name, name)


def describe_run(run: ForecastRun) -> str:
    """Where a forecast came from, in words, its run's id last for whoever must look it up:
    "Global model learned across all products, forecast of 2026-11-16 (run run-1)"."""
    return f"{describe_model(run.model)}, forecast of {run.created_at:%Y-%m-%d} (run {run.id})"
