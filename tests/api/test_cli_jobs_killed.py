"""A retraining job killed mid-run (a real SIGKILL, in a real `aisle` process) is found dead by the
next scheduler: its run is marked "died" with a sentence, the challenger it left unjudged is
retired (it answers no alert), and the job runs again, exactly once when two schedulers race.
A run on another host is judged by its heartbeat's lease; a live one blocks a second run of its
kind.

The killed child is the CLI itself, with one change made before it starts: the promotion step
kills the process when the job first moves its challenger (it was trained, saved and its
forecast stored, but the gate never judged it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session
from typer.testing import Result

from evals.jobs import JobRunning, JobsFile, _Heartbeat, due_jobs, load_jobs, reap, run_job
from ml_core.registry import ArtifactRegistry
from retail.processes import holder
from retail.settings import get_settings
from retail.store.models import JobRun
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec
from tests.factories import add_drift_alert, seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
REPO = Path(__file__).resolve().parents[2]
JOB = "forecast-retrain-on-drift"
DAY = PINNED_END - dt.timedelta(days=3)
ALERT_DAY = DAY + dt.timedelta(days=2)
AS_OF = str(ALERT_DAY)
MESSAGE = "Tents demand across the chain is 31% above its seasonal reference."
# `-c CHILD ARGS...`: `aisle ARGS` killed by SIGKILL when the job first calls the promotion step.
CHILD = """
import os, signal, sys
from evals import promotion
def promote(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
promotion.promote = promote
sys.argv = ["aisle", *sys.argv[1:]]
from api.cli import main
main()
"""

AISLE = "import sys; sys.argv[0] = 'aisle'; from api.cli import main; main()"


def _env() -> dict[str, str]:
    settings = get_settings()
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AISLE_VAR_DIR": str(settings.var_dir),
        "AISLE_DATABASE_URL": settings.database_url,
    }


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _runs(engine: Engine) -> list[JobRun]:
    with Session(engine) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.started_at)))


def _world_with_an_open_alert(aisle: Aisle) -> tuple[ArtifactRegistry, str]:
    """A champion trained through DAY and a drift alert raised after it: the drift job is due.
    The champion's version."""
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    (first,) = _json(
        aisle("jobs", "run", "retrain-forecaster-stable", "--as-of", str(DAY), "--quiet", "--json")
    )
    engine = open_store()
    try:
        add_drift_alert(engine, day=ALERT_DAY, message=MESSAGE)
    finally:
        engine.dispose()
    return registry, first["versions"][0]


def _kill_a_drift_run(registry: ArtifactRegistry, engine: Engine) -> tuple[JobRun, str]:
    """`aisle jobs run due` killed mid-run; its row and the challenger it left."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "jobs", "run", "due", "--as-of", AS_OF, "--quiet"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    (killed,) = [r for r in _runs(engine) if r.job == JOB]
    assert killed.status == "running" and killed.ended_at is None
    assert killed.holder["host"] == socket.gethostname()
    (left,) = killed.versions  # named on the row as soon as it existed
    manifest = registry.read_manifest("forecaster", left)[0]
    assert manifest.parameters["job_run"] == killed.id
    assert manifest.parameters["data_through"] == AS_OF
    return killed, left


def test_a_killed_job_is_marked_died_and_the_next_scheduler_runs_it_again(aisle: Aisle) -> None:
    registry, champion = _world_with_an_open_alert(aisle)
    engine = open_store()
    try:
        killed, left = _kill_a_drift_run(registry, engine)
        # Left alone, the dead run's challenger (trained through the alert's day) would look
        # like the alert's answer, and the drift job would never be due again.
        assert due_jobs(engine, load_jobs(), dt.datetime.now(dt.UTC), registry, ALERT_DAY) == []

        result = aisle("jobs", "run", "due", "--as-of", AS_OF, "--quiet", "--json")
        (rerun,) = _json(result)
        note = result.stderr.strip()
        assert note.startswith(f"Run {killed.id[:12]} of {JOB} marked died. Died mid-run: ")
        pid = killed.holder["pid"]
        assert f"its process {pid} on {socket.gethostname()} is gone" in note
        assert f"Its unjudged challenger {left} was retired; the job is due again." in note

        runs = _runs(engine)
        died = [r for r in runs if r.status == "died"]
        assert [r.id for r in died] == [killed.id] and died[0].ended_at is not None
        assert died[0].message in note
        assert rerun["job"] == JOB and rerun["status"] == "succeeded"
        assert rerun["trigger"] == f"drift: {MESSAGE}" and rerun["decision"]["promoted"] is True
        (challenger,) = rerun["versions"]
        assert challenger != left
        ledger = registry.ledger("forecaster")
        assert ledger.champion == challenger and ledger.stages[champion] == "retired"
        assert ledger.stages[left] == "retired"
        # Killed before the gate judged it: trained, then retired by whoever found it dead.
        history = [c for c in ledger.history if c.version == left]
        assert [c.stage for c in history] == ["candidate", "retired"]
        assert history[-1].by == "jobs:reaper" and killed.id in history[-1].reason

        # Answered once: nothing is due, nothing more is marked, the listing shows the death.
        again = aisle("jobs", "run", "due", "--as-of", AS_OF, "--quiet")
        assert again.exit_code == 0 and again.stdout.strip() == "no job is due"
        listed = _json(aisle("jobs", "list", "--json"))
        assert [r["status"] for r in listed["runs"] if r["job"] == JOB] == ["succeeded", "died"]
        assert len(_runs(engine)) == len(runs)
    finally:
        engine.dispose()


def test_two_schedulers_racing_after_a_kill_run_the_job_once(aisle: Aisle) -> None:
    registry, _ = _world_with_an_open_alert(aisle)
    engine = open_store()
    try:
        killed, left = _kill_a_drift_run(registry, engine)
        # Two real schedulers at once: each marks dead runs, then claims what is due.
        schedulers = [
            subprocess.Popen(
                [sys.executable, "-c", AISLE, "jobs", "run", "due", "--as-of", AS_OF, "--quiet"]
                + ["--json"],
                cwd=REPO,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=300) for p in schedulers]
        assert [p.returncode for p in schedulers] == [0, 0], outputs
        made = [json.loads(out) for out, _ in outputs]
        notes = "\n".join(err for _, err in outputs)

        runs = [r for r in _runs(engine) if r.job == JOB]
        assert sorted(r.status for r in runs) == ["died", "succeeded"]
        # Marked once, retrained once: one scheduler made the run, the other none.
        assert notes.count(f"Run {killed.id[:12]} of {JOB} marked died.") == 1
        assert sorted(len(m) for m in made) == [0, 1]
        (rerun,) = [r for r in runs if r.status == "succeeded"]
        assert registry.ledger("forecaster").champion == rerun.versions[0]
        assert registry.ledger("forecaster").stages[left] == "retired"
        retirements = [c for c in registry.ledger("forecaster").history if c.version == left]
        assert [c.stage for c in retirements] == ["candidate", "retired"]
        assert retirements[-1].by == "jobs:reaper"
    finally:
        engine.dispose()


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _jobs_file() -> JobsFile:
    return JobsFile.model_validate(
        {
            "version": 1,
            "lease": {"heartbeat_s": 0.05, "expires_s": 120},
            "jobs": {"monthly": {"kind": "forecaster", "every_days": 30}},
        }
    )


def _running_row(engine: Engine, run_id: str, who: dict[str, str], beat: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(JobRun),
            {
                "id": run_id,
                "job": "monthly",
                "kind": "forecaster",
                "trigger": "schedule",
                "status": "running",
                "started_at": beat,
                "holder": who,
                "heartbeat_at": beat,
                "versions": [],
                "decision": {},
                "message": "",
            },
        )


def test_a_run_elsewhere_blocks_while_it_beats_and_dies_when_its_lease_expires(
    engine: Engine, tmp_path: Path
) -> None:
    registry = ArtifactRegistry(tmp_path / "artifacts")
    jobs = _jobs_file()
    now = dt.datetime.now(dt.UTC)
    elsewhere = {"host": "another-host.invalid", "pid": "4242", "start": "1"}
    _running_row(engine, "r-elsewhere", elsewhere, now - dt.timedelta(seconds=30))

    # Its process cannot be looked at from here and it beat 30 s ago: alive, so a second run
    # of the kind is refused with who runs it, and nothing is recorded for the refused one.
    assert reap(engine, registry, jobs.lease) == []
    with pytest.raises(JobRunning, match="monthly: not run; monthly .* is retraining "
                       "forecaster by process 4242 on another-host.invalid since"):  # fmt: skip
        run_job(engine, registry, "monthly", jobs=jobs, show_progress=False)
    assert [r.id for r in _runs(engine)] == ["r-elsewhere"]

    # Silent for longer than its lease: died, said once however often it is looked at.
    (marked,) = reap(engine, registry, jobs.lease, now=now + dt.timedelta(seconds=100))
    assert marked["status"] == "died"
    assert marked["message"].startswith(
        "Died mid-run: no heartbeat from process 4242 on another-host.invalid since "
    )
    assert "130 s ago, past its lease of 120 s. The job is due again." in marked["message"]
    assert reap(engine, registry, jobs.lease, now=now + dt.timedelta(seconds=200)) == []


def test_a_running_job_beats_and_a_live_process_on_this_host_is_never_reaped(
    engine: Engine, tmp_path: Path
) -> None:
    registry = ArtifactRegistry(tmp_path / "artifacts")
    jobs = _jobs_file()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    _running_row(engine, "r-here", holder(), old)
    # This very process holds it: alive, however quiet, until its lease runs out.
    assert reap(engine, registry, jobs.lease) == []
    with _Heartbeat(engine, "r-here", jobs.lease.heartbeat_s):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Session(engine) as session:
                beat = session.get(JobRun, "r-here").heartbeat_at  # type: ignore[union-attr]
            if beat is not None and _utc(beat) > old:
                break
            time.sleep(0.05)
    assert beat is not None and _utc(beat) > old, "the heartbeat never advanced"
    # A finished run is not beaten for: the heartbeat only stamps a running row.
    with engine.begin() as conn:
        conn.execute(update(JobRun).where(JobRun.id == "r-here").values(status="succeeded"))
    assert reap(engine, registry, jobs.lease, now=old + dt.timedelta(days=1)) == []
