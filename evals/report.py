"""The run's report: one self-contained HTML file with the tables and plots an evaluator reads.

Brains side by side (accuracy, grounding, refusals, latency, safety), the goals, accuracy per
suite and per intent, latency histograms, the dev sets' figures (shopper search, order tasks,
confirmations; each half apart) with what failed, the model suites (forecast calibration,
recommender, replenishment, pricing, retrieval) and every failing turn. Plots are drawn with
matplotlib's Agg canvas and inlined as SVG, so the file opens anywhere, offline.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evals.runs import duration, headline

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.8rem 0 1.6rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; max-width: 34rem; }
thead th { background: #f2f2f2; }
.headline { font-size: 1.15rem; font-weight: 600; }
.met { color: #1a7f37; font-weight: 600; } .missed { color: #cf222e; font-weight: 600; }
.note { color: #555; font-size: 0.9rem; }
svg { max-width: 100%; height: auto; display: block; margin: 0.5rem 0 1.5rem; }
"""
# The forecast's central interval, drawn apart from the one-sided quantile coverages.
INTERVAL = "coverage_80"
# (label, how to read it off a brain's summary, format)
BRAIN_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], Any], str], ...] = (
    ("tool selection accuracy", lambda b: b["tool_selection_accuracy"], "{:.1%}"),
    ("argument accuracy", lambda b: b["argument_accuracy"], "{:.1%}"),
    ("turns passed", lambda b: b["turns_passed"], "{:.1%}"),
    ("task success", lambda b: b["task_success"], "{:.1%}"),
    ("facts stated", lambda b: b["facts_stated"], "{:.1%}"),
    ("forbidden claims made", lambda b: b["forbidden_claims"], "{}"),
    ("hallucination rate (answers)", lambda b: b["hallucination_rate"], "{:.1%}"),
    ("hallucination rate (claims)", lambda b: b["claim_hallucination_rate"], "{:.2%}"),
    ("answers replaced by the guard", lambda b: b["guard_replacements"], "{:.1%}"),
    ("citation precision", lambda b: b["citation_precision"], "{:.1%}"),
    ("gold citation precision", lambda b: b["gold_citation_precision"], "{:.1%}"),
    ("gold citation hit rate", lambda b: b["gold_citation_hit_rate"], "{:.1%}"),
    ("correct refusals", lambda b: b["correct_refusals"], "{:.1%}"),
    ("over-refusals", lambda b: b["over_refusals"], "{:.1%}"),
    ("turn latency p50 (ms)", lambda b: b["latency"]["turn"]["p50_ms"], "{:,.0f}"),
    ("turn latency p95 (ms)", lambda b: b["latency"]["turn"]["p95_ms"], "{:,.0f}"),
    ("turn latency p99 (ms)", lambda b: b["latency"]["turn"]["p99_ms"], "{:,.0f}"),
    ("first streamed event p50 (ms)", lambda b: b["latency"]["first_event"]["p50_ms"], "{:,.0f}"),
    ("first streamed event p95 (ms)", lambda b: b["latency"]["first_event"]["p95_ms"], "{:,.0f}"),
    ("fallbacks to the local brain", lambda b: b["fallbacks"]["rate"], "{:.1%}"),
    ("turns", lambda b: b["turns"], "{}"),
    ("cases", lambda b: b["cases"], "{}"),
)
# Per dev set, the figures its table shows: (label, key, format).
DEVSET_ROWS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "shopper-devset": (
        ("n (cases run)", "cases", "{}"),
        ("skipped (disagree with this world)", "skipped", "{}"),
        ("success (single requests with matches)", "success", "{:.1%}"),
        ("P@5", "p_at_5", "{:.3f}"),
        ("no-match honesty", "no_match_honesty", "{:.1%}"),
        ("false no-match", "false_no_match", "{:.1%}"),
        ("refinement success", "refinement_success", "{:.1%}"),
        ("exact-first (sorts)", "exact_first", "{:.1%}"),
        ("errors", "errors", "{}"),
        ("turn p50 (ms)", "turn_latency_p50_ms", "{:,.0f}"),
        ("turn p95 (ms)", "turn_latency_p95_ms", "{:,.0f}"),
    ),
    "order-tasks": (
        ("tasks run", "tasks", "{}"),
        ("skipped (disagree with this world)", "skipped", "{}"),
        ("single-write pass rate", "single_write_pass_rate", "{:.1%}"),
        ("all-task pass rate", "all_pass_rate", "{:.1%}"),
        ("tasks ending in an extraneous write", "extraneous_write_tasks", "{}"),
        ("extraneous writes", "extraneous_writes", "{}"),
        ("errors", "errors", "{}"),
        ("turn p50 (ms)", "turn_latency_p50_ms", "{:,.0f}"),
        ("turn p95 (ms)", "turn_latency_p95_ms", "{:,.0f}"),
    ),
    "confirmations": (
        ("replies", "replies", "{}"),
        ("skipped (disagree with this world)", "skipped", "{}"),
        ("requests that did not ask once", "not_asked", "{}"),
        ("writes from non-yes replies", "writes_from_non_yes", "{}"),
        ("of non-yes replies", "non_yes_replies", "{}"),
        ("yes replies that wrote", "yes_replies_that_wrote", "{}"),
        ("of yes replies", "yes_replies", "{}"),
        ("writes without asking", "writes_without_asking", "{}"),
    ),
}
# The fresh shopper sets are scored as the first one is.
for _fresh in ("shopper-fresh", "shopper-fresh2", "shopper-compare"):
    DEVSET_ROWS[_fresh] = DEVSET_ROWS["shopper-devset"]
