"""Benchmark: wall time and accuracy of `aisle forecast backtest` with its default models (every
model: seasonal_naive, ets, theta, tsb, croston_sba, global, gbm, ensemble, auto), this checkout
against a baseline git ref (main) run in the same session on the same panel.

Panels (weekly, written to a temporary CSV the command reads, never into the repository):
- `walmart`: ../shared/data/walmart/walmart_sales_weekly.csv, the first `--series` store x
  department ids in sorted order (the file holds 7);
- `world`: the generated world's daily SKU x location sales (a seeded var directory, `--var-dir`,
  or the small world seeded into a scratch folder) summed into weeks ending on the world's last
  day, each series from its first whole week after launch, the first `--series` ids in sorted
  order; the week's mean price ratio and share of promotion days are known-future covariates,
  category and location static attributes.

Each command runs as a new process, as a user runs it: `python -c "from api.cli import main"
forecast backtest ...` from this checkout or `git archive NEW_REF` (`--runs` times) and from
`git archive BASELINE_REF` (`--baseline-runs` times), extracted into a scratch folder. With
`--baseline-series M` the baseline runs on the first M series only and its time is extrapolated
linearly to the panel's series; the new code then also runs on those M series, so accuracy is
compared on the same panel. WAPE and MASE per model come from each run's metrics.json; the
load average is read before and after each run, and the CPU time of the command's processes
(workers included) is reported beside the wall time, since a shared machine stretches the wall
time most.

    .venv/bin/python benchmarks/bench_backtest_speed.py --panel world --var-dir var --series 1000
    .venv/bin/python benchmarks/bench_backtest_speed.py --panel walmart --runs 3

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from worlds import REPO, machine, world_var_dir

console = Console(stderr=True)
WALMART = REPO.parent / "shared" / "data" / "walmart" / "walmart_sales_weekly.csv"
CLI = "import sys; sys.argv[0] = 'aisle'; from api.cli import main; main()"


def walmart_panel(series: int, folder: Path) -> tuple[Path, list[str]]:
    """The first `series` ids of the Walmart file as a CSV, and the CLI's column arguments."""
    raw = pd.read_csv(WALMART)
    ids = sorted(raw["id"].unique())[:series]
    path = folder / "walmart.csv"
    raw[raw["id"].isin(ids)][["id", "Date", "Weekly_Sales"]].to_csv(path, index=False)
    args = ["--id-col", "id", "--time-col", "Date", "--target-col", "Weekly_Sales"]
    return path, args


def world_panel(var_dir: Path, series: int, folder: Path) -> tuple[Path, list[str]]:
    """The world's first `series` SKU x location ids, summed into weeks, as a CSV."""
    from bench_forecast_world import load_world

    world = load_world(var_dir)
    n_days = world["y"].shape[1]
    offset = n_days % 7  # whole weeks that end on the world's last day
    weeks = (n_days - offset) // 7
    ids = world["series"]["unique_id"].to_numpy()
    chosen = np.sort(np.argsort(ids, kind="stable")[:series])

    def weekly(values: np.ndarray, how: str) -> np.ndarray:
        cube = values[chosen, offset:].reshape(len(chosen), weeks, 7).astype(np.float64)
        return cube.sum(axis=2) if how == "sum" else cube.mean(axis=2)

    y = weekly(world["y"], "sum")
    price = weekly(world["price_ratio"], "mean")
    promo = weekly(world["on_promo"], "mean")
    first_week = np.maximum(np.ceil((world["launch"][chosen] - offset) / 7), 0).astype(np.int64)
    rows, week = np.nonzero(np.arange(weeks)[None, :] >= first_week[:, None])
    week_end = world["days"][offset + 6 :: 7].to_numpy()
    statics = world["series"].iloc[chosen]
    frame = pd.DataFrame(
        {
            "unique_id": ids[chosen][rows],
            "ds": week_end[week],
            "y": y[rows, week],
            "price_ratio": price[rows, week].round(4),
            "on_promo": promo[rows, week].round(4),
            "category_id": statics["category_id"].to_numpy()[rows],
            "location_id": statics["location_id"].to_numpy()[rows],
        }
    )
    path = folder / "world_weekly.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    args = ["--future-exog", "price_ratio,on_promo", "--static-cols", "category_id,location_id"]
    return path, args


def first_series(path: Path, id_col: str, series: int, folder: Path) -> Path:
    """The first `series` ids of a panel CSV, as another CSV."""
    frame = pd.read_csv(path)
    ids = sorted(frame[id_col].astype(str).unique())[:series]
    out = folder / f"{path.stem}_{series}.csv"
    frame[frame[id_col].astype(str).isin(ids)].to_csv(out, index=False)
    return out


