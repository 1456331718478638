"""The markdown simulator's core: plans scored under a known true demand model."""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from ml_core.pricing.guardrails import Guardrails
from ml_core.pricing.markdown import MarkdownItem

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The benchmark is a script beside `worlds.py`, not a package: import it as the script runs.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("bench_pricing_markdown")


@pytest.fixture
def truth() -> MarkdownItem:
    # Half again the stock the season sells at full price, demand fading toward the season end.
    baseline = tuple(80.0 - 5.0 * w for w in range(10))
    return MarkdownItem(
        item_id="coat",
        list_price=100.0,
        current_price=100.0,
        unit_cost=45.0,
        stock=1.5 * sum(baseline),
        baseline=baseline,
        elasticity=-2.5,
        salvage=15.0,
    )


def test_naive_rule_marks_down_the_last_eight_weeks(sim: ModuleType, truth: MarkdownItem) -> None:
    assert sim.rule_prices(truth) == [100.0, 100.0] + [70.0] * 8


def test_oracle_beats_the_rule_and_no_markdown_under_the_true_demand(
    sim: ModuleType, truth: MarkdownItem
) -> None:
    wrong = replace(truth, elasticity=-0.8)
    out = sim.simulate_item(truth, {"oracle": truth, "wrong": wrong}, Guardrails())
    assert set(out) == {"oracle", "wrong", "naive", "none"}
    oracle = out["oracle"].profit
    assert oracle > out["naive"].profit
    assert oracle > out["none"].profit
    # Scored under the truth, a plan from the wrong elasticity cannot beat the oracle (beyond the
    # optimiser's stock-grid rounding), and it holds the price too long: more is left over.
    assert out["wrong"].profit <= oracle * (1 + 1e-3)
    assert out["wrong"].leftover > out["oracle"].leftover
    # No markdown sells exactly the baseline; the stock and units add up for every policy.
    assert out["none"].sold == pytest.approx(sum(truth.baseline))
    for outcome in out.values():
        assert outcome.sold + outcome.leftover == pytest.approx(truth.stock)
