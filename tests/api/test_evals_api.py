"""The evaluation runs over HTTP: listed newest first from the var dir, each summary and report
served to evaluators only, and a run id that is not a run's folder name is a 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.runs import new_run_dir, runs_dir
from tests.api.test_chat import Served, serve
from tests.tools.world import ToolWorld

EVALUATOR = "evaluator:eve"


@pytest.fixture(scope="module")
def served(tool_world: ToolWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("evals-app")
    yield from serve(tool_world, folder, [EVALUATOR, "planner:pat"], assistant=None)


def _write_run(folder: Path, created_at: str, *, met: bool, report: bool) -> None:
    folder.mkdir(parents=True)
    summary = {
        "run": {
            "created_at": created_at,
            "seconds": 12.5,
            "suites": {"shopper": 1, "retrieval": 1},
            "brains": ["local"],
            "world": "tiny (seed 9)",
        },
        "brains": {"local": {"tool_selection_accuracy": 1.0}},
        "goals": [{"goal": "full run within 10 minutes", "value": 12.5, "met": met}],
        "failing_suites": [] if met else [
            {"suite": "rag", "brain": "local", "task_success": 0.0, "cases": 4}
        ],
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    if report:
        (folder / "report.html").write_text("<html><body><h1>Aisle evaluation</h1></body></html>")


def test_runs_are_listed_newest_first_with_their_reports(served: Served) -> None:
    settings = served.client.app.state.settings  # type: ignore[attr-defined]
    older = runs_dir(settings) / "20261101-090000"
    _write_run(older, "2026-11-01T09:00:00+00:00", met=False, report=False)
    newer = new_run_dir(settings)
    _write_run(newer, "2026-11-23T10:00:00+00:00", met=True, report=True)
    (runs_dir(settings) / "half-written").mkdir()  # no summary yet: not a run

    response = served.client.get("/v1/evals/runs", headers=served.auth(EVALUATOR))
    assert response.status_code == 200, response.text
    runs = response.json()
    assert [r["run_id"] for r in runs] == [newer.name, older.name]
    assert runs[0]["suites"] == "shopper, retrieval" and runs[0]["goals_met"] == 1
    assert runs[0]["report_url"] == f"/v1/evals/runs/{newer.name}/report"
    assert runs[1]["report_url"] is None and runs[1]["goals_met"] == 0
    assert runs[0]["headline"] == "1 of 1 goals met; every suite passed"
    assert runs[1]["headline"] == (
        "0 of 1 goals met; 1 suite failing: rag (local: task success 0.0%)"
    )
    assert (runs[0]["wall_time"], runs[1]["failing_suites"]) == ("12.5 s", 1)
    # A run is listed by when it started: its summary is written 12.5 s later, at its end.
    assert runs[0]["started_at"] == "2026-11-23T09:59:47+00:00"

    report = served.client.get(runs[0]["report_url"], headers=served.auth(EVALUATOR))
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    assert "Aisle evaluation" in report.text
    summary = served.client.get(f"/v1/evals/runs/{older.name}", headers=served.auth(EVALUATOR))
    assert summary.json()["brains"]["local"]["tool_selection_accuracy"] == 1.0
    no_report = served.client.get(
        f"/v1/evals/runs/{older.name}/report", headers=served.auth(EVALUATOR)
    )
    assert no_report.status_code == 404 and "no report" in no_report.json()["detail"]


@pytest.mark.parametrize("run_id", ["nope", "..", "half-written", "%2e%2e%2fsecrets"])
def test_an_unknown_run_is_a_404(served: Served, run_id: str) -> None:
    response = served.client.get(f"/v1/evals/runs/{run_id}", headers=served.auth(EVALUATOR))
    assert response.status_code in (404, 422), response.text
    assert response.json()["detail"]


def test_runs_are_for_evaluators(served: Served) -> None:
    response = served.client.get("/v1/evals/runs", headers=served.auth("planner:pat"))
    assert response.status_code == 403
    assert "planner" in response.json()["detail"]
