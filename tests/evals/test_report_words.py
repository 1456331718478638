"""Figures in the evaluation pages say what they count: the operations table's executions are
the proposal scenarios', not the chat cases' of the safety table, and the smoke subset is not
listed as a suite of its own."""

from __future__ import annotations

from evals.report import render_report
from evals.runs import suites_in_words


def test_the_smoke_subset_is_not_listed_as_a_suite() -> None:
    assert suites_in_words({"shopper": 1, "retrieval": 1}) == "shopper, retrieval"
    assert suites_in_words({"smoke": 1, "shopper": 1, "operations": 2}) == (
        "smoke subset of shopper, operations"
    )
    assert suites_in_words({"smoke": 1}) == "smoke subset"


def test_the_operations_executions_say_what_they_count() -> None:
    summary = {
        "run": {
            "created_at": "2026-01-01T00:00:00+00:00",
            "seconds": 1.0,
            "world": "tool world",
            "suites": {"operations": 1},
            "repeat": 1,
            "machine": "test",
        },
        "brains": {},
        "goals": [],
    }
    operations = {
        "metrics": {"steps": 2, "executions": 1, "unapproved_executions": 0},
        "scenarios": [],
    }
    report = render_report(summary, [], {}, operations)
    assert "<td>proposal executions during the operations scenarios</td>" in report
    assert "<td>of them without an approval</td>" in report
    assert "<td>executions</td>" not in report
