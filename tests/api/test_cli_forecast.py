"""`aisle forecast run` end to end on a tiny generated world, and its one-sentence failures."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

from ml_core.registry import ArtifactRegistry
from retail.settings import get_settings
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _tiny_world() -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))


def test_forecast_run_stores_a_versioned_forecast(aisle: Aisle) -> None:
    _tiny_world()
    result = aisle("forecast", "run", "--store", "S001", "--horizon", "7", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["model"] == "seasonal_naive" and run["horizon"] == 7
    assert run["rows"] == run["series"] * 7 > 0
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    assert registry.active("forecaster")[0].version == run["model_version"]


def test_forecast_run_refuses_bad_input_in_one_sentence(aisle: Aisle) -> None:
    empty = aisle("forecast", "run")
    assert empty.exit_code == 2
    assert empty.stderr.startswith("error: There are no daily sales to forecast")
    _tiny_world()
    for args, message in (
        (("--store", "S999"), "No location with id 'S999'"),
        (("--model", "prophet"), "Unknown model 'prophet'"),
        (("--reconcile", "mint"), "Unknown reconciliation 'mint'"),
    ):
        result = aisle("forecast", "run", *args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
