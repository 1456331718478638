"""Benchmark (issue 21): batch forecasting of 20,000 series in process against a local Ray cluster.

A synthetic daily panel (`--series` series of `--days` days: a level per series, a weekly
pattern, Poisson noise, and some series that start late) is forecast `--horizon` days ahead by
`--model` (a per-series model from `MODELS`) twice per repeat: in process, as `aisle forecast run`
does without `AISLE_RAY_ADDRESS`, and with `AISLE_RAY_ADDRESS=local` on a Ray instance of
`--cpus` CPUs, where `batch_model` runs the panel in series partitions, one Ray task each. The two
forecasts must be identical (every value, bit for bit). Ray's start-up and the first run (fresh
workers importing Aisle) are reported apart from the timed repeats, which alternate between the
two so that load on a shared machine falls on both.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ray_forecast.py [--series 20000] [--days 365]
        [--horizon 28] [--model seasonal_naive] [--cpus 2] [--repeats 3]

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from rich.console import Console
from worlds import machine

from ml_core.forecasting.base import DS, ID, SeriesData, Y
from ml_core.forecasting.models import MODELS
from ml_core.forecasting.partitioned import Partitioned, batch_model
from retail.settings import get_settings

console = Console(stderr=True)


def synthetic_panel(series: int, days: int, seed: int = 21) -> SeriesData:
    """`series` daily series ending on the same day; one in ten starts up to half-way in."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2026-11-30")
    start = rng.integers(0, days // 2, size=series) * (rng.random(series) < 0.1)
    length = days - start
    level = rng.lognormal(mean=1.0, sigma=1.0, size=series)
    weekly = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(7) / 7.0 + rng.random((series, 1)) * 6.28)
    ids = np.repeat(np.array([f"S{i:05d}" for i in range(series)], dtype=object), length)
    offset = np.concatenate([np.arange(s, days) for s in start])
    owner = np.repeat(np.arange(series), length)
    rate = level[owner] * weekly[owner, offset % 7]
    frame = pd.DataFrame(
        {
            ID: ids,
            DS: end - pd.to_timedelta(days - 1 - offset, unit="D"),
            Y: rng.poisson(rate).astype(float),
        }
    )
    return SeriesData(frame, "D")


def forecast(model: str, data: SeriesData, horizon: int) -> tuple[pd.DataFrame, float, int]:
    """The forecast as `aisle forecast run` makes it under the current settings, its wall time,
    and how many partitions it ran in."""
    get_settings.cache_clear()
    started = time.perf_counter()
    fitted = batch_model(MODELS[model]())
    frame = fitted.fit(data).predict(horizon).to_frame()
    elapsed = time.perf_counter() - started
    parts = len(fitted.parts_) if isinstance(fitted, Partitioned) else 1
    return frame, elapsed, parts


def timed(
    label: str, run: Callable[[], tuple[pd.DataFrame, float, int]]
) -> tuple[pd.DataFrame, float, int]:
    frame, seconds, parts = run()
    console.log(f"{label}: {seconds:.2f} s ({parts} partition{'s' if parts > 1 else ''})")
    return frame, seconds, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--model", default="seasonal_naive")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not MODELS[args.model]().per_series:
        raise SystemExit(f"{args.model} is not a per-series model; Ray would not partition it.")

    import ray

    data = synthetic_panel(args.series, args.days)
    console.log(f"panel: {args.series:,} series, {len(data.frame):,} rows")

    def in_process() -> tuple[pd.DataFrame, float, int]:
        os.environ.pop("AISLE_RAY_ADDRESS", None)
        return forecast(args.model, data, args.horizon)

    def on_ray() -> tuple[pd.DataFrame, float, int]:
        os.environ["AISLE_RAY_ADDRESS"] = "local"
        return forecast(args.model, data, args.horizon)

    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    console.log(f"ray.init: {ray_start:.2f} s")
    reference, first_here, _ = timed("in process, first run", in_process)
    first, first_ray, parts = timed("ray, first run (workers start and import)", on_ray)
    identical = [first.equals(reference)]
    repeatable: list[bool] = []
    here: list[float] = []
    there: list[float] = []
    for i in range(args.repeats):
        frame, seconds, _ = timed(f"in process, repeat {i + 1}", in_process)
        repeatable.append(frame.equals(reference))
        here.append(seconds)
        frame, seconds, _ = timed(f"ray, repeat {i + 1}", on_ray)
        identical.append(frame.equals(reference))
        there.append(seconds)
    ray.shutdown()

    median_here, median_ray = statistics.median(here), statistics.median(there)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "command": " ".join(sys.argv),
        "series": args.series,
        "rows": len(data.frame),
        "forecast_rows": len(reference),
        "model": args.model,
        "horizon": args.horizon,
        "ray_cpus": args.cpus,
        "partitions": parts,
        "ray_identical_to_in_process": f"{sum(identical)} of {len(identical)} Ray runs",
        "in_process_repeats_identical": f"{sum(repeatable)} of {len(repeatable)}",
        "ray_init_s": round(ray_start, 2),
        "first_run_s": {"in_process": round(first_here, 2), "ray": round(first_ray, 2)},
        "repeats_s": {
            "in_process": [round(s, 2) for s in here],
            "ray": [round(s, 2) for s in there],
        },
        "median_s": {"in_process": round(median_here, 2), "ray": round(median_ray, 2)},
        "ray_over_in_process": round(median_ray / median_here, 2),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if not all(identical + repeatable):
        raise SystemExit("Ray's forecasts differ from the in-process ones.")


if __name__ == "__main__":
    main()
