"""A run's verdict and wall time as the evaluation page and the report state them."""

from __future__ import annotations

from typing import Any

import pytest

from evals.runner import failing_suites
from evals.runs import duration, headline


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "–"), (39.46, "39.5 s"), (192.0, "3 min 12 s"), (3725.0, "1 h 02 min")],
)
def test_wall_time_reads_in_minutes_past_a_minute(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def _brain(**suites: tuple[float | None, int]) -> dict[str, Any]:
    return {
        "by_suite": {
            name: {"task_success": success, "cases": cases}
            for name, (success, cases) in suites.items()
        }
    }


def test_the_headline_counts_every_failing_suite_beside_the_goals() -> None:
    brains = {
        "local": _brain(shopper=(1.0, 6), rag=(0.0, 4), orders=(0.75, 4), empty=(None, 0)),
        "hybrid": _brain(shopper=(0.5, 6)),
    }
    failing = failing_suites(brains)
    assert [(f["suite"], f["brain"]) for f in failing] == [
        ("rag", "local"),
        ("shopper", "hybrid"),
        ("orders", "local"),
    ]
    goals = [{"goal": f"goal {n}", "value": 1, "met": True} for n in range(8)]
    summary = {"goals": goals, "failing_suites": failing}
    assert headline(summary) == (
        "8 of 8 goals met; 3 suites failing: rag (local: task success 0.0%), "
        "shopper (hybrid: task success 50.0%), orders (local: task success 75.0%)"
    )
    passed = {"goals": goals[:2], "failing_suites": failing_suites({"local": _brain(a=(1.0, 2))})}
    assert headline(passed) == "2 of 2 goals met; every suite passed"
