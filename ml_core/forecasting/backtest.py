"""Rolling-origin backtests of any forecasters on any `SeriesData`, and per-series model choice.

The semantics are fixed by the CLI contract (`aisle forecast backtest`): with T the last date of
the data, the last cutoff is T - H periods and the other N-1 cutoffs step back S periods each;
each window trains on everything up to and including its cutoff and is scored on steps G+1..H
after it. A series with no observation at a cutoff (it starts later, or it has ended) sits that
window out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, Forecaster, SeriesData, Y
from ml_core.forecasting.data import PERIOD, SEASON_LENGTH
from ml_core.forecasting.metrics import CUTOFF, evaluate, seasonal_scale
from retail.errors import AisleError

FORECAST_COLUMNS: tuple[str, ...] = (ID, DS, CUTOFF, "model", "y_hat", *QUANTILE_FIELDS, Y)
BEST = "best"


class BacktestError(AisleError):
    """The backtest's settings do not fit together or do not fit the data."""


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """Horizon H, step S, windows N and gap G, all in periods of the data's frequency."""

    horizon: int
    step: int
    windows: int
    gap: int = 0

    def check(self) -> None:
        """One sentence for the first setting that makes no sense."""
        if self.horizon < 1:
            raise BacktestError(f"The horizon must be at least 1 period, not {self.horizon}.")
        if self.step < 1:
            raise BacktestError(f"The step must be at least 1 period, not {self.step}.")
        if self.windows < 1:
            raise BacktestError(f"The number of windows must be at least 1, not {self.windows}.")
        if not 0 <= self.gap < self.horizon:
            raise BacktestError(
                f"The gap must be at least 0 and less than the horizon ({self.horizon}), "
                f"not {self.gap}."
            )


def cutoffs(last: pd.Timestamp, freq: str, spec: BacktestSpec) -> list[pd.Timestamp]:
    """The N cutoffs, oldest first: last - H periods, then S periods back each."""
    period = PERIOD[freq]
    final = pd.Timestamp(last) - spec.horizon * period
    return [final - (spec.windows - 1 - i) * spec.step * period for i in range(spec.windows)]


@dataclass(slots=True)
class BacktestResult:
    """What a backtest produced: every scored forecast row and the metrics per model."""

    forecasts: pd.DataFrame
    """unique_id, ds, cutoff, model, y_hat, p10, p50, p90, p95 and the actual y."""
    metrics: pd.DataFrame
    """`metrics.evaluate` per model (index: model)."""
    scales: pd.DataFrame
    """unique_id, cutoff, scale: each window's MASE denominator per series."""
    cutoffs: list[pd.Timestamp]
    spec: BacktestSpec
    freq: str
    models: list[str]
    """Model names in the order they were run."""
    fallbacks: dict[str, int] = field(default_factory=dict)
    """Per model, how many (series, window) pairs fell back to a simpler model."""


def resolve_models(
    names: Sequence[str] | None, registry: Mapping[str, Callable[..., Forecaster]]
) -> dict[str, Callable[..., Forecaster]]:
    """The factories for `names` (all of `registry` when None); an unknown name is an error."""
    if names is None:
        return dict(registry)
    if not names:
        raise BacktestError("Name at least one model.")
    chosen: dict[str, Callable[..., Forecaster]] = {}
    for name in names:
        if name not in registry:
            raise BacktestError(f"Unknown model {name!r}: choose from {', '.join(registry)}.")
        chosen[name] = registry[name]
    return chosen


