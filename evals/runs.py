"""Evaluation runs kept under the var dir: where `aisle eval run` writes when no output folder is
named, and what the API lists for evaluators.

A run is a folder holding `summary.json` (and `results.jsonl`, `report.html`); its id is the
folder's name. Only names of that shape are looked up, so an id can never reach outside the
runs folder.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from evals.suites import SMOKE
from retail.errors import NotFoundError
from retail.settings import Settings

# A run's folder name; the API validates ids against the same pattern.
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def suites_in_words(versions: dict[str, Any]) -> str:
    """The suites a run ran: "smoke" is a subset of the others' cases, not a suite of its own."""
    names = ", ".join(name for name in versions if name != SMOKE)
    if SMOKE not in versions:
        return names
    return f"smoke subset of {names}" if names else "smoke subset"


def runs_dir(settings: Settings) -> Path:
    return settings.var_dir / "evals" / "runs"


def new_run_dir(settings: Settings, now: dt.datetime | None = None) -> Path:
    """A fresh folder for a run, named by its UTC start time."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    folder, n = runs_dir(settings) / stamp, 1
    while folder.exists():
        n += 1
        folder = runs_dir(settings) / f"{stamp}-{n}"
    return folder


def run_folder(settings: Settings, run_id: str) -> Path:
    """The folder of run `run_id`, which must hold a summary."""
    folder = runs_dir(settings) / run_id
    if not _RUN_ID.match(run_id) or not (folder / "summary.json").is_file():
        raise NotFoundError(f"No evaluation run {run_id!r}.")
    return folder


def run_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(
        (run_folder(settings, run_id) / "summary.json").read_text()
    )
    return summary


def _started(run: dict[str, Any]) -> str | None:
    """When a run recorded before `started_at` was kept began: its end less its wall time."""
    try:
        ended = dt.datetime.fromisoformat(run["created_at"])
        return (ended - dt.timedelta(seconds=float(run["seconds"]))).isoformat(timespec="seconds")
    except (KeyError, TypeError, ValueError):
        return None


def duration(seconds: float | None) -> str:
    """Wall time as a person reads it: "39.5 s", "3 min 12 s", "1 h 02 min"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def headline(summary: dict[str, Any]) -> str:
    """A run's verdict in one line: its goals met, and every suite that failed a case (a run
    whose goals are all met can still have a suite that failed every case)."""
    goals = summary.get("goals", [])
    met = sum(bool(g.get("met")) for g in goals)
    line = f"{met} of {len(goals)} goals met"
    failing = summary.get("failing_suites", [])
    if not failing:
        return line + "; every suite passed"
    named = ", ".join(
        f"{f['suite']} ({f['brain']}: task success {(f['task_success'] or 0.0):.1%})"
        for f in failing
    )
    suites = "suite" if len(failing) == 1 else "suites"
    return f"{line}; {len(failing)} {suites} failing: {named}"


def list_runs(settings: Settings) -> list[dict[str, Any]]:
    """Every run with a readable summary, newest first: what it ran and how its goals went."""
    folder = runs_dir(settings)
    found = []
    for path in sorted(folder.glob("*/summary.json"), reverse=True) if folder.is_dir() else []:
        try:
            summary = json.loads(path.read_text())
            run = summary["run"]
        except (OSError, ValueError, KeyError):
            continue  # a run still writing, or a folder that is not a run
        goals = summary.get("goals", [])
        found.append(
            {
                "run_id": path.parent.name,
                "started_at": run.get("started_at") or _started(run),
                "created_at": run.get("created_at"),
                "seconds": run.get("seconds"),
                "wall_time": duration(run.get("seconds")),
                "suites": suites_in_words(run.get("suites", {})),
                "brains": ", ".join(run.get("brains", [])),
                "world": run.get("world"),
                "headline": headline(summary),
                "goals_met": sum(bool(g.get("met")) for g in goals),
                "goals": len(goals),
                "failing_suites": len(summary.get("failing_suites", [])),
                "has_report": (path.parent / "report.html").is_file(),
            }
        )
    return found
