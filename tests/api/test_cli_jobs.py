"""`aisle jobs ...` on a tiny generated world: a retraining job trains a challenger, shadows it
and promotes it only through the gate; a drift trigger runs the job for its kind at once; an open
drift alert makes the drift job due, and its challenger answers it; every run is recorded with its
status, times, versions and the gate's decision; schedules fall due by tier."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from evals.jobs import due_jobs, load_jobs, tier_counts
from ml_core.registry import ArtifactRegistry
from retail.settings import get_settings
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec
from tests.factories import add_drift_alert, seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_jobs_retrain_through_the_gate_and_record_every_run(aisle: Aisle, tmp_path: Path) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")

    # The first run has no champion to beat: its challenger becomes the first champion.
    (first,) = _json(aisle("jobs", "run", "retrain-forecaster-stable", "--quiet", "--json"))
    assert first["status"] == "succeeded" and first["trigger"] == "manual"
    assert first["ended_at"] is not None and len(first["versions"]) == 1
    assert first["decision"]["promoted"] is True
    assert registry.ledger("forecaster").champion == first["versions"][0]

    # A drift alert on a segment runs the job that answers drift; a gate the challenger cannot
    # pass refuses it: it is retired, and the champion stays.
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "version: 1\nkinds:\n  forecaster:\n    backtest: {windows: 1, step: 7}\n"
        "    gates:\n      - {metric: wape, max: 0.0}\n"
    )
    (refused,) = _json(
        aisle(
            "jobs", "trigger", "forecaster", "--source", "drift", "--segment", "Tents",
            "--reason", "Tents demand +30% since 2026-11-01", "--rules", str(strict),
            "--quiet", "--json",
        )
    )  # fmt: skip
    assert refused["job"] == "forecast-retrain-on-drift" and refused["segment"] == "Tents"
    assert refused["trigger"] == "drift: Tents demand +30% since 2026-11-01"
    assert refused["status"] == "succeeded" and refused["decision"]["promoted"] is False
    assert "wape is" in refused["message"]
    challenger = refused["versions"][0]
    ledger = registry.ledger("forecaster")
    assert ledger.champion == first["versions"][0]
    assert ledger.stages[challenger] == "retired"
    stages = [c.stage for c in ledger.history if c.version == challenger]
    assert stages == ["candidate", "shadow", "retired"]

    # Under the shipped gate the same drift trigger promotes its challenger over the champion.
    (promoted,) = _json(aisle("jobs", "trigger", "forecaster", "--quiet", "--json"))
    assert promoted["decision"]["promoted"] is True
    assert promoted["decision"]["previous"] == first["versions"][0]
    assert {g["metric"] for g in promoted["decision"]["gates"]} == {"wape", "coverage_80"}
    assert registry.ledger("forecaster").champion == promoted["versions"][0]

    listed = _json(aisle("jobs", "list", "--json"))
    assert [r["id"] for r in listed["runs"]] == [promoted["id"], refused["id"], first["id"]]
    # The forecaster was just retrained: nothing is due now, so `due` runs nothing.
    assert all(job["due"] is None for job in listed["jobs"])
    assert aisle("jobs", "run", "due", "--quiet").stdout.strip() == "no job is due"

    # A week on, the weekly tier is due if the panel has fast-drifting series; a month on, the
    # monthly one is due whatever the panel holds.
    jobs = load_jobs()
    engine = open_store()
    try:
        now = dt.datetime.now(dt.UTC)
        week = {d.job for d in due_jobs(engine, jobs, now + dt.timedelta(days=8))}
        month = {d.job for d in due_jobs(engine, jobs, now + dt.timedelta(days=31))}
        fast = tier_counts(engine, jobs.drift).get("fast", 0)
    finally:
        engine.dispose()
    assert ("retrain-forecaster-fast" in week) == (fast >= 1)
    assert "retrain-forecaster-stable" not in week
    assert "retrain-forecaster-stable" in month


def test_an_open_drift_alert_runs_the_drift_job_once_on_the_sales_up_to_its_day(
    aisle: Aisle,
) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    job = "forecast-retrain-on-drift"
    day = PINNED_END - dt.timedelta(days=3)
    # The champion serving when the alert fires was trained on the sales up to `day`.
    (first,) = _json(
        aisle("jobs", "run", "retrain-forecaster-stable", "--as-of", str(day), "--quiet", "--json")
    )
    champion = first["versions"][0]
    assert registry.read_manifest("forecaster", champion)[0].parameters["data_through"] == str(day)

    # No alert: the drift job has nothing to answer, records nothing and is not due.
    quiet = aisle("jobs", "run", job, "--quiet")
    assert quiet.exit_code == 0 and "nothing to retrain" in quiet.stdout
    message = "Tents demand across the chain is 31% above its seasonal reference."
    engine = open_store()
    try:
        add_drift_alert(engine, day=day + dt.timedelta(days=2), message=message)
        jobs = load_jobs()
        now = dt.datetime.now(dt.UTC)
        # Raised after the champion's last day of sales: open, so the drift job is due, but
        # not for an as-of day before the alert's.
        (due,) = due_jobs(engine, jobs, now, registry)
        assert (due.job, due.why) == (job, message)
        assert due_jobs(engine, jobs, now, registry, as_of=day + dt.timedelta(days=1)) == []
    finally:
        engine.dispose()

    as_of = str(day + dt.timedelta(days=2))
    (run,) = _json(aisle("jobs", "run", "due", "--as-of", as_of, "--quiet", "--json"))
    assert run["job"] == job and run["trigger"] == f"drift: {message}"
    assert run["segment"] == "Tents" and run["decision"]["promoted"] is True
    (challenger,) = run["versions"]
    assert registry.read_manifest("forecaster", challenger)[0].parameters["data_through"] == as_of
    ledger = registry.ledger("forecaster")
    assert ledger.champion == challenger and ledger.stages[champion] == "retired"
    # Who promoted it and why, with the scores the gate read.
    change = ledger.history[-1]
    assert change.version == challenger and change.by == f"job:{job}"
    assert message in change.reason and "passed the promotion gate" in change.reason
    assert set(change.evidence["challenger"]) >= {"wape", "coverage_80"}

    # The challenger has seen the alert's day: the alert is answered, nothing runs again.
    assert (
        aisle("jobs", "run", job, "--as-of", as_of, "--quiet")
        .stdout.strip()
        .endswith("nothing to retrain")
    )
    assert aisle("jobs", "run", "due", "--as-of", as_of, "--quiet").stdout.strip() == (
        "no job is due"
    )


def test_unknown_jobs_and_triggers_are_one_sentence(aisle: Aisle) -> None:
    for args, fragment in (
        (("jobs", "run", "retrain-everything"), "No job 'retrain-everything'"),
        (("jobs", "trigger", "recommender"), "No job retrains 'recommender' on drift"),
        (("jobs", "trigger", "forecaster", "--source", "rumour"), "Unknown trigger source"),
        (("jobs", "run", "due", "--as-of", "yesterday"), "--as-of takes a date"),
    ):
        result = aisle(*args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert fragment in result.stderr
