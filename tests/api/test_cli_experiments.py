"""`aisle experiments create|start|stop|list|report`: the life cycle over the command line, the
report as a table and as JSON, and bad input as one sentence with exit code 2."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from typer.testing import Result

from tests.ml_core.test_experiment_report import log_traffic

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
ARMS = ["--arm", "control=1", "--arm", 'ease=1:{"model": "ease"}']


def test_create_start_report_and_stop(aisle: Aisle, engine: Engine) -> None:
    created = aisle(
        "experiments", "create", "--name", "home grid", "--layer", "home", *ARMS,
        "--metric", "ctr", "--baseline-rate", "0.1", "--as", "evaluator:eve", "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    experiment = json.loads(created.stdout)
    assert experiment["status"] == "draft" and experiment["created_by"] == "evaluator:eve"
    assert experiment["arms"][1] == {"name": "ease", "weight": 1.0, "config": {"model": "ease"}}
    assert experiment["planned_units"] > 2 * 10_000  # +5% on a 10% rate: ~29,000 per arm
    assert experiment["plan"]["method"] == "independent visits"  # an empty store: no history
    worded = aisle("experiments", "create", "--name", "worded", *ARMS, "--metric", "ctr")
    assert worded.exit_code == 0, worded.output
    assert "planned sample size (none): Too little history to plan from" in worded.stdout
    assert aisle("experiments", "start", "home grid").exit_code == 0
    clicks = log_traffic(engine, experiment["id"], units=300)

    table = aisle("experiments", "report", experiment["id"])
    assert table.exit_code == 0, table.output
    assert "sample ratio check" in table.stdout and "CTR *" in table.stdout
    assert "planned sample size" in table.stdout and "guardrail revenue per visit" in table.stdout

    report = json.loads(aisle("experiments", "report", "home grid", "--json").stdout)
    assert sum(report["units"].values()) == 300
    ctr = next(r for r in report["results"] if r["metric"] == "ctr")
    assert ctr["value"] == pytest.approx(clicks["ease"] / report["visits"]["ease"])
    assert {p["arm"] for p in report["over_time"]} == {"control", "ease"}

    listed = json.loads(aisle("experiments", "list", "--json").stdout)
    assert [(e["name"], e["status"]) for e in listed] == [
        ("worded", "draft"),
        ("home grid", "running"),
    ]
    stopped = aisle("experiments", "stop", "home grid")
    assert stopped.exit_code == 0 and "stopped" in stopped.stdout


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["create", "--name", "one", "--arm", "control=1"], "needs at least two arms"),
        (["create", "--name", "w", "--arm", "a=1", "--arm", "b=-1"], "weights must be above 0"),
        (["create", "--name", "t", *ARMS, "--traffic", "0"], "above 0 and at most 1"),
        (["create", "--name", "j", "--arm", "a=1", "--arm", "b=1:{oops"], "not JSON"),
        (["create", "--name", "m", *ARMS, "--metric", "likes"], "Unknown metric 'likes'"),
        (["start", "nope"], "No experiment with id or name 'nope'."),
        (["report", "nope"], "No experiment with id or name 'nope'."),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(aisle: Aisle, args: list[str], sentence: str) -> None:
    result = aisle("experiments", *args)
    assert result.exit_code == 2
    assert sentence in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_full_layer_refuses_another_start(aisle: Aisle) -> None:
    for name in ("a", "b"):
        made = aisle("experiments", "create", "--name", name, *ARMS, "--traffic", "0.6")
        assert made.exit_code == 0, made.output
    assert aisle("experiments", "start", "a").exit_code == 0
    refused = aisle("experiments", "start", "b")
    assert refused.exit_code == 2
    assert "Layer 'default' has 40.00% of its traffic free" in refused.stderr
