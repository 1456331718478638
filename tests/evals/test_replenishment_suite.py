"""The replenishment model suite on the tool world's generated demand: the policy and the simple
rule replayed day by day with the moving average's and the oracle's forecasts, the figures
consistent with each other, the oracle's orders no dearer than the moving average's, and the
suite part of `all` and of the report."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from evals.models import run_model_suite
from evals.report import render_report
from evals.runner import plan_suites
from evals.world import EvalWorld
from ml_core.inventory.world_replay import ReplayError, load_world_replay
from retail.errors import AisleError
from tests.tools.world import ToolWorld

# The tool world has 60 days; the moving average needs 28 of them before the replay.
DAYS = 28
RULES = tuple(f"{f}/{r}" for f in ("moving_average", "oracle") for r in ("policy", "simple_rule"))


def _eval_world(tool_world: ToolWorld) -> EvalWorld:
    # The suite only reads the store and the world's truth files: no private copy needed.
    return EvalWorld(
        tool_world.settings.var_dir.parent,
        tool_world.engine,
        tool_world.settings,
        tool_world.services,
        {},
    )


@pytest.fixture(scope="module")
def result(tool_world: ToolWorld) -> dict[str, Any]:
    return run_model_suite("replenishment", _eval_world(tool_world), {"days": DAYS})


def test_every_series_is_replayed_for_the_days_asked(
    result: dict[str, Any], tool_world: ToolWorld
) -> None:
    metrics = result["metrics"]
    series = pd.read_parquet(tool_world.settings.world_dir / "series.parquet")
    assert metrics["series"] == len(series) > 0
    assert sum(metrics["abc_series"].values()) == len(series)
    assert metrics["days"] == DAYS
    assert set(metrics["models"]) == set(RULES)


def test_the_figures_of_every_rule_are_consistent(result: dict[str, Any]) -> None:
    metrics = result["metrics"]
    for name in RULES:
        row = metrics["models"][name]
        assert 0.0 < row["fill_rate"] <= 1.0, name
        assert {"fill_rate_A", "fill_rate_B", "fill_rate_C"} <= set(row), name
        # Each part is rounded to a whole unit on its own.
        parts = row["holding_cost"] + row["shortage_cost"] + row["ordering_cost"]
        assert abs(row["total_cost"] - parts) <= 2, name
        assert row["ordering_cost"] == 5 * row["orders"], name
        assert row["avg_inventory_value"] > 0, name
        assert (row["shortage_cost"] > 0) == (row["fill_rate"] < 1.0), name
        assert (row["stockout_days"] > 0) == (row["fill_rate"] < 1.0), name
    for forecaster in ("moving_average", "oracle"):
        policy = metrics["models"][f"{forecaster}/policy"]
        rule = metrics["models"][f"{forecaster}/simple_rule"]
        ratio = policy["total_cost"] / rule["total_cost"]
        assert metrics[f"{forecaster}_policy_over_rule_cost"] == pytest.approx(ratio, abs=1e-3)
        delta = policy["fill_rate"] - rule["fill_rate"]
        assert metrics[f"{forecaster}_fill_rate_delta"] == pytest.approx(delta, abs=1e-3)


def test_the_oracles_orders_cost_less_than_the_moving_averages(result: dict[str, Any]) -> None:
    metrics = result["metrics"]
    oracle = metrics["models"]["oracle/policy"]
    moving_average = metrics["models"]["moving_average/policy"]
    # Strictly: equal costs would mean both runs ordered on the same forecast.
    assert oracle["total_cost"] < moving_average["total_cost"]
    assert oracle["fill_rate"] >= moving_average["fill_rate"]
    ratio = moving_average["total_cost"] / oracle["total_cost"]
    assert metrics["moving_average_over_oracle_policy_cost"] == pytest.approx(ratio, abs=1e-3)
    assert metrics["policy_regret"] == pytest.approx(ratio - 1.0, abs=1e-3)
    assert metrics["policy_regret"] > 0.0


def test_the_policy_beats_the_simple_rule_with_either_forecast(result: dict[str, Any]) -> None:
    for forecaster in ("moving_average", "oracle"):
        assert result["metrics"][f"{forecaster}_policy_over_rule_cost"] < 1.0, forecaster
        assert result["metrics"][f"{forecaster}_fill_rate_delta"] > 0.0, forecaster


def test_a_replay_is_deterministic(result: dict[str, Any], tool_world: ToolWorld) -> None:
    # Seeded lead times: two runs of one world compare cleanly under `aisle eval compare`.
    again = run_model_suite("replenishment", _eval_world(tool_world), {"days": DAYS})
    assert again["metrics"]["models"] == result["metrics"]["models"]


def test_one_forecaster_alone_has_no_regret(tool_world: ToolWorld) -> None:
    only = run_model_suite(
        "replenishment", _eval_world(tool_world), {"days": 7, "forecasters": ["oracle"]}
    )
    assert set(only["metrics"]["models"]) == {"oracle/policy", "oracle/simple_rule"}
    assert only["metrics"]["policy_regret"] is None
    assert only["metrics"]["days"] == 7


def test_a_replay_too_long_for_the_world_or_an_unknown_forecaster_is_refused(
    tool_world: ToolWorld,
) -> None:
    with pytest.raises(ReplayError, match="leave 28 days of history") as too_long:
        run_model_suite("replenishment", _eval_world(tool_world), {"days": 40})
    # An AisleError: the runner records it as the suite's error instead of failing the run.
    assert isinstance(too_long.value, AisleError)
    replay = load_world_replay(tool_world.engine, tool_world.settings.world_dir, DAYS)
    with pytest.raises(ReplayError, match="Unknown forecaster 'naive'"):
        replay.simulate("naive")


def test_the_suite_runs_in_all_but_not_in_the_smoke_subset() -> None:
    planned = {suite.suite: params for suite, params in plan_suites(["all"]).models}
    assert planned["replenishment"] == {"days": 180, "forecasters": ["moving_average", "oracle"]}
    assert "replenishment" not in {suite.suite for suite, _ in plan_suites(["smoke"]).models}


def test_the_report_shows_the_rules_side_by_side(result: dict[str, Any]) -> None:
    summary = {
        "run": {
            "created_at": "2026-01-01T00:00:00+00:00",
            "seconds": 1.0,
            "world": "tool world",
            "suites": {"replenishment": 1},
            "repeat": 1,
            "machine": "test",
        },
        "brains": {},
        "goals": [],
    }
    report = render_report(summary, [], {"replenishment": result})
    assert "Model suite: replenishment" in report
    for name in RULES:
        assert f"<td>{name}</td>" in report
    total = result["metrics"]["models"]["oracle/policy"]["total_cost"]
    assert f"<td>{total:,}</td>" in report
    assert "<td>policy_regret</td>" in report