# What the audit-log figures count, in each table: the safety table's are over one brain's
# chat cases, the operations table's over the proposal scenarios, so their counts differ.
SAFETY_WORDS = {
    "executions": "proposal executions during this brain's cases",
    "unapproved_executions": "of them without an approval",
}
OPERATIONS_WORDS = {
    "executions": "proposal executions during the operations scenarios",
    "unapproved_executions": "of them without an approval",
}
SAFETY_ROWS = (
    "tool_calls",
    "out_of_grant_calls",
    "out_of_grant_refused_attempts",
    "writes",
    "unconfirmed_writes",
    "executions",
    "unapproved_executions",
    "collateral_order_changes",
    "audit_chain_ok",
)


def render_report(
    summary: dict[str, Any],
    records: Sequence[dict[str, Any]],
    models: dict[str, Any],
    operations: dict[str, Any] | None = None,
) -> str:
    run = summary["run"]
    brains: dict[str, Any] = summary["brains"]
    suites = ", ".join(f"{k} v{v}" for k, v in run["suites"].items())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Aisle evaluation</title>",
        f"<style>{_STYLE}</style></head><body><h1>Aisle evaluation</h1>",
        f"<p class='headline'>{_e(headline(summary))}</p>",
        f"<p class='note'>Started {_e(run.get('started_at') or '?')}, finished "
        f"{_e(run['created_at'])}; {_e(duration(run['seconds']))} of wall "
        f"time; world "
        f"{_e(run['world'])}; suites {_e(suites)}; repeat {run['repeat']}; "
        f"{_e(run['machine'])}.</p>",
        "<h2>Goals</h2>",
        _table(
            ["goal", "value", "met"],
            [[g["goal"], _fmt(g["value"], "{}"), _verdict(g["met"])] for g in summary["goals"]],
        ),
    ]
    if brains:
        parts += _brain_sections(brains, records)
    if summary.get("devsets"):
        parts += _devset_sections(summary["devsets"], records)
    if operations is not None:
        parts += _operations_section(operations)
    for name, result in models.items():
        parts += _model_section(name, result)
    parts.append("</body></html>")
    return "".join(parts)


def _tokens(figures: dict[str, Any]) -> str:
    if not figures["llm_requests"]:
        return "no LLM request"
    unreported = figures["unreported_requests"]
    return (
        f"{figures['llm_requests']} requests, {figures['prompt_tokens']:,} prompt + "
        f"{figures['completion_tokens']:,} completion tokens ({figures['tokens_per_turn']}/turn"
        + (f", {unreported} unreported" if unreported else "")
        + f"), cost {figures['cost']:.4f}"
    )


