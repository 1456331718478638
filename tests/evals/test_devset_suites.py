"""The dev-set suites through the runner: a handful of shopper requests, order tasks and
confirmation replies with the local brain on a private copy of the tool world (real NLU, tools,
index, LangGraph and database), scored by the dev sets' own scorers; their figures in
summary.json and report.html, the cases this world cannot score skipped, the gates that trip on
a regression, and the evaluation world's fingerprint over the DummyJSON data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.compare import check_gates, flatten, load_gates
from evals.metrics import share
from evals.order_tasks import database_state
from evals.runner import RunOptions, run_evals
from evals.world import WorldError, WorldSpec
from tests.tools.world import ToolWorld

SHOPPER = [
    "g-tents",  # a single request with matches
    "g-backpak-typo",  # a typo
    "n-pink-tent",  # nothing matches: the answer must say so
    "m-jacket-blue-women-cheapest",  # a script of refinements
    "g-bottle-cheapest",  # a sort
    "t-laptop",  # a DummyJSON category, which the tool world does not import
]
ORDERS = ["cancel-01", "return-04", "read_only-03"]
REPLIES = [
    "cancel: okay, no thanks",
    "cancel: yes",
    "cancel: Yes, go ahead",
    "return: yes but to my other card",
]
CONFIRMING = "olivia_ito_3591"


@pytest.fixture(scope="module")
def handful(
    tool_world: ToolWorld, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """The run's summary and output folder, and the confirming shopper's records before it."""
    before = database_state(tool_world.engine, CONFIRMING)
    out = tmp_path_factory.mktemp("devsets") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISLE_LLM_BASE_URL", "")
        summary = run_evals(
            RunOptions(
                suites=["shopper-devset", "order-tasks", "confirmations"],
                brains=["local"],
                output_dir=out,
                database=Path(tool_world.settings.resolved_database_url.removeprefix("sqlite:///")),
                var_dir=tool_world.settings.var_dir,
                tau2_dir=shared_data / "tau2_retail",
                only={"shopper-devset": SHOPPER, "order-tasks": ORDERS, "confirmations": REPLIES},
                show_progress=False,
            )
        )
    return summary, out, before


def _records(folder: Path, kind: str) -> list[dict[str, Any]]:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == kind]


@pytest.mark.slow
def test_shopper_requests_are_scored_and_the_unscorable_skipped(
    handful: tuple[dict[str, Any], Path, dict[str, Any]],
) -> None:
    summary, folder, _ = handful
    figures = summary["devsets"]["shopper-devset"]["dev"]["local"]
    assert figures["skipped"] == 1 and figures["cases"] == 5
    skipped = _records(folder, "devset_skip")
    assert [(r["item"], r["why"]) for r in skipped] == [
        ("t-laptop", ["unknown categories ['dj-laptops']"])
    ]
    turns = _records(folder, "devset_turn")
    assert {t["case"] for t in turns} == set(SHOPPER) - {"t-laptop"}
    assert figures["turns"] == len(turns) and figures["follow_up_turns"] >= 2
    singles = [t for t in turns if t["kind"] == "single" and not t["no_match_expected"]]
    assert figures["success"] == round(sum(t["success"] for t in singles) / len(singles), 3)
    pink = next(t for t in turns if t["case"] == "n-pink-tent")
    assert pink["relevant"] == 0 and figures["no_match_requests"] == 1
    assert figures["no_match_honesty"] == float(pink["success"])
    assert figures["sort_turns"] >= 1 and figures["turn_latency_p95_ms"] > 0


@pytest.mark.slow
def test_order_tasks_are_scored_by_their_end_state(
    handful: tuple[dict[str, Any], Path, dict[str, Any]],
) -> None:
    summary, folder, _ = handful
    figures = summary["devsets"]["order-tasks"]["dev"]["local"]
    tasks = _records(folder, "devset_task")
    assert [t["item"] for t in tasks] == ORDERS and figures["skipped"] == 0
    single = [t for t in tasks if t["single_write"]]
    assert figures["single_write_tasks"] == len(single) == 2
    assert figures["single_write_pass_rate"] == share(sum(t["passed"] for t in single), 2)
    assert figures["all_pass_rate"] == share(sum(t["passed"] for t in tasks), 3)
    for task in tasks:
        assert task["passed"] == (not task["differences"] and task["error"] is None)
    assert figures["extraneous_write_tasks"] == 0
    assert all(t["transcript"] for t in tasks)


@pytest.mark.slow
def test_only_a_clear_yes_writes_and_each_yes_finds_the_order_as_it_was(
    handful: tuple[dict[str, Any], Path, dict[str, Any]], tool_world: ToolWorld
) -> None:
    summary, folder, before = handful
    figures = summary["devsets"]["confirmations"]["all"]["local"]
    assert figures["replies"] == 4 and figures["skipped"] == figures["not_asked"] == 0
    assert figures["non_yes_replies"] == 2 and figures["writes_from_non_yes"] == 0
    # Two yeses to the same cancellation both write: the copy was restored after the first.
    assert figures["yes_replies"] == figures["yes_replies_that_wrote"] == 2
    replies = {r["item"]: r for r in _records(folder, "devset_reply")}
    assert (
        replies["cancel: yes"]["wrote_as_asked"] and not replies["cancel: okay, no thanks"]["wrote"]
    )
    # The run wrote to copies only.
    assert database_state(tool_world.engine, CONFIRMING) == before


@pytest.mark.slow
def test_the_report_shows_the_dev_sets_and_the_goals_name_them(
    handful: tuple[dict[str, Any], Path, dict[str, Any]],
) -> None:
    summary, folder, _ = handful
    assert summary["brains"] == {} and summary["run"]["suites"] == {
        "shopper-devset": 1,
        "order-tasks": 1,
        "confirmations": 1,
    }
    goals = {g["goal"]: g for g in summary["goals"]}
    safety = goals["local brain, confirmations (all): writes from non yes <= 0"]
    assert safety["value"] == 0 and safety["met"]
    report = (folder / "report.html").read_text()
    assert "<h2>Dev sets</h2>" in report
    for heading in ("shopper-devset", "order-tasks", "confirmations"):
        assert f"<h3>{heading}</h3>" in report
    assert "writes from non-yes replies" in report and "skipped: unknown categories" in report


@pytest.mark.slow
def test_the_gates_trip_on_a_dev_set_regression(
    handful: tuple[dict[str, Any], Path, dict[str, Any]],
) -> None:
    summary, _, _ = handful
    gates = load_gates()
    champion = flatten(summary)
    assert "devsets.confirmations.all.local.writes_from_non_yes" in champion
    challenger = dict(champion)
    challenger["devsets.confirmations.all.local.writes_from_non_yes"] = 1
    challenger["devsets.order-tasks.dev.local.extraneous_write_tasks"] = 1
    challenger["devsets.shopper-devset.dev.local.success"] -= 0.1
    regressed = {
        "devsets.confirmations.all.local.writes_from_non_yes",
        "devsets.order-tasks.dev.local.extraneous_write_tasks",
        "devsets.shopper-devset.dev.local.success",
    }
    failed = {r.metric for r in check_gates(gates, champion, challenger) if not r.passed}
    assert failed >= regressed
    # The same run passes the safety gates (the floors are the small world's, not this one's).
    same = {r.metric for r in check_gates(gates, champion, champion) if not r.passed}
    assert not {m for m in same if "writes" in m}


def test_the_small_world_fingerprints_the_dummyjson_data_and_the_tiny_one_does_not(
    tmp_path: Path,
) -> None:
    tau2, dummyjson = tmp_path / "tau2", tmp_path / "dummyjson"
    tau2.mkdir()
    dummyjson.mkdir()
    (tau2 / "db.json").write_text("{}")
    (dummyjson / "products.json").write_text('{"products": []}')
    small, tiny = WorldSpec("small", tau2, dummyjson), WorldSpec("tiny", tau2, dummyjson)
    assert small.dummyjson_file == dummyjson / "products.json" and tiny.dummyjson_file is None
    fingerprints = (small.fingerprint(), tiny.fingerprint())
    (dummyjson / "products.json").write_text('{"products": [], "total": 0}')
    assert small.fingerprint() != fingerprints[0]
    assert tiny.fingerprint() == fingerprints[1]
    (dummyjson / "products.json").unlink()
    with pytest.raises(WorldError, match="The DummyJSON data is not at"):
        small.fingerprint()
    assert tiny.fingerprint() == fingerprints[1]
