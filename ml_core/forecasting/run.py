"""`aisle forecast run`: forecast the store's own SKU x location demand and store it, versioned.

The fitted model is saved in the artifact registry; the forecast rows are written under a
`forecast_runs` row that names the model version, so every proposal made from them can cite it.
With reconciliation, a second model of the same kind forecasts every aggregate of the retail
hierarchy (category x region, department x store, the chain, ...) and the two sets of forecasts
are reconciled: the SKU x location rows then come out coherent with the aggregates, which are
stored too (`forecast_aggregates`).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ml_core.forecasting.backtest import BacktestSpec, backtest
from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecaster,
    SeriesData,
    Y,
    future_index,
    trained_for,
)
from ml_core.forecasting.hierarchy import BOTTOM, Hierarchy, Method, build_hierarchy, reconcile
from ml_core.forecasting.horizon import METRICS_KEY, TotalsBacktest
from ml_core.forecasting.partitioned import batch_model
from ml_core.forecasting.served import ARTIFACT
from ml_core.forecasting.store_panel import (
    FUTURE_EXOG,
    HIERARCHY_LEVELS,
    attach_price_covariates,
    hierarchy_attributes,
    load_price_events,
    sales_panel,
)
from ml_core.registry import ArtifactRegistry, Stage
from retail.store.bulk import copy_frame, table


@dataclass(frozen=True, slots=True)
class ForecastRunResult:
    run_id: str
    model: str
    model_version: str
    series: int
    rows: int
    first_day: dt.date
    horizon: int
    reconciled_with: str | None = None
    aggregate_rows: int = 0


def run_store_forecast(
    engine: Engine,
    registry: ArtifactRegistry,
    model: Forecaster,
    *,
    horizon: int,
    location_id: str | None = None,
    history_days: int | None = None,
    reconciliation: Method | None = None,
    aggregate_model: Forecaster | None = None,
    calibrate: bool = True,
    stage: Stage = "champion",
    by: str = "system",
    as_of: dt.date | None = None,
    lineage: dict[str, Any] | None = None,
) -> ForecastRunResult:
    """Fit `model` on the store's panel and store its forecast; with `reconciliation`,
    `aggregate_model` (a fresh model of the same kind) forecasts the hierarchy's aggregates.
    With `calibrate`, a copy of `model` is first backtested on the last `horizon` days, and the
    horizon totals' calibration is stored with the run (`ml_core.forecasting.horizon`).
    The version enters the registry in `stage`: a champion serves at once, a candidate's
    forecast is stored but serves only once it is promoted (`ml_core.forecasting.served`).
    With `as_of`, only the sales up to that day are seen (a retrain on the day of an alert).
    `lineage`: more of what made the version (the job run that trained it), in its manifest."""
    if reconciliation is not None and aggregate_model is None:
        raise ValueError("Reconciliation needs a model for the aggregate series.")
    data, last_day = sales_panel(
        engine, location_id=location_id, history_days=history_days, as_of=as_of
    )
    data_hash = hashlib.sha256(
        pd.util.hash_pandas_object(data.frame[[ID, DS, "y"]], index=False).to_numpy().tobytes()
    ).hexdigest()
    # On a Ray cluster a per-series model runs in series partitions, one task each; the
    # forecasts are the in-process ones bit for bit (`ml_core.forecasting.partitioned`).
    fitted = batch_model(trained_for(model, horizon))
    calibration = calibrate_totals(fitted, data, horizon) if calibrate else {}
    fitted.fit(data)
    future = _future_covariates(engine, data.frame, horizon)
    frame = fitted.predict(horizon, future).to_frame()
    aggregates = pd.DataFrame()
    if reconciliation is not None and aggregate_model is not None:
        aggregate_model = batch_model(trained_for(aggregate_model, horizon))
        hierarchy = build_hierarchy(hierarchy_attributes(engine, data.ids), HIERARCHY_LEVELS)
        base = pd.concat(
            [
                forecast_aggregates(aggregate_model, hierarchy, data, future, horizon),
                frame.rename(columns={ID: "node"}),
            ],
            ignore_index=True,
        )
        reconciled = reconcile(base, hierarchy, reconciliation)
        is_bottom = reconciled["level"] == BOTTOM
        frame = reconciled[is_bottom].drop(columns="level").rename(columns={"node": ID})
        aggregates = reconciled[~is_bottom]

    def write(folder: Path) -> None:
        with (folder / "model.pkl").open("wb") as handle:
            pickle.dump(fitted, handle)
        if reconciliation is not None:
            with (folder / "aggregate_model.pkl").open("wb") as handle:
                pickle.dump(aggregate_model, handle)

    manifest = registry.save(
        name=ARTIFACT,
        kind="forecaster",
        data_hash=data_hash,
        write=write,
        parameters={
            "model": model.name,
            "horizon": horizon,
            "location_id": location_id,
            "history_days": history_days,
            "series": int(len(data.ids)),
            "reconciliation": reconciliation,
            "as_of": None if as_of is None else as_of.isoformat(),
            # Lineage: the last day of sales the model saw. An alert raised after it is one
            # this version has not answered (`evals.jobs.open_alerts`).
            "data_through": last_day.date().isoformat(),
            **(lineage or {}),
        },
        stage=stage,
        by=by,
    )
    keys = frame[ID].str.rsplit("@", n=1, expand=True)
    run_id = uuid.uuid4().hex
    rows = pd.DataFrame(
        {
            "run_id": run_id,
            "variant_id": keys[0],
            "location_id": keys[1],
            "day": pd.to_datetime(frame[DS]).dt.strftime("%Y-%m-%d"),
            "mean": frame["y_hat"].astype(float),
            **{q: frame[q].astype(float) for q in QUANTILE_FIELDS},
        }
    )
    first_day = (last_day + pd.Timedelta(days=1)).date()
    with engine.begin() as conn:
        conn.execute(
            table("forecast_runs").insert(),
            {
                "id": run_id,
                "model": model.name,
                "model_version": manifest.version,
                "created_at": dt.datetime.now(dt.UTC),
                "first_day": first_day,
                "horizon": horizon,
                "parameters": manifest.parameters,
                "metrics": {METRICS_KEY: calibration} if calibration else {},
            },
        )
        written = copy_frame(conn, "forecasts", rows)
        aggregate_rows = 0
        if not aggregates.empty:
            stored = pd.DataFrame(
                {
                    "run_id": run_id,
                    "node": aggregates["node"].to_numpy(),
                    "level": aggregates["level"].to_numpy(),
                    "day": pd.to_datetime(aggregates[DS]).dt.strftime("%Y-%m-%d").to_numpy(),
                    "mean": aggregates["y_hat"].to_numpy(dtype=float),
                    **{q: aggregates[q].to_numpy(dtype=float) for q in QUANTILE_FIELDS},
                }
            )
            aggregate_rows = copy_frame(conn, "forecast_aggregates", stored)
    return ForecastRunResult(
        run_id,
        model.name,
        manifest.version,
        int(len(data.ids)),
        written,
        first_day,
        horizon,
        reconciliation,
        aggregate_rows,
    )


def calibrate_totals(model: Forecaster, data: SeriesData, horizon: int) -> dict[str, Any]:
    """Backtest a copy of `model` (not yet fitted, so the copy is a fresh model) on each series'
    last `horizon` days and calibrate the shared-level error of horizon totals on it; the
    calibration with the coverage it reaches, and what summed daily quantiles reached."""
    result = backtest(
        data,
        {model.name: lambda: copy.deepcopy(model)},
        BacktestSpec(horizon=horizon, step=horizon, windows=1),
        show_progress=False,
    )
    totals = TotalsBacktest.from_forecasts(result.forecasts, horizon)
    level_cv = totals.calibrate()
    return {
        "days": horizon,
        "cutoff": result.cutoffs[0].date().isoformat(),
        "series": len(totals.actual),
        "level_cv": level_cv,
        "coverage_80": round(totals.coverage_at(level_cv), 4),
        "coverage_80_summed_daily": round(totals.coverage_of_summed_quantiles(), 4),
    }


def forecast_aggregates(
    model: Forecaster,
    hierarchy: Hierarchy,
    data: SeriesData,
    future: pd.DataFrame,
    horizon: int,
) -> pd.DataFrame:
    """Base forecasts of every aggregate node: `model` fitted on the summed sales, with the mean
    price ratio and promotion share of each node's series as covariates and the level as a
    static attribute, so one model learns every level."""
    history = hierarchy.aggregate(data.frame, (Y,), FUTURE_EXOG)
    upper = history[history["level"] != BOTTOM].rename(columns={"node": ID})
    ahead = hierarchy.aggregate(future, (), FUTURE_EXOG)
    ahead = ahead[ahead["level"] != BOTTOM].rename(columns={"node": ID})
    model.fit(SeriesData(upper, "D", FUTURE_EXOG, ("level",)))
    return model.predict(horizon, ahead).to_frame().rename(columns={ID: "node"})


def _future_covariates(engine: Engine, history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Planned prices and scheduled promotions over the horizon, for every series."""
    future = future_index(history, horizon, "D")
    statics = history.groupby(ID, sort=True)[["category_id", "location_id", "product_id"]].first()
    future = future.join(statics, on=ID)
    future["variant_id"] = future[ID].str.rsplit("@", n=1).str[0]
    with engine.connect() as conn:
        prices, promos = load_price_events(conn)
    return attach_price_covariates(future, prices, promos).sort_values([ID, DS])
