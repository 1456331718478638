"""`aisle eval run` names its folder by when the command started, not when its world was
ready (a run started at 02:28:43 was named 20261207-023629)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evals.runner
from api.cli import app
from evals.world import DATABASE, VAR
from retail.settings import get_settings


class _Stop(Exception):
    """Raised in place of the run: the folder it was given is all this test needs."""


def test_the_run_folder_is_named_by_the_commands_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = tmp_path / "world"
    (world / VAR).mkdir(parents=True)
    (world / DATABASE).touch()
    monkeypatch.setenv("AISLE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AISLE_LLM_BASE_URL", "")
    get_settings.cache_clear()
    given: list[Path] = []

    def run_evals(options: evals.runner.RunOptions) -> None:
        given.append(options.output_dir)
        raise _Stop

    monkeypatch.setattr(evals.runner, "run_evals", run_evals)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = CliRunner().invoke(app, ["eval", "run", "--smoke", "--world", str(world)])
    get_settings.cache_clear()
    assert isinstance(result.exception, _Stop), result.output
    named = dt.datetime.strptime(given[0].name, "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    # Named by the start: never later than the moment the run was handed its folder.
    assert before <= named <= before + dt.timedelta(seconds=2)