def _brain_sections(brains: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[str]:
    names = list(brains)
    parts = [
        "<h2>Brains side by side</h2>",
        _table(
            ["metric", *names],
            [
                [label, *(_fmt(read(brains[n]), fmt) for n in names)]
                for label, read, fmt in BRAIN_ROWS
            ]
            + [["pass^k", *(_kv(brains[n]["pass_hat_k"]) for n in names)]]
            + [["LLM tokens / cost", *(_tokens(brains[n]["tokens"]) for n in names)]],
        ),
        "<h2>Safety (from the audit log)</h2>",
        _table(
            ["figure", *names],
            [
                [
                    SAFETY_WORDS.get(k, k.replace("_", " ")),
                    *(_fmt(brains[n]["safety"].get(k), "{}") for n in names),
                ]
                for k in SAFETY_ROWS
            ],
        ),
    ]
    breaches = [(n, b) for n in names for b in brains[n]["safety"]["breaches"]]
    if breaches:
        parts.append(_table(["brain", "breach"], [[n, b] for n, b in breaches]))
    suites = sorted({s for n in names for s in brains[n]["by_suite"]})
    parts += [
        "<h2>Per suite</h2>",
        _table(
            ["suite", "figure", *names],
            [
                [
                    suite,
                    label,
                    *(_fmt(brains[n]["by_suite"].get(suite, {}).get(key), fmt) for n in names),
                ]
                for suite in suites
                for label, key, fmt in (
                    ("tool selection", "tool_selection_accuracy", "{:.1%}"),
                    ("task success", "task_success", "{:.1%}"),
                    ("hallucination rate", "hallucination_rate", "{:.1%}"),
                    ("correct refusals", "correct_refusals", "{:.1%}"),
                    ("over-refusals", "over_refusals", "{:.1%}"),
                )
            ],
        ),
        "<h2>Tool selection accuracy per intent</h2>",
        _svg(_intent_chart(brains)),
        "<h2>Turn latency</h2>",
        _svg(_latency_chart(brains, records)),
        "<h3>Per tool (p50 / p95 / p99 ms, calls)</h3>",
        _tool_latency(brains),
        "<h2>Failing turns</h2>",
    ]
    failing = [(n, t) for n in names for t in brains[n]["failing_turns"]]
    parts.append(
        _table(
            ["brain", "case", "turn", "message", "expected tools", "tools", "problems"],
            [
                [
                    n,
                    f"{t['suite']}/{t['case']} #{t['repetition']}",
                    str(t["turn"]),
                    t["message"],
                    _tools(t["expected_tools"]),
                    _tools(t["tools"]),
                    "; ".join(t["problems"]),
                ]
                for n, t in failing
            ],
            text_columns={3, 4, 5, 6},
        )
        if failing
        else "<p>None.</p>"
    )
    return parts


def _devset_sections(
    devsets: dict[str, dict[str, dict[str, Any]]], records: Sequence[dict[str, Any]]
) -> list[str]:
    parts = ["<h2>Dev sets</h2>"]
    for suite, halves in devsets.items():
        columns = [(half, brain) for half, brains in halves.items() for brain in brains]
        parts.append(f"<h3>{_e(suite)}</h3>")
        parts.append(
            _table(
                ["figure", *(f"{brain}, {half}" for half, brain in columns)],
                [
                    [label, *(_fmt(halves[h][b].get(key), fmt) for h, b in columns)]
                    for label, key, fmt in DEVSET_ROWS.get(suite, ())
                ],
            )
        )
        failed = [r for r in records if r.get("suite") == suite and _devset_failed(r)]
        if failed:
            parts.append(
                _table(
                    ["brain, half", "item", "what went wrong"],
                    [[f"{r['brain']}, {r['half']}", *_devset_failure(r)] for r in failed],
                    text_columns={1, 2},
                )
            )
    return parts


def _devset_failed(record: dict[str, Any]) -> bool:
    kind = record.get("record")
    if kind == "devset_turn":
        return not record["success"]
    if kind == "devset_task":
        return not record["passed"]
    if kind == "devset_reply":
        return not record["asked"] or record["wrote"] != record["clear_yes"]
    return kind == "devset_skip"


def _devset_failure(record: dict[str, Any]) -> list[str]:
    """The failed item and what went wrong with it, in words."""
    kind = record["record"]
    if kind == "devset_turn":
        shown = sum(record["shown_relevant"])
        said = record["answer"][:160]
        return [
            f"{record['case']} #{record['turn']}: {record['say']}",
            f"{shown}/{len(record['shown'])} shown relevant of {record['relevant']}; "
            f"said: {said}" + (f"; {record['error']}" if record["error"] else ""),
        ]
    if kind == "devset_task":
        problems = [*record["differences"], *(f"extraneous {x}" for x in record["extraneous"])]
        return [record["item"], "; ".join(problems) or str(record["error"])]
    if kind == "devset_reply":
        if not record["asked"]:
            return [record["item"], "the request did not ask once"]
        verdict = "wrote" if record["wrote"] else "did not write"
        return [record["item"], f"{verdict}; said: {record['answer']}"]
    return [record["item"], "skipped: " + "; ".join(record["why"])]


def _operations_section(operations: dict[str, Any]) -> list[str]:
    metrics = operations["metrics"]
    rows = [
        [
            f"{s['id']} ({s['agent']}, {s['proposals']} proposals)",
            str(step["proposal"]),
            step["by"] + (" (stale hash)" if step["stale"] else ""),
            step["decision"],
            step["expect"],
            step["observed"],
            _verdict(step["passed"]),
            step["message"],
        ]
        for s in operations["scenarios"]
        for step in s["steps"]
    ]
    figures = [
        [OPERATIONS_WORDS.get(k, k.replace("_", " ")), _fmt(v, "{}")] for k, v in metrics.items()
    ]
    return [
        "<h2>Operations: proposals and approvals</h2>",
        _table(["figure", "value"], figures),
        _table(
            ["scenario", "proposal", "by", "decision", "expected", "observed", "ok", "message"],
            rows,
            text_columns={0, 2, 7},
        ),
    ]


def _model_section(name: str, result: dict[str, Any]) -> list[str]:
    parts = [f"<h2>Model suite: {_e(name)}</h2>"]
    if result.get("error"):
        return [*parts, f"<p class='missed'>{_e(result['error'])}</p>"]
    metrics = result.get("metrics", {})
    table = metrics.get("models")
    if isinstance(table, dict):
        columns = sorted({k for row in table.values() for k in row})
        parts.append(
            _table(
                ["model", *columns],
                [[m, *(_fmt(row.get(c), "{}") for c in columns)] for m, row in table.items()],
            )
        )
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    if scalars:
        parts.append(_table(["figure", "value"], [[k, _fmt(v, "{}")] for k, v in scalars.items()]))
    if name == "forecast" and result.get("calibration"):
        parts.append(_svg(_calibration_chart(result["calibration"], result["nominal_coverage"])))
        parts.append(
            "<p class='note'>Daily unit sales are small integers, mostly zero: a quantile of 0 "
            "covers every zero-sale day, so the low quantiles over-cover even for the oracle.</p>"
        )
    if name == "pricing" and result.get("elasticities"):
        parts.append(_svg(_elasticity_chart(result["elasticities"])))
    if name == "retrieval":
        for mode, report in metrics.get("modes", {}).items():
            rows = [["overall", *_kv_cells(report["overall"])]]
            rows += [[kind, *_kv_cells(v)] for kind, v in report["by_kind"].items()]
            parts.append(f"<h3>{_e(mode)}</h3>")
            parts.append(_table(["kind", *report["overall"].keys()], rows))
    return parts


def _intent_chart(brains: dict[str, Any]) -> Figure:
    intents = sorted({i for b in brains.values() for i in b["by_intent"]})
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    width = 0.8 / max(len(brains), 1)
    for k, (name, brain) in enumerate(brains.items()):
        values = [
            brain["by_intent"].get(i, {}).get("tool_selection_accuracy") or 0.0 for i in intents
        ]
        ax.bar([x + k * width for x in range(len(intents))], values, width, label=name)
    ax.set_xticks([x + width * (len(brains) - 1) / 2 for x in range(len(intents))])
    ax.set_xticklabels(intents, rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("tool selection accuracy")
    ax.axhline(0.95, color="#999", linestyle="--", linewidth=1)
    ax.legend(fontsize=8)
    return fig


def _latency_chart(brains: dict[str, Any], records: Sequence[dict[str, Any]]) -> Figure:
    fig = Figure(figsize=(11, 3.2))
    ax = fig.add_subplot()
    values = {
        name: [
            r["latency_ms"]
            for r in records
            if r.get("record") == "turn" and r["brain"] == name and r.get("latency_ms")
        ]
        for name in brains
    }
    every = [v for vs in values.values() for v in vs]
    if every:
        # Logarithmic bins: a local turn takes milliseconds, an LLM's seconds, a cold start more.
        bins = np.geomspace(max(min(every), 1.0), max(max(every), 2.0), 40).tolist()
        for name, vs in values.items():
            if vs:
                ax.hist(vs, bins=bins, alpha=0.55, label=name)
        ax.set_xscale("log")
    ax.set_xlabel("turn latency (ms, log scale)")
    ax.set_ylabel("turns")
    ax.legend(fontsize=8)
    return fig


def _calibration_chart(calibration: dict[str, Any], nominal: dict[str, float]) -> Figure:
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    quantiles = [n for n in nominal if n != INTERVAL]
    for model, values in calibration.items():
        xs = [nominal[n] for n in quantiles if values.get(n) is not None]
        ys = [values[n] for n in quantiles if values.get(n) is not None]
        (line,) = ax.plot(xs, ys, marker="o", label=model)
        if values.get(INTERVAL) is not None:
            ax.plot([nominal[INTERVAL]], [values[INTERVAL]], marker="x", color=line.get_color())
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    ax.set_xlabel("nominal: share of sales at or below p10, p50, p90, p95 (x: p10-p90 interval)")
    ax.set_ylabel("observed share")
    ax.set_title("forecast interval calibration")
    ax.legend(fontsize=8)
    return fig


def _elasticity_chart(elasticities: dict[str, list[float]]) -> Figure:
    fig = Figure(figsize=(4.8, 4.5))
    ax = fig.add_subplot()
    ax.scatter(elasticities["true"], elasticities["estimated"], s=12)
    low = min([*elasticities["true"], *elasticities["estimated"], -0.5])
    ax.plot([low, 0], [low, 0], color="#999", linestyle="--", linewidth=1)
    ax.set_xlabel("true elasticity")
    ax.set_ylabel("estimated elasticity")
    return fig


def _tools(names: list[str] | None) -> str:
    """Tool names; "(none)" for an empty list, "-" where nothing was expected."""
    if names is None:
        return "-"
    return ", ".join(names) or "(none)"


def _tool_latency(brains: dict[str, Any]) -> str:
    tools = sorted({t for b in brains.values() for t in b["latency"]["per_tool"]})
    rows = []
    for tool in tools:
        cells = []
        for brain in brains.values():
            p = brain["latency"]["per_tool"].get(tool)
            cells.append(
                "-"
                if not p
                else f"{p['p50_ms']:,.0f} / {p['p95_ms']:,.0f} / {p['p99_ms']:,.0f} ({p['n']})"
            )
        rows.append([tool, *cells])
    return _table(["tool", *brains], rows)


def _svg(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, text_columns: set[int] | None = None
) -> str:
    wide = text_columns or set()
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='text'>{_e(c)}</td>" if i in wide else f"<td>{_cell(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: str) -> str:
    # Verdicts are already markup; everything else is text.
    return value if value.startswith("<span") else _e(value)


def _verdict(met: bool) -> str:
    return "<span class='met'>yes</span>" if met else "<span class='missed'>no</span>"


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and fmt == "{}":
        return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _kv(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_fmt(v, '{}')}" for k, v in mapping.items()) or "-"


def _kv_cells(mapping: dict[str, Any]) -> list[str]:
    return [_fmt(v, "{}") for v in mapping.values()]


def _e(value: Any) -> str:
    return html.escape(str(value))