def backtest(
    data: SeriesData,
    models: Mapping[str, Callable[..., Forecaster]],
    spec: BacktestSpec,
    *,
    show_progress: bool = True,
    console: Console | None = None,
) -> BacktestResult:
    """Fit every model on every window and score its forecasts against the actuals.

    Forecast rows with no actual (a series that ends inside the window) are dropped. Progress
    (windows x models) goes to `console`, stderr by default.
    """
    spec.check()
    if not models:
        raise BacktestError("Name at least one model.")
    frame = data.frame
    period = PERIOD[data.freq]
    cuts = cutoffs(frame[DS].max(), data.freq, spec)
    earliest = frame[DS].min()
    if cuts[0] < earliest + period:
        span = int((frame[DS].max() - earliest) / period) + 1
        needed = spec.horizon + (spec.windows - 1) * spec.step + 2
        raise BacktestError(
            f"The data spans {span} periods but {spec.windows} windows of horizon "
            f"{spec.horizon} and step {spec.step} need at least {needed}; use fewer windows, "
            f"a smaller step or a shorter horizon."
        )

    actuals = frame[[ID, DS, Y]]
    rows: list[pd.DataFrame] = []
    scales: list[pd.DataFrame] = []
    fallbacks = dict.fromkeys(models, 0)
    progress = Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("backtest", total=len(cuts) * len(models))
        for w, cutoff in enumerate(cuts, start=1):
            window = _window(data, cutoff, spec.horizon)
            if window is None:
                progress.advance(task, len(models))
                continue
            train, future = window
            scale = seasonal_scale(train.frame, SEASON_LENGTH[data.freq]).reset_index()
            scales.append(scale.assign(**{CUTOFF: cutoff}))
            for name, factory in models.items():
                progress.update(task, description=f"window {w}/{len(cuts)}: {name}")
                model = factory()
                forecast = model.fit(train).predict(spec.horizon, future.drop(columns="step"))
                fell_back = forecast.meta.get("fallback", ())
                if isinstance(fell_back, Sized):
                    fallbacks[name] += len(fell_back)
                scored = _score(forecast.to_frame(), future, actuals, spec, name)
                rows.append(scored.assign(**{CUTOFF: cutoff, "model": name}))
                progress.advance(task)
    if not rows:
        raise BacktestError("No series has data at any cutoff, so there is nothing to score.")
    forecasts = pd.concat(rows, ignore_index=True)[list(FORECAST_COLUMNS)]
    forecasts = forecasts.sort_values(["model", CUTOFF, ID, DS], kind="stable")
    forecasts = forecasts.reset_index(drop=True)
    scale_frame = pd.concat(scales, ignore_index=True)[[ID, CUTOFF, "scale"]]
    return BacktestResult(
        forecasts=forecasts,
        metrics=evaluate(forecasts, scale_frame).reindex(
            [name for name in models if name in set(forecasts["model"])]
        ),
        scales=scale_frame,
        cutoffs=cuts,
        spec=spec,
        freq=data.freq,
        models=list(models),
        fallbacks=fallbacks,
    )


def _window(
    data: SeriesData, cutoff: pd.Timestamp, horizon: int
) -> tuple[SeriesData, pd.DataFrame] | None:
    """The training data up to `cutoff` of the series alive at it, and their future rows.

    The future rows hold (unique_id, ds, step) for steps 1..H after each series' last training
    date, with the future exogenous values the data has for them; past a series' end they carry
    its last known values forward, since a model must be given something for every row.
    """
    frame = data.frame
    period = PERIOD[data.freq]
    train = frame[frame[DS] <= cutoff]
    last = train.groupby(ID, sort=True)[DS].max()
    # Weekly series may fall on any weekday, so "has data at the cutoff" means a row in the
    # period that ends at the cutoff.
    alive = last[last > cutoff - period]
    if alive.empty:
        return None
    train = train[train[ID].isin(alive.index)].reset_index(drop=True)
    steps = np.arange(1, horizon + 1)
    future = pd.DataFrame(
        {
            ID: np.repeat(alive.index.to_numpy(), horizon),
            DS: (alive.to_numpy()[:, None] + steps[None, :] * period.to_timedelta64()).ravel(),
            "step": np.tile(steps, len(alive)),
        }
    )
    future[DS] = future[DS].astype("datetime64[ns]")
    exog = list(data.future_exog)
    if exog:
        future = future.merge(frame[[ID, DS, *exog]], on=[ID, DS], how="left")
        last_known = train.groupby(ID, sort=True)[exog].last()
        for col in exog:
            filled = future.groupby(ID, sort=False)[col].ffill()
            future[col] = filled.fillna(future[ID].map(last_known[col]))
    window = SeriesData(
        frame=train, freq=data.freq, future_exog=data.future_exog, static_cols=data.static_cols
    )
    return window, future


