"""`aisle forecast run`: forecast the store's own SKU x location demand and store it, versioned.

The fitted model is saved in the artifact registry; the forecast rows are written under a
`forecast_runs` row that names the model version, so every proposal made from them can cite it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from ml_core.forecasting.base import DS, ID, Forecaster, future_index
from ml_core.forecasting.store_panel import (
    attach_price_covariates,
    load_price_events,
    sales_panel,
)
from ml_core.registry import ArtifactRegistry
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


def run_store_forecast(
    engine: Engine,
    registry: ArtifactRegistry,
    model: Forecaster,
    *,
    horizon: int,
    location_id: str | None = None,
    history_days: int | None = None,
) -> ForecastRunResult:
    data, last_day = sales_panel(engine, location_id=location_id, history_days=history_days)
    data_hash = hashlib.sha256(
        pd.util.hash_pandas_object(data.frame[[ID, DS, "y"]], index=False).to_numpy().tobytes()
    ).hexdigest()
    model.fit(data)
    future = _future_covariates(engine, data.frame, horizon)
    forecast = model.predict(horizon, future)

    def write(folder: Path) -> None:
        with (folder / "model.pkl").open("wb") as handle:
            pickle.dump(model, handle)

    manifest = registry.save(
        name=f"forecaster-{model.name}",
        kind="forecaster",
        data_hash=data_hash,
        write=write,
        parameters={
            "model": model.name,
            "horizon": horizon,
            "location_id": location_id,
            "history_days": history_days,
            "series": int(len(data.ids)),
        },
    )
    frame = forecast.to_frame()
    keys = frame[ID].str.rsplit("@", n=1, expand=True)
    run_id = uuid.uuid4().hex
    rows = pd.DataFrame(
        {
            "run_id": run_id,
            "variant_id": keys[0],
            "location_id": keys[1],
            "day": pd.to_datetime(frame[DS]).dt.strftime("%Y-%m-%d"),
            "mean": frame["y_hat"].astype(float),
            **{q: frame[q].astype(float) for q in ("p10", "p50", "p90", "p95")},
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
                "metrics": {},
            },
        )
        written = copy_frame(conn, "forecasts", rows)
    return ForecastRunResult(
        run_id, model.name, manifest.version, int(len(data.ids)), written, first_day, horizon
    )


def _future_covariates(engine: Engine, history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Planned prices and scheduled promotions over the horizon, for every series."""
    future = future_index(history, horizon, "D")
    statics = history.groupby(ID, sort=True)[["category_id", "location_id", "product_id"]].first()
    future = future.join(statics, on=ID)
    future["variant_id"] = future[ID].str.rsplit("@", n=1).str[0]
    with engine.connect() as conn:
        prices, promos = load_price_events(conn)
    return attach_price_covariates(future, prices, promos).sort_values([ID, DS])
