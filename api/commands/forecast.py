"""`aisle forecast ...`: backtests on any data, and forecasts of the store's own sales."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from operator import itemgetter
from pathlib import Path
from typing import Annotated

import typer

from api.commands.common import JsonFlag, print_json, print_metrics_table, store
from retail.errors import AisleError

# The GBM's default refit interval in a backtest: every window. Every 4th saves about 60% of
# the GBM's time at 1,000 weekly series and costs it 0.4-0.7 points of WAPE on some panels
# (docs/BENCHMARKS.md, issue 24); the default backtest is within its 10 minutes without it.
REFIT_EVERY = 1

forecast_app = typer.Typer(help="Forecast demand and backtest forecasters.", no_args_is_help=True)


def _names(value: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@forecast_app.command("backtest")
def backtest_cmd(
    data: Annotated[Path, typer.Option("--data", help="Long CSV: one row per series and period.")],
    freq: Annotated[str, typer.Option("--freq", help="D (daily) or W (weekly).")],
    horizon: Annotated[int, typer.Option("--horizon", help="Periods forecast from each cutoff.")],
    step: Annotated[int, typer.Option("--step", help="Periods between consecutive cutoffs.")],
    windows: Annotated[int, typer.Option("--windows", help="How many cutoffs.")],
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", help="Where forecasts.csv, metrics.json, report.html go."),
    ],
    gap: Annotated[
        int, typer.Option("--gap", help="Steps after a cutoff left unscored (score G+1..H).")
    ] = 0,
    id_col: Annotated[str, typer.Option("--id-col", help="Column naming the series.")] = (
        "unique_id"
    ),
    time_col: Annotated[str, typer.Option("--time-col", help="Column holding the date.")] = "ds",
    target_col: Annotated[str, typer.Option("--target-col", help="Column to forecast.")] = "y",
    future_exog: Annotated[
        str, typer.Option("--future-exog", help="Comma-separated covariates known in advance.")
    ] = "",
    static_cols: Annotated[
        str, typer.Option("--static-cols", help="Comma-separated per-series attributes.")
    ] = "",
    models: Annotated[
        str | None,
        typer.Option("--models", help="Comma-separated model names (default: every model)."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Fits at a time: models and windows run in this many processes "
            "(default: one per CPU core).",
        ),
    ] = max(1, os.cpu_count() or 1),
    warm_start: Annotated[
        bool,
        typer.Option(
            "--warm-start/--cold-start",
            help="Refit the global model on each window starting from the previous window's "
            "weights, with fewer epochs, and the GBM with the target transform and number of "
            "trees its first window's cross-validation chose (default); or fit both from "
            "scratch on every window.",
        ),
    ] = True,
    refit_every: Annotated[
        int,
        typer.Option(
            "--refit-every",
            help="Fit the GBM on its first window and every K-th after it; on the windows in "
            "between, its last fit forecasts from the window's own history (lags up to that "
            "cutoff), as statsforecast's cross_validation(refit=K). 1: fit it on every window.",
        ),
    ] = REFIT_EVERY,
) -> None:
    """Rolling-origin backtest of forecasters on any long CSV, with metrics and a report.

    The last cutoff is the last date minus H periods, the other N-1 step back S periods each;
    each window trains on everything up to its cutoff and is scored on steps G+1..H.
    """
    from ml_core.forecasting.backtest import (
        BacktestSpec,
        backtest,
        check_refit_every,
        resolve_models,
        selection_metrics,
    )
    from ml_core.forecasting.breakdown import breakdown_dict
    from ml_core.forecasting.data import check_freq, load_series_csv
    from ml_core.forecasting.metrics import metrics_dict
    from ml_core.forecasting.models import MODELS
    from ml_core.forecasting.report import write_report

    # Settings first: a typo should not cost the time it takes to read a large file.
    spec = BacktestSpec(horizon=horizon, step=step, windows=windows, gap=gap)
    spec.check()
    check_refit_every(refit_every)
    freq_ = check_freq(freq)
    chosen = resolve_models(_names(models) if models is not None else None, MODELS)
    series = load_series_csv(
        data,
        freq=freq_,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        future_exog=_names(future_exog),
        static_cols=_names(static_cols),
    )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AisleError(f"Cannot create the output folder {output_dir}: {exc.strerror}.") from None

    result = backtest(
        series, chosen, spec, n_jobs=jobs, warm_start=warm_start, refit_every=refit_every
    )

    result.forecasts.to_csv(output_dir / "forecasts.csv", index=False, date_format="%Y-%m-%d")
    per_model = metrics_dict(result.metrics)
    selection = selection_metrics(result)
    summary: dict[str, object] = {
        "models": per_model,
        "backtest": {
            "data": str(data),
            "freq": freq_,
            "horizon": horizon,
            "step": step,
            "windows": windows,
            "gap": gap,
            "cutoffs": [str(c.date()) for c in result.cutoffs],
            "series": int(series.frame["unique_id"].nunique()),
            "fallbacks": result.fallbacks,
            "jobs": jobs,
            "warm_start": warm_start,
            "refit_every": refit_every,
            "fit_seconds": result.fit_seconds,
        },
    }
    summary.update(breakdown_dict(result, series))
    if selection is not None:
        summary["selection"] = {
            "rule": "per series, the model with the lowest mean MASE on the earlier windows",
            "scored_cutoffs": [str(c.date()) for c in result.cutoffs[1:]],
            "models": metrics_dict(selection),
        }
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_report(result, series, output_dir / "report.html", title=f"Backtest of {data.name}")
    _print_metrics(per_model, "backtest metrics per model")
    if selection is not None:
        _print_metrics(
            metrics_dict(selection),
            "per-series choice ('best') beside every model, on windows 2..N",
        )
    seconds = ", ".join(f"{name} {s:,.0f} s" for name, s in result.fit_seconds.items())
    typer.echo(f"CPU time of each model's fits over the windows: {seconds}")
    typer.echo(f"wrote forecasts.csv, metrics.json and report.html to {output_dir}")


def _print_metrics(metrics: dict[str, dict[str, float | int | None]], title: str) -> None:
    columns = (
        ("mae", "MAE", "{:,.2f}"),
        ("wape", "WAPE", "{:.1%}"),
        ("mape", "MAPE", "{:.1%}"),
        ("smape", "sMAPE", "{:.1%}"),
        ("mase", "MASE", "{:.3f}"),
        ("pinball", "pinball", "{:,.2f}"),
        ("coverage_80", "cov 80%", "{:.1%}"),
        ("coverage_p90", "<=p90", "{:.1%}"),
        ("coverage_p95", "<=p95", "{:.1%}"),
    )
    print_metrics_table(
        title,
        metrics,
        [(label, itemgetter(key), fmt) for key, label, fmt in columns],
    )


@forecast_app.command("run")
def run_cmd(
    model: Annotated[
        str, typer.Option("--model", help="A model name, e.g. seasonal_naive, ets, theta.")
    ] = "seasonal_naive",
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Days to forecast.")] = 28,
    store_id: Annotated[
        str | None, typer.Option("--store", help="Only this location (default: all).")
    ] = None,
    history_days: Annotated[
        int | None, typer.Option("--history-days", min=28, help="Train on the last N days only.")
    ] = None,
    reconcile: Annotated[
        str | None,
        typer.Option(
            "--reconcile",
            help="Also forecast the hierarchy's aggregates and reconcile: bottom_up, ols, "
            "wls_struct or wls_var.",
        ),
    ] = None,
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Register the model as a challenger: its forecast is stored but serves only "
            "once `aisle models promote forecaster` passes its gate.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Forecast the store's own SKU x location demand; store it with the model's version.

    With --reconcile, a second model of the same kind forecasts every aggregate of the retail
    hierarchy (SKU, category, department x store, region, chain) and all the forecasts are made
    coherent and non-negative; the aggregates are stored beside the SKU x location rows.
    """
    from ml_core.forecasting.backtest import resolve_models
    from ml_core.forecasting.hierarchy import METHODS, HierarchyError
    from ml_core.forecasting.models import MODELS
    from ml_core.forecasting.run import run_store_forecast
    from ml_core.registry import ArtifactRegistry
    from retail.settings import get_settings

    if reconcile is not None and reconcile not in METHODS:
        raise HierarchyError(
            f"Unknown reconciliation {reconcile!r}: choose from {', '.join(METHODS)}."
        )
    factory = resolve_models([model], MODELS)[model]
    forecaster = factory()
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    with store() as engine:
        result = run_store_forecast(
            engine,
            registry,
            forecaster,
            horizon=horizon,
            location_id=store_id,
            history_days=history_days,
            reconciliation=reconcile,  # type: ignore[arg-type]
            aggregate_model=factory() if reconcile else None,
            stage="candidate" if candidate else "champion",
        )
    if as_json:
        print_json(asdict(result))
        return
    typer.echo(
        f"forecast run {result.run_id}: {result.model} version {result.model_version}, "
        f"{result.series:,} series x {result.horizon} days from {result.first_day} "
        f"({result.rows:,} rows)"
        + (
            f"; reconciled ({result.reconciled_with}) with {result.aggregate_rows:,} rows of "
            "aggregates"
            if result.reconciled_with
            else ""
        )
    )