def _score(
    predicted: pd.DataFrame,
    future: pd.DataFrame,
    actuals: pd.DataFrame,
    spec: BacktestSpec,
    model: str,
) -> pd.DataFrame:
    """Steps G+1..H of `predicted`, joined to their actuals; rows without an actual are dropped."""
    expected = future[[ID, DS, "step"]]
    joined = expected.merge(predicted, on=[ID, DS], how="left", validate="one_to_one")
    if len(predicted) != len(expected) or joined["y_hat"].isna().any():
        raise RuntimeError(
            f"Model {model!r} did not return exactly one forecast per series and step "
            f"({len(predicted)} rows for {len(expected)})."
        )
    values = joined[["y_hat", *QUANTILE_FIELDS]].to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise RuntimeError(f"Model {model!r} returned a negative or non-finite forecast.")
    scored = joined[joined["step"] > spec.gap].merge(actuals, on=[ID, DS], how="inner")
    return scored.drop(columns="step")


def select_per_series(result: BacktestResult, metric: str = "mase") -> pd.DataFrame:
    """Forecast rows of a "best" pseudo-model that picks, per series, the model that did best.

    Honest by construction: the choice for window k uses only windows before k (the mean
    per-window MASE, or WAPE, of each model on that series), so "best" has no forecasts for the
    first window and is scored on windows 2..N only. A window whose scale is 0 (a series that
    repeats itself exactly, or sold nothing) is compared on plain MAE, which ranks models on one
    series the same way. Ties go to the first model in the order they were run. Returns rows
    shaped like `result.forecasts` with model "best" and a `chosen` column naming the model used.
    """
    if metric not in ("mase", "wape"):
        raise BacktestError(f"Select by 'mase' or 'wape', not {metric!r}.")
    fc = result.forecasts
    err = fc.assign(abs_err=(fc[Y] - fc["y_hat"]).abs(), abs_y=fc[Y].abs())
    per_window = err.groupby(["model", ID, CUTOFF], sort=True)[["abs_err", "abs_y"]].agg(
        {"abs_err": "mean", "abs_y": "mean"}
    )
    per_window = per_window.reset_index()
    if metric == "mase":
        per_window = per_window.merge(result.scales, on=[ID, CUTOFF], how="left")
        denom = per_window["scale"]
    else:
        denom = per_window["abs_y"]
    per_window["score"] = per_window["abs_err"] / denom.where(denom > 0, 1.0)
    order = {name: i for i, name in enumerate(result.models)}
    chosen_parts: list[pd.DataFrame] = []
    for cutoff in result.cutoffs[1:]:
        earlier = per_window[per_window[CUTOFF] < cutoff]
        mean = earlier.groupby([ID, "model"], sort=True)["score"].mean().reset_index()
        mean["rank"] = mean["model"].map(order)
        best = mean.sort_values([ID, "score", "rank"], kind="stable").drop_duplicates(ID)
        chosen_parts.append(best[[ID, "model"]].assign(**{CUTOFF: cutoff}))
    if not chosen_parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "chosen"])
    chosen = pd.concat(chosen_parts, ignore_index=True)
    picked = fc.merge(chosen, on=[ID, CUTOFF, "model"], how="inner")
    picked = picked.assign(chosen=picked["model"], model=BEST)
    return picked[[*FORECAST_COLUMNS, "chosen"]].reset_index(drop=True)


def selection_metrics(result: BacktestResult, metric: str = "mase") -> pd.DataFrame | None:
    """Per-series choice scored against every model on the same windows (2..N).

    `select_per_series` can only be scored from the second window on, so its figures are set
    beside each model's on exactly those rows; None when there is nothing to choose between (one
    model or one window).
    """
    if len(result.models) < 2 or len(result.cutoffs) < 2:
        return None
    best = select_per_series(result, metric)
    later = result.forecasts[result.forecasts[CUTOFF] >= result.cutoffs[1]]
    rows = pd.concat([later, best.drop(columns="chosen")], ignore_index=True)
    table = evaluate(rows, result.scales)
    order = [name for name in [*result.models, BEST] if name in table.index]
    chosen = best.drop_duplicates([ID, CUTOFF])["chosen"].value_counts()
    table = table.reindex(order)
    table["chosen"] = [int(chosen.get(name, 0)) if name != BEST else None for name in order]
    return table
