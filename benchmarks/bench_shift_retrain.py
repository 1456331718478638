"""Benchmark: a +PCT% demand shift in one category, flagged by the monitor, answered by a retrain
through the promotion gate, and the served forecast's error against the oracle before and after.

For each `--shift` case (CATEGORY:DAY) and `--seed`, a small world is seeded with
`category=CATEGORY,from=DAY,demand=+PCT%` (`retail.world.shocks`; the world's expected demand, the
oracle, moves with it). Then, as production would see it:

1. `before`: the drift job's model is trained on the sales up to DAY - H - 1 and made champion;
   its stored forecast covers the H days before the shift.
2. `unretrained`: the same model trained on the sales up to DAY - 1 becomes champion: what serves
   when the shift begins (the baseline, in the same run).
3. From DAY on, `aisle monitor run --as-of D` and `aisle jobs run forecast-retrain-on-drift
   --as-of D` (`run_monitor`, `evals.jobs.run_named`) day by day, until the job has answered a
   demand alert on the shifted category: the job trains a challenger on the sales up to D,
   scores it and the champion on the same backtest and promotes it only through the gate of
   `evals/promotion.yaml`.
4. The error of each served forecast on the shifted category's SKU x location series is WAPE
   against the actual sales, divided by the oracle's WAPE on the same rows (the world's true
   expected demand as the forecast): `before` on its H days; the champion after the retrain and
   the unretrained champion on the days both cover after the retrain (D + 1 to DAY + H - 1).
   The goal: the retrained champion's ratio within 10% of the `before` ratio. The same ratios
   over category x location daily totals, and with RMSE in place of WAPE (squared error is
   minimised by the mean, so the oracle is its best forecast), are reported beside them.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_shift_retrain.py [--seed 42 --seed 7]
        [--shift "Water Bottles:2025-12-01" --shift Socks:2026-03-02] [--pct 30] [--follow 14]
        [--model tsb]

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import Engine, text

from benchmarks.worlds import machine
from evals import jobs
from ml_core.forecasting.backtest import resolve_models
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.run import run_store_forecast
from ml_core.monitoring.alerts import run_monitor
from ml_core.registry import ArtifactRegistry
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, seed_world
from retail.world.shocks import SHOCKS_FILE, parse_shock

JOB = "forecast-retrain-on-drift"
DEFAULT_SHIFTS = ("Water Bottles:2025-12-01", "Socks:2026-03-02")
GOAL = 1.10


class Truth:
    """The shifted category's series in a seeded world: actual sales and the oracle's demand."""

    def __init__(self, engine: Engine, world: Path) -> None:
        manifest = json.loads((world / "manifest.json").read_text())
        self.start = dt.date.fromisoformat(manifest["start"])
        series = pd.read_parquet(world / "series.parquet")
        self.row = pd.Series(
            np.arange(len(series)),
            index=(series["variant_id"] + "@" + series["location_id"]).to_numpy(),
        )
        self.expected = np.load(world / "expected_demand.npy")
        (shock,) = json.loads((world / SHOCKS_FILE).read_text())
        with engine.connect() as conn:
            self.variants = set(
                conn.scalars(
                    text(
                        "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id "
                        "WHERE p.category_id = :c"
                    ),
                    {"c": shock["category_id"]},
                )
            )
            self.sales = pd.read_sql(
                text("SELECT variant_id, location_id, day, units FROM daily_sales"), conn
            )
        self.sales = self.sales[self.sales["variant_id"].isin(self.variants)]
        self.sales["day"] = pd.to_datetime(self.sales["day"]).dt.date

    def ratios(
        self, engine: Engine, run_id: str, first: dt.date, last: dt.date
    ) -> dict[str, float]:
        """WAPE of the run's mean forecast over the oracle's WAPE, on the category's series and
        on its location totals, from `first` to `last`."""
        with engine.connect() as conn:
            rows = pd.read_sql(
                text(
                    "SELECT variant_id, location_id, day, mean FROM forecasts "
                    "WHERE run_id = :r AND day >= :a AND day <= :b"
                ),
                conn,
                params={"r": run_id, "a": first, "b": last},
            )
        rows = rows[rows["variant_id"].isin(self.variants)].copy()
        rows["day"] = pd.to_datetime(rows["day"]).dt.date
        rows = rows.merge(self.sales, on=["variant_id", "location_id", "day"], how="left")
        rows["units"] = rows["units"].fillna(0.0)
        series = self.row.reindex((rows["variant_id"] + "@" + rows["location_id"]).to_numpy())
        day = np.array([(d - self.start).days for d in rows["day"]])
        rows["oracle"] = self.expected[series.to_numpy(dtype=np.int64), day]
        totals = rows.groupby(["location_id", "day"])[["mean", "units", "oracle"]].sum()
        out: dict[str, float] = {
            "days": (last - first).days + 1,
            "variants": int(rows["variant_id"].nunique()),
        }
        for grain, frame in (("series", rows), ("location_totals", totals)):
            model = np.abs(frame["units"] - frame["mean"]).sum()
            oracle = np.abs(frame["units"] - frame["oracle"]).sum()
            out[f"{grain}_wape"] = round(float(model / frame["units"].sum()), 4)
            out[f"{grain}_oracle_wape"] = round(float(oracle / frame["units"].sum()), 4)
            out[f"{grain}_ratio"] = round(float(model / oracle), 4)
            # Absolute error rewards a forecast below the mean on skewed counts (the median
            # minimises it); squared error is minimised by the mean, the oracle's forecast, so a
            # stale level cannot hide in it.
            model_sq = np.square(frame["units"] - frame["mean"]).mean()
            oracle_sq = np.square(frame["units"] - frame["oracle"]).mean()
            out[f"{grain}_rmse_ratio"] = round(float(np.sqrt(model_sq / oracle_sq)), 4)
            # Bias: the forecast's total over the actual total (a stale level shows here).
            out[f"{grain}_bias"] = round(float(frame["mean"].sum() / frame["units"].sum()), 4)
        return out


def case(
    seed: int, shift: str, pct: int, follow: int, model_name: str | None, console: Console
) -> dict[str, Any]:
    category, day_text = shift.rsplit(":", 1)
    day = dt.date.fromisoformat(day_text)
    jobs_file = jobs.load_jobs()
    spec = jobs_file.jobs[JOB]
    if model_name is not None:  # the same job with another model, champions included
        spec = spec.model_copy(update={"model": model_name})
        jobs_file = jobs_file.model_copy(update={"jobs": {**jobs_file.jobs, JOB: spec}})
    horizon = spec.horizon

    def train(as_of: dt.date) -> Any:
        model = resolve_models([spec.model], MODELS)[spec.model]()
        return run_store_forecast(
            engine,
            registry,
            model,
            horizon=horizon,
            history_days=spec.history_days,
            as_of=as_of,
            by="bench",
        )

    with TemporaryDirectory(prefix="aisle-shift-") as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
        upgrade(engine)
        started = time.perf_counter()
        seed_world(
            engine,
            scale="small",
            seed=seed,
            end=PINNED_END,
            world_dir=folder / "world",
            show_progress=False,
            shocks=(parse_shock(f"category={category},from={day},demand=+{pct}%"),),
        )
        console.print(f"seeded seed {seed} with {category} +{pct}% from {day}")
        seconds: dict[str, float] = {"seed": time.perf_counter() - started}
        registry = ArtifactRegistry(folder / "artifacts")
        truth = Truth(engine, folder / "world")

        before = train(day - dt.timedelta(days=horizon + 1))
        unretrained = train(day - dt.timedelta(days=1))
        runs: list[dict[str, Any]] = []
        monitor_s: list[float] = []
        answered = None
        for offset in range(follow + 1):
            as_of = day + dt.timedelta(days=offset)
            started = time.perf_counter()
            alerts = run_monitor(engine, as_of).alerts
            monitor_s.append(time.perf_counter() - started)
            demand = [a for a in alerts if a.kind == "drift" and a.feature == "demand"]
            started = time.perf_counter()
            run = jobs.run_named(
                engine, registry, JOB, jobs=jobs_file, as_of=as_of, show_progress=False
            )
            if run is None:
                continue
            seconds.setdefault("first_retrain_job", time.perf_counter() - started)
            runs.append(
                {
                    "as_of": as_of.isoformat(),
                    "trigger": run["trigger"],
                    "segment": run["segment"],
                    "promoted": run["decision"]["promoted"],
                    "message": run["message"],
                    "gates": run["decision"].get("gates"),
                    "scores": run["decision"].get("scores"),
                }
            )
            console.print(f"{as_of}: job ran on {run['trigger'][:100]} -> {run['message'][:80]}")
            if any(a.segment.get("category") == category and a.effect > 0 for a in demand):
                answered = as_of
                break
        result: dict[str, Any] = {
            "seed": seed,
            "category": category,
            "shift_from": day.isoformat(),
            "model": spec.model,
            "before": truth.ratios(
                engine, before.run_id, day - dt.timedelta(days=horizon), day - dt.timedelta(days=1)
            ),
            "retrain_runs": runs,
        }
        if answered is None:
            result["flagged_within_days"] = None
            console.print(f"{category} seed {seed}: not flagged within {follow} days")
            engine.dispose()
            return result
        champion = registry.ledger("forecaster").champion
        served = _newest_run(engine, champion)
        first, last = answered + dt.timedelta(days=1), day + dt.timedelta(days=horizon - 1)
        result |= {
            "flagged_within_days": (answered - day).days,
            "retrained_through": answered.isoformat(),
            "champion_is_retrained": champion != unretrained.model_version,
            "after": truth.ratios(engine, served, first, last),
            "unretrained": truth.ratios(engine, unretrained.run_id, first, last),
            "seconds": {
                **{k: round(v, 1) for k, v in seconds.items()},
                "monitor_day_median": round(statistics.median(monitor_s), 1),
            },
        }
        for grain in ("series", "location_totals", "series_rmse", "location_totals_rmse"):
            pre = result["before"][f"{grain}_ratio"]
            result[f"{grain}_after_over_before"] = round(result["after"][f"{grain}_ratio"] / pre, 4)
            result[f"{grain}_unretrained_over_before"] = round(
                result["unretrained"][f"{grain}_ratio"] / pre, 4
            )
        result["goal_met"] = result["series_after_over_before"] <= GOAL
        console.print({k: v for k, v in result.items() if k != "retrain_runs"})
        engine.dispose()
    return result


def _newest_run(engine: Engine, version: str | None) -> str:
    with engine.connect() as conn:
        return str(
            conn.scalar(
                text(
                    "SELECT id FROM forecast_runs WHERE model_version = :v "
                    "ORDER BY created_at DESC LIMIT 1"
                ),
                {"v": version},
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", help="world seeds (default 42)")
    parser.add_argument("--shift", action="append", help="CATEGORY:YYYY-MM-DD (repeatable)")
    parser.add_argument("--pct", type=int, default=30)
    parser.add_argument("--follow", type=int, default=14, help="days of monitoring at most")
    parser.add_argument("--model", help="another forecaster for the job (default: its own)")
    args = parser.parse_args()
    console = Console(stderr=True)
    cases = [
        case(seed, shift, args.pct, args.follow, args.model, console)
        for seed in args.seed or [42]
        for shift in args.shift or DEFAULT_SHIFTS
    ]
    flagged = [c for c in cases if c["flagged_within_days"] is not None]
    report: dict[str, Any] = {
        "benchmark": "shift_retrain",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {"scale": "small", "end": PINNED_END.isoformat()},
        "shift_pct": args.pct,
        "cases": cases,
        "flagged_within_7_days": sum(1 for c in flagged if c["flagged_within_days"] <= 7),
        "goal_met": sum(1 for c in flagged if c["goal_met"]),
        "of": len(cases),
    }
    for key in (
        "series_after_over_before",
        "series_unretrained_over_before",
        "series_rmse_after_over_before",
        "series_rmse_unretrained_over_before",
    ):
        if flagged:
            report[f"median_{key}"] = statistics.median(c[key] for c in flagged)
    print(json.dumps(report, indent=2, default=str))  # noqa: T201


if __name__ == "__main__":
    main()
