"""A self-contained HTML report of a backtest: metrics, calibration and forecast plots.

Plots are drawn with matplotlib's Agg canvas (no display, no pyplot global state) and inlined as
base64 PNG, so the file opens anywhere, offline, and can be attached to an evaluation run.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ml_core.forecasting.backtest import BacktestResult
from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, QUANTILES, SeriesData, Y
from ml_core.forecasting.breakdown import STEP, by_segment, by_step, segment_columns
from ml_core.forecasting.data import PERIOD
from ml_core.forecasting.metrics import CUTOFF, NOMINAL_COVERAGE

TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mae", "MAE"),
    ("wape", "WAPE"),
    ("mape", "MAPE"),
    ("smape", "sMAPE"),
    ("mase", "MASE"),
    ("pinball", "pinball"),
    ("coverage_80", "cov. p10-p90 (80%)"),
    ("coverage_p90", "≤ p90 (90%)"),
    ("coverage_p95", "≤ p95 (95%)"),
    ("series", "series"),
    ("rows", "rows"),
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
img { max-width: 100%; display: block; margin: 1rem 0; }
.note { color: #555; font-size: 0.9rem; }
"""


def write_report(
    result: BacktestResult,
    data: SeriesData,
    path: Path,
    *,
    title: str = "Forecast backtest",
    series: int = 4,
    extra_html: str = "",
) -> Path:
    """Write `path` (an .html file) for `result` on `data`; plots the `series` largest series.
    `extra_html` (already escaped) goes after the metrics table."""
    spec = result.spec
    cutoffs = ", ".join(str(c.date()) for c in result.cutoffs)
    n_series = result.forecasts[ID].nunique()
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>"
        f"{data.frame[ID].nunique():,} series, frequency {html.escape(result.freq)}; "
        f"{n_series:,} scored. Horizon {spec.horizon}, step {spec.step}, "
        f"{spec.windows} windows, gap {spec.gap} (steps {spec.gap + 1}..{spec.horizon} "
        f"scored). Cutoffs: {cutoffs}."
        "</p>",
        "<h2>Metrics per model</h2>",
        _metrics_table(result.metrics),
        '<p class="note">WAPE = sum |error| / sum |actual|; MAPE skips zero actuals; MASE divides '
        "each series' error by its in-sample seasonal-naive error on the training part of the "
        "window. Coverage columns are shares of actuals inside the interval or at or below the "
        "quantile, nominal level in brackets.</p>",
        extra_html,
        _img(_accuracy_chart(result.metrics)),
        "<h2>Calibration</h2>",
        _img(_calibration_chart(result.metrics)),
        *_breakdown_sections(result, data),
        "<h2>Actuals and forecasts, largest series</h2>",
        '<p class="note">Black: actuals. Lines: each model\'s mean forecast per window; bands: '
        "p10-p90. Dashed: cutoffs.</p>",
    ]
    for uid in _largest(result.forecasts, series):
        parts.append(_img(_series_chart(result, data, uid)))
    if any(result.fallbacks.values()):
        fell = ", ".join(f"{m}: {n}" for m, n in result.fallbacks.items() if n)
        parts.append(
            f'<p class="note">(series, window) pairs that fell back to seasonal naive because '
            f"the model could not fit them: {html.escape(fell)}.</p>"
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _fmt(value: object, name: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if name in ("rows", "series"):
        return f"{int(value):,}"  # type: ignore[call-overload]  # counts are numbers
    number = float(value)  # type: ignore[arg-type]  # metrics are numbers
    if name.startswith("coverage") or name in ("wape", "mape", "smape"):
        return f"{number:.1%}"
    return f"{number:,.3f}" if abs(number) < 100 else f"{number:,.0f}"


def _metrics_table(metrics: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in TABLE_COLUMNS)
    body = []
    for model, row in metrics.iterrows():
        cells = "".join(f"<td>{_fmt(row.get(name), name)}</td>" for name, _ in TABLE_COLUMNS)
        body.append(f"<tr><td>{html.escape(str(model))}</td>{cells}</tr>")
    return (
        f"<table><thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _breakdown_sections(result: BacktestResult, data: SeriesData) -> list[str]:
    """Error by horizon step, and by each static column that splits the series into a few
    segments: a WAPE table (models as columns) and a chart of WAPE and MASE."""
    parts = [
        "<h2>Error by horizon step</h2>",
        '<p class="note">Step h: the h-th period after the window\'s cutoff.</p>',
    ]
    steps = by_step(result)
    parts += [_pivot_table(steps, STEP), _img(_breakdown_chart(steps, STEP, line=True))]
    for column in segment_columns(data):
        table = by_segment(result, data, column)
        parts += [
            f"<h2>Error by {html.escape(column)}</h2>",
            _pivot_table(table, column),
            _img(_breakdown_chart(table, column, line=False)),
        ]
    return parts


def _pivot_table(table: pd.DataFrame, key: str) -> str:
    """WAPE with the keys as rows and the models as columns; the best of each row in bold."""
    wape = table["wape"].unstack("model")
    head = "".join(f"<th>{html.escape(str(m))}</th>" for m in wape.columns)
    body = []
    for value, row in wape.iterrows():
        best = row.min() if row.notna().any() else None
        cells = "".join(
            f"<td><b>{_fmt(v, 'wape')}</b></td>" if v == best else f"<td>{_fmt(v, 'wape')}</td>"
            for v in row
        )
        body.append(f"<tr><td>{html.escape(str(value))}</td>{cells}</tr>")
    return (
        f"<table><thead><tr><th>{html.escape(key)} (WAPE)</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _breakdown_chart(table: pd.DataFrame, key: str, *, line: bool) -> str:
    fig = Figure(figsize=(10, 3.2))
    for ax, name, label in zip(fig.subplots(1, 2), ("wape", "mase"), ("WAPE", "MASE"), strict=True):
        values = table[name].unstack("model")
        x = np.arange(len(values.index))
        width = 0.8 / max(len(values.columns), 1)
        for i, model in enumerate(values.columns):
            y = values[model].to_numpy(dtype=float)
            if line:
                ax.plot(x, y, marker="o", label=str(model))
            else:
                ax.bar(x + i * width, y, width, label=str(model))
        ax.set_xticks(
            x if line else x + width * (len(values.columns) - 1) / 2,
            [str(v) for v in values.index],
            rotation=0 if line else 30,
        )
        ax.set_xlabel(key)
        ax.set_title(f"{label} by {key} (lower is better)")
        ax.legend(fontsize=7)
    return _png(fig)


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(encoded: str) -> str:
    return f'<img alt="chart" src="data:image/png;base64,{encoded}">'


def _accuracy_chart(metrics: pd.DataFrame) -> str:
    fig = Figure(figsize=(10, 3.2))
    models = [str(m) for m in metrics.index]
    for ax, (name, label) in zip(
        fig.subplots(1, 2), (("wape", "WAPE"), ("mase", "MASE")), strict=True
    ):
        values = metrics[name].to_numpy(dtype=float)
        bars = ax.bar(models, np.nan_to_num(values), color="#4c78a8")
        ax.bar_label(bars, labels=[_fmt(v, name) for v in values], fontsize=8)
        ax.set_title(f"{label} per model (lower is better)")
        ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


def _calibration_chart(metrics: pd.DataFrame) -> str:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    levels = list(QUANTILES)
    left.plot([0, 1], [0, 1], color="#999", linestyle="--", label="perfect")
    for model, row in metrics.iterrows():
        observed = [row[f"coverage_{name}"] for name in QUANTILE_FIELDS]
        left.plot(levels, observed, marker="o", label=str(model))
    left.set_xlabel("quantile level")
    left.set_ylabel("share of actuals at or below")
    left.set_title("Quantile calibration")
    left.legend(fontsize=8)
    models = [str(m) for m in metrics.index]
    x = np.arange(len(models))
    names = ("coverage_80", "coverage_p90", "coverage_p95")
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = metrics[name].to_numpy(dtype=float)
        nominal = NOMINAL_COVERAGE[name]
        bars = right.bar(x + i * width, values, width, label=f"{name} (nominal {nominal:.0%})")
        right.hlines(
            nominal, x[0] - width, x[-1] + len(names) * width, colors=bars.patches[0].get_fc()
        )
    right.set_xticks(x + width, models, rotation=30)
    right.set_ylim(0, 1.05)
    right.set_title("Coverage against nominal (lines)")
    right.legend(fontsize=7, loc="lower right")
    return _png(fig)


def _largest(forecasts: pd.DataFrame, count: int) -> Sequence[str]:
    volume = forecasts.groupby(ID)[Y].apply(lambda y: y.abs().sum())
    return [str(i) for i in volume.sort_values(ascending=False).index[:count]]


def _series_chart(result: BacktestResult, data: SeriesData, uid: str) -> str:
    period = PERIOD[result.freq]
    start = result.cutoffs[0] - 2 * result.spec.horizon * period
    history = data.frame[(data.frame[ID] == uid) & (data.frame[DS] >= start)]
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    ax.plot(history[DS], history[Y], color="black", linewidth=1.2, label="actual")
    forecasts = result.forecasts[result.forecasts[ID] == uid]
    colors = [f"C{i}" for i in range(10)]
    for i, (model, rows) in enumerate(forecasts.groupby("model", sort=False)):
        color = colors[i % len(colors)]
        for j, (_, window) in enumerate(rows.groupby(CUTOFF, sort=True)):
            ax.plot(
                window[DS],
                window["y_hat"],
                color=color,
                linewidth=1,
                label=str(model) if j == 0 else None,
            )
            ax.fill_between(window[DS], window["p10"], window["p90"], color=color, alpha=0.15)
    for cutoff in result.cutoffs:
        ax.axvline(cutoff, color="#888", linestyle=":", linewidth=0.8)
    ax.set_title(f"series {uid}")
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)
