"""The generated world's SKU-location series as a replenishment replay against true demand.

`load_world_replay` reads a seeded store and its world's truth files (`demand.npy`, the realised
uncensored demand, and `expected_demand.npy`) and builds what `simulate_replenishment` needs to
replay the last `days` days of every series (stores and online): supplier lead times, case packs,
MOQs and unit costs from each variant's primary supplier; the shortage cost of a lost sale is the
margin (list price − unit cost); the ABC class is from each location's sales revenue over the
`ABC_DAYS` days before the replayed period. No shelf cap: the world's shelf capacities follow its
own naive rule and would bind the policy only.

Two forecasters feed the rules (`WorldReplay.simulate`):

- `moving_average`: the mean and variance of the last 28 days of demand (what a store could do);
- `oracle`: the world's true expected demand with its true gamma-Poisson spread, so the policy's
  orders are the best it can place knowing the demand distribution exactly.

Used by `benchmarks/bench_replenishment.py` and the evaluation harness's replenishment suite.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import Engine, func, select

from ml_core.inventory.policy import SERVICE_LEVELS, abc_classes
from ml_core.inventory.simulate import (
    Forecaster,
    PrecomputedForecaster,
    SimulationConfig,
    SimulationItems,
    SimulationResult,
    simulate_replenishment,
)
from retail.errors import AisleError
from retail.store.models import DailySales, Supplier, SupplierItem, Variant

ABC_DAYS = 90
FORECASTERS = ("moving_average", "oracle")


class ReplayError(AisleError):
    """The world cannot be replayed as asked."""


@dataclass(frozen=True, slots=True)
class WorldReplay:
    """The world's series ready to replay from day index `start` to its last day."""

    manifest: dict[str, Any]
    demand: NDArray[Any]  # series × days, realised and uncensored
    expected: NDArray[np.floating[Any]]  # series × days, the generator's expected demand
    items: SimulationItems
    start: int
    first_simulated_day: dt.date
    classes: dict[str, int]  # series per ABC class

    @property
    def days(self) -> int:
        return int(self.demand.shape[1]) - self.start

    def forecaster(self, name: str) -> Forecaster | None:
        """The forecaster called `name` (None: the simulation's own moving average)."""
        if name == "moving_average":
            return None
        if name == "oracle":
            return PrecomputedForecaster.oracle(self.expected)
        raise ReplayError(f"Unknown forecaster {name!r}; use one of {', '.join(FORECASTERS)}.")

    def simulate(self, name: str, config: SimulationConfig | None = None) -> SimulationResult:
        """Both rules replayed with the forecaster `name`, on the same demand and lead times."""
        return simulate_replenishment(
            self.demand,
            self.items,
            start=self.start,
            forecaster=self.forecaster(name),
            config=config or SimulationConfig(),
        )


def load_world_replay(engine: Engine, world_dir: Path, days: int) -> WorldReplay:
    """The last `days` days of the world in `world_dir` (seeded into `engine`'s store), leaving
    the moving average's window of history before them."""
    history_days = SimulationConfig().forecast_window
    if not (world_dir / "demand.npy").is_file():
        raise ReplayError(f"No generated world's demand in {world_dir}; seed the world first.")
    manifest = json.loads((world_dir / "manifest.json").read_text())
    series = pd.read_parquet(world_dir / "series.parquet")
    demand = np.load(world_dir / "demand.npy", mmap_mode="r")
    expected = np.load(world_dir / "expected_demand.npy", mmap_mode="r")
    n_days = int(demand.shape[1])
    if days < 1 or days + history_days >= n_days:
        raise ReplayError(
            f"The world has {n_days} days; replay 1 to {n_days - history_days - 1} days to "
            f"leave {history_days} days of history."
        )
    start = n_days - days
    first_day = dt.date.fromisoformat(manifest["start"])
    supply, revenue = _store_facts(engine, first_day + dt.timedelta(days=start - 1))
    frame = series.merge(supply, on="variant_id", how="left", validate="many_to_one")
    frame = frame.merge(revenue, on=["variant_id", "location_id"], how="left")
    if frame["unit_cost"].isna().any():
        raise ReplayError("Some series have no primary supplier in the store.")
    frame["revenue"] = frame["revenue"].fillna(0.0)
    classes = np.empty(len(frame), dtype="<U1")
    for _, index in frame.groupby("location_id").indices.items():
        classes[index] = abc_classes(frame["revenue"].to_numpy()[index])
    items = SimulationItems.build(
        len(frame),
        unit_cost=frame["unit_cost"].to_numpy(float),
        shortage_cost=np.maximum(frame["price"].to_numpy(float) - frame["unit_cost"], 0.0),
        lead_time_mean=frame["lead_time_mean_days"].to_numpy(float),
        lead_time_sd=frame["lead_time_sd_days"].to_numpy(float),
        service_level=[SERVICE_LEVELS[c] for c in classes],
        case_pack=frame["case_pack"].to_numpy(float),
        moq=frame["moq"].to_numpy(float),
        abc_class=classes,
    )
    return WorldReplay(
        manifest=manifest,
        demand=np.asarray(demand),
        expected=np.asarray(expected, dtype=float),
        items=items,
        start=start,
        first_simulated_day=first_day + dt.timedelta(days=start),
        classes={c: int((classes == c).sum()) for c in "ABC"},
    )


def _store_facts(engine: Engine, window_end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each variant's primary supply terms and price, and each series' sales revenue over the
    `ABC_DAYS` days up to `window_end`."""
    window_start = window_end - dt.timedelta(days=ABC_DAYS - 1)
    with engine.connect() as conn:
        supply = pd.read_sql(
            select(
                SupplierItem.variant_id,
                SupplierItem.unit_cost,
                SupplierItem.case_pack,
                SupplierItem.moq,
                Supplier.lead_time_mean_days,
                Supplier.lead_time_sd_days,
                Variant.price,
            )
            .join(Supplier, Supplier.id == SupplierItem.supplier_id)
            .join(Variant, Variant.id == SupplierItem.variant_id)
            .where(SupplierItem.is_primary.is_(True)),
            conn,
        ).drop_duplicates("variant_id")
        revenue = pd.read_sql(
            select(
                DailySales.variant_id,
                DailySales.location_id,
                func.sum(DailySales.revenue).label("revenue"),
            )
            .where(DailySales.day >= window_start, DailySales.day <= window_end)
            .group_by(DailySales.variant_id, DailySales.location_id),
            conn,
        )
    return supply, revenue
