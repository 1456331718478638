"""Champion against challenger for the forecaster: both versions on the same backtest windows.

The two registry versions are loaded (signatures checked), and copies of both are refitted and
scored on the same rolling-origin windows of the same panel: the challenger's training scope
(its store, history days and as-of day) and horizon, the windows the promotion rule asks for. The
figures feed the promotion gate (`evals.promotion`); the table and the HTML report with its plots
are what a person reads before trusting the gate.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ml_core.forecasting.backtest import BacktestResult, BacktestSpec, backtest
from ml_core.forecasting.base import Forecaster, SeriesData
from ml_core.forecasting.metrics import CUTOFF, evaluate, metrics_dict
from ml_core.forecasting.report import write_report
from ml_core.forecasting.served import ARTIFACT
from ml_core.forecasting.store_panel import sales_panel
from ml_core.registry import ArtifactRegistry, Manifest

ROLES = ("champion", "challenger")
# The figures the gate reads and the per-window table shows.
SCORES = ("wape", "mase", "pinball", "coverage_80")


@dataclass(frozen=True, slots=True)
class ForecasterComparison:
    champion: Manifest
    challenger: Manifest
    result: BacktestResult
    data: SeriesData

    def scores(self) -> dict[str, dict[str, float]]:
        """Per role, every figure of `metrics.evaluate` over all windows (undefined ones left
        out)."""
        table = metrics_dict(self.result.metrics)
        return {
            role: {k: float(v) for k, v in table[role].items() if v is not None} for role in ROLES
        }

    def per_window(self) -> pd.DataFrame:
        """One row per backtest window: each role's WAPE, MASE, pinball and 80% coverage."""
        table = evaluate(self.result.forecasts, self.result.scales, by=("model", CUTOFF))
        wide = table[list(SCORES)].unstack("model")
        wide.columns = [f"{role} {score}" for score, role in wide.columns]
        ordered = [f"{role} {score}" for score in SCORES for role in ROLES]
        return wide[ordered].rename_axis(CUTOFF).reset_index()

    def basis(self) -> str:
        """What both were scored on, in words."""
        spec = self.result.spec
        cuts = ", ".join(str(c.date()) for c in self.result.cutoffs)
        return (
            f"{spec.windows} backtest windows of {spec.horizon} days (cutoffs {cuts}) on "
            f"{self.data.frame['unique_id'].nunique():,} series"
        )

    def write_report(self, path: Path) -> Path:
        """An HTML report: the figures, the per-window table and the backtest's plots."""
        extra = f"<h2>Per backtest window</h2>{_html_table(self.per_window())}"
        return write_report(
            self.result,
            self.data,
            path,
            title=(
                f"Forecaster champion {self.champion.version} "
                f"({self.champion.parameters.get('model')}) against challenger "
                f"{self.challenger.version} ({self.challenger.parameters.get('model')})"
            ),
            extra_html=extra,
        )


def _html_table(frame: pd.DataFrame) -> str:
    heads = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        rows.append("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    return "–" if pd.isna(value) else f"{float(value):.4f}"


def load_forecaster(registry: ArtifactRegistry, version: str) -> tuple[Manifest, Forecaster]:
    manifest, folder = registry.load(ARTIFACT, version)
    with (folder / "model.pkl").open("rb") as handle:
        model: Forecaster = pickle.load(handle)  # noqa: S301  # our own signed, verified file
    return manifest, model


def compare_forecasters(
    engine: Engine,
    registry: ArtifactRegistry,
    champion: str,
    challenger: str,
    *,
    windows: int,
    step: int,
) -> ForecasterComparison:
    """Score both versions on the same windows of the challenger's panel and horizon."""
    champion_manifest, champion_model = load_forecaster(registry, champion)
    challenger_manifest, challenger_model = load_forecaster(registry, challenger)
    scope = challenger_manifest.parameters
    as_of = scope.get("as_of")
    data, _ = sales_panel(
        engine,
        location_id=scope.get("location_id"),
        history_days=scope.get("history_days"),
        as_of=None if as_of is None else dt.date.fromisoformat(as_of),
    )
    horizon = int(scope.get("horizon") or champion_manifest.parameters.get("horizon") or 28)
    factories: dict[str, Callable[[], Forecaster]] = {
        "champion": lambda: copy.deepcopy(champion_model),
        "challenger": lambda: copy.deepcopy(challenger_model),
    }
    result = backtest(
        data,
        factories,
        BacktestSpec(horizon=horizon, step=step, windows=windows),
        show_progress=False,
    )
    return ForecasterComparison(champion_manifest, challenger_manifest, result, data)