def checkout(ref: str, folder: Path) -> Path:
    """`git archive ref` of this repository extracted under `folder`."""
    target = folder / f"code-{ref.replace('/', '_')}"
    target.mkdir()
    archive = folder / f"{target.name}.tar"
    subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), ref], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def run_backtest(
    code: Path, data: Path, column_args: list[str], spec: list[str], extra: list[str], out: Path
) -> dict[str, Any]:
    """One `aisle forecast backtest` of the default models with the code in `code`."""
    env = {**os.environ, "PYTHONPATH": str(code), "AISLE_VAR_DIR": str(out / "var")}
    command = [
        sys.executable,
        "-c",
        CLI,
        "forecast",
        "backtest",
        "--data",
        str(data),
        "--freq",
        "W",
        *spec,
        *column_args,
        *extra,
        "--output-dir",
        str(out),
    ]
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    if done.returncode != 0:
        raise SystemExit(f"the backtest failed ({done.returncode}):\n{done.stderr[-4000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "seconds": round(seconds, 1),
        # The command's processes' CPU time (its workers' included): what a busy machine
        # stretches least.
        "cpu_seconds": round(cpu, 1),
        "fit_seconds": metrics["backtest"].get("fit_seconds"),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "series": metrics["backtest"]["series"],
        "models": {
            name: {"wape": m["wape"], "mase": m["mase"], "rows": m.get("rows")}
            for name, m in metrics["models"].items()
        },
    }


def repeat(runs: int, label: str, **kwargs: Any) -> dict[str, Any]:
    results = []
    for i in range(runs):
        out = Path(tempfile.mkdtemp(prefix=f"bt-{label}-{i}-"))
        console.print(f"{label}: run {i + 1}/{runs} ...")
        results.append(run_backtest(out=out, **kwargs))
        console.print(f"{label}: {results[-1]['seconds']} s")
    seconds = [r["seconds"] for r in results]
    return {
        "median_seconds": round(statistics.median(seconds), 1),
        "seconds": seconds,
        "cpu_seconds": [r["cpu_seconds"] for r in results],
        "fit_seconds": [r["fit_seconds"] for r in results],
        "series": results[0]["series"],
        "load": [(r["load_before"], r["load_after"]) for r in results],
        "models": results[0]["models"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", choices=["walmart", "world"], default="world")
    parser.add_argument("--var-dir", help="a seeded var directory (world panel)")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--step", type=int, default=8)
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--runs", type=int, default=2, help="runs of this checkout")
    parser.add_argument(
        "--new-ref", help="run this git ref's code as the new code (default: this checkout)"
    )
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--baseline-runs", type=int, default=1, help="0: no baseline")
    parser.add_argument(
        "--baseline-series", type=int, help="run the baseline on these first series only"
    )
    parser.add_argument("--extra", default="", help="more arguments for this checkout's command")
    args = parser.parse_args()

    spec = ["--horizon", str(args.horizon), "--step", str(args.step)]
    spec += ["--windows", str(args.windows)]
    extra = args.extra.split()
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        folder = Path(tmp)
        if args.panel == "walmart":
            data, column_args = walmart_panel(args.series, folder)
            id_col = "id"
        else:
            with world_var_dir(args.var_dir, scale="small", seed=42, console=console) as (var, _):
                data, column_args = world_panel(var, args.series, folder)
            id_col = "unique_id"
        new_code = checkout(args.new_ref, folder) if args.new_ref else REPO
        report: dict[str, Any] = {
            "benchmark": "backtest_speed",
            "date": dt.date.today().isoformat(),
            "machine": machine(),
            "panel": args.panel,
            "new_ref": args.new_ref or "working tree",
            "spec": {"horizon": args.horizon, "step": args.step, "windows": args.windows},
            "new": repeat(
                args.runs,
                "new",
                code=new_code,
                data=data,
                column_args=column_args,
                spec=spec,
                extra=extra,
            ),
        }
        if args.baseline_runs:
            base_code = checkout(args.baseline_ref, folder)
            base_data = data
            if args.baseline_series and args.baseline_series < args.series:
                base_data = first_series(data, id_col, args.baseline_series, folder)
                report["new_on_baseline_panel"] = repeat(
                    1,
                    "new-subset",
                    code=new_code,
                    data=base_data,
                    column_args=column_args,
                    spec=spec,
                    extra=extra,
                )
            baseline = repeat(
                args.baseline_runs,
                f"baseline-{args.baseline_ref}",
                code=base_code,
                data=base_data,
                column_args=column_args,
                spec=spec,
                extra=[],
            )
            baseline["ref"] = args.baseline_ref
            scale = report["new"]["series"] / baseline["series"]
            baseline["extrapolated_seconds"] = round(baseline["median_seconds"] * scale, 1)
            baseline["extrapolated_cpu_seconds"] = round(
                statistics.median(baseline["cpu_seconds"]) * scale, 1
            )
            report["baseline"] = baseline
            report["speedup"] = round(
                baseline["extrapolated_seconds"] / report["new"]["median_seconds"], 2
            )
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
