"""Benchmark: A/B tests in the simulated market, whose true effects are known.

On the generated world's market (`evals/market.py`), units (signed-in customers, or one session
for an anonymous visitor) are split into arms by the experiments' own assignment
(`ml_core.experiments.assignment.choose_arm`: salted SHA-256, a fresh salt per run), and each run
is read with the report's own statistics (`ml_core.experiments.stats.compare_arms`: conversion
per visit, delta method over units), without and with CUPED.

- Pre-period: one window of visits before every test (`--pre-visits`; its signed-in customers'
  sessions, purchases and spend are the CUPED covariates; anonymous sessions never come back).
- Plan: from a history window after it (`--history-visits`, no arms), `stats.variance_profile`
  measures the visits' own noise and the floor the returning customers put under the variance,
  without and with CUPED, and `stats.visits_to_detect` plans the visits per arm for the uplift
  (None: no number of visits is enough); the plan that assumes independent visits
  (`stats.planned_sample_size`) is the baseline.
- A/A: both arms see the same policy, so every "significant" difference is a false positive;
  goal: a false-positive rate between 0.03 and 0.07 at alpha 0.05, without and with CUPED.
- Power: the treatment's visitors buy a clicked-and-carted item with probability x(1 + uplift),
  so its true conversion is exactly (1 + uplift) times the control's on the same lists (the
  market's exact expectation shows it); each run has the planned sample size; goal: at least
  0.8 of runs detect it. Every run is read both ways, so the two powers share their runs.
- Sample-ratio mismatch: units split 52/48 while the experiment declares 50/50; goal: the SRM
  check fires; its firing rate on a true 50/50 split is the baseline in the same run.

The policy is the oracle with noise 2 (`simulated_market.ORACLE_NOISE`): storefront-like rates
(CTR about 10%, conversion about 2.6%). Its list depends on the visitor's taste alone, so it is
ranked once per customer and served from there (the same lists, faster). Every run shares the
one pre-period: the runs are conditional on it, as a real test is on its own history.

    .venv/bin/python benchmarks/bench_experiments.py [--var-dir var] [--quick] [--aa-runs 200]
        [--aa-visits 40000] [--power-runs 100] [--uplift 0.05] [--srm-runs 200]
        [--srm-units 20000] [--pre-visits 1000000] [--history-visits 400000]
        [--output results.json]

`--quick` is for iterating: 40 A/A runs, 20 power runs, 40 SRM runs. Prints one JSON document
on stdout (and to --output); the table goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from scipy.stats import binomtest
from simulated_market import add_world_arguments
from worlds import machine, world_var_dir

from evals.market import Market, OraclePolicy, Policy, Slates, Visitors, Visits
from ml_core.experiments.assignment import Arm, choose_arm
from ml_core.experiments.stats import (
    VarianceProfile,
    compare_arms,
    planned_sample_size,
    smallest_detectable_uplift,
    srm_check,
    variance_profile,
    visits_to_detect,
)

ALPHA = 0.05
POWER = 0.8
NOISE = 2.0
ARMS = ("control", "treatment")
QUICK = {"aa_runs": 40, "power_runs": 20, "srm_runs": 40}


@dataclasses.dataclass
class ListsByTaste:
    """A deterministic policy whose list depends on the visitor's taste alone (the oracle),
    ranked once for every customer's taste and served from there."""

    lists: np.ndarray  # (customers, k)
    name: str
    stochastic: bool = False

    @classmethod
    def of(cls, policy: Policy, market: Market) -> ListsByTaste:
        everyone = market.population().take(np.arange(len(market.customer_ids)))
        items = policy.show(everyone, market.model.k, np.random.default_rng(0)).items
        return cls(items, policy.name)

    def show(self, visitors: Visitors, k: int, rng: np.random.Generator) -> Slates:
        return Slates(self.lists[visitors.taste])


def arms_of(units: np.ndarray, salt: str, weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Each unit's arm by the experiments' own choice of arm, with `salt` as the experiment's
    salt (the experiment owns all of its layer here, so the layer's bucket is not asked)."""
    arms = [Arm(name, weight) for name, weight in zip(ARMS, weights, strict=True)]
    chosen = {unit: choose_arm(arms, salt, unit)[0].name for unit in set(units)}
    return np.array([chosen[u] for u in units], dtype=object)


def conversion_p_values(visits: Visits, arms: np.ndarray, pre: Visits) -> tuple[float, float]:
    """(plain, CUPED) p-values of the conversion difference."""
    units = dataclasses.replace(visits, arm=arms).unit_outcomes(pre)
    return tuple(  # type: ignore[return-value]
        compare_arms(units, "control", alpha=ALPHA, cuped=cuped, metrics=("conversion",))[0].p_value
        for cuped in (False, True)
    )


def two_markets(market_dir: Path, uplift: float) -> tuple[Market, Market]:
    control = Market.from_world(market_dir)
    model = dataclasses.replace(
        control.model, purchase_given_cart=control.model.purchase_given_cart * (1 + uplift)
    )
    return control, Market.from_world(market_dir, model)


def run_power(
    control: Market,
    treated: Market,
    policy: Policy,
    pre: Visits,
    visits_per_arm: int,
    rng: np.random.Generator,
    run: int,
) -> tuple[float, float]:
    """One A/B run: the same lists, each visit answered by its arm's market."""
    visitors = control.visitors(2 * visits_per_arm, rng, session_prefix=f"p{run}")
    parts: list[Visits] = []
    order: list[np.ndarray] = []
    arms = arms_of(visitors.unit_id, f"power-{run}")
    for arm, market in zip(ARMS, (control, treated), strict=True):
        index = np.flatnonzero(arms == arm)
        parts.append(market.simulate(policy, visitors.take(index), rng))
        order.append(index)
    merged = Visits.concat(parts, visitors.take(np.concatenate(order)))
    return conversion_p_values(merged, np.concatenate([arms[i] for i in order]), pre)


def rate(k: int, n: int) -> dict[str, Any]:
    """A Monte-Carlo rate: count, runs, rate, its standard error and Clopper-Pearson 95%."""
    if not n:
        return {"count": k, "runs": 0, "rate": None, "mc_se": None, "ci95": None}
    interval = binomtest(k, n).proportion_ci(0.95)
    return {
        "count": k,
        "runs": n,
        "rate": k / n,
        "mc_se": math.sqrt(k / n * (1 - k / n) / n),
        "ci95": [interval.low, interval.high],
    }


def plan(profile: VarianceProfile, uplift: float) -> dict[str, Any]:
    """The plans from the history window's profile, without and with CUPED."""
    out: dict[str, Any] = {
        "history_units": profile.units,
        "history_visits": profile.visits,
        "baseline": profile.baseline,
        "visit_variance": profile.visit_variance,
        "repeat_floor": profile.repeat_floor,
        "cuped_floor": profile.cuped_floor,
        "cuped_variance_reduction_at_history_size": profile.cuped_variance_reduction,
        "independent_visits_per_arm": planned_sample_size(
            profile.baseline, uplift, alpha=ALPHA, power=POWER
        ),
    }
    for label, cuped in (("plain", False), ("cuped", True)):
        n = visits_to_detect(profile, uplift, alpha=ALPHA, power=POWER, cuped=cuped)
        at = n or profile.visits / 2
        out[label] = {
            "visits_per_arm": n,
            "design_effect": profile.design_effect(at, cuped=cuped),
            "design_effect_at": at,
            "smallest_uplift_any_size": smallest_detectable_uplift(
                profile, alpha=ALPHA, power=POWER, cuped=cuped
            ),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for iterating")
    parser.add_argument("--aa-runs", type=int, default=200)
    parser.add_argument("--aa-visits", type=int, default=40_000, help="visits per A/A run")
    parser.add_argument("--power-runs", type=int, default=100)
    parser.add_argument("--uplift", type=float, default=0.05, help="true relative uplift")
    parser.add_argument("--srm-runs", type=int, default=200)
    parser.add_argument("--srm-units", type=int, default=20_000)
    parser.add_argument("--pre-visits", type=int, default=1_000_000, help="the pre-period")
    parser.add_argument("--history-visits", type=int, default=400_000, help="what plans")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.quick:
        for name, runs in QUICK.items():
            setattr(args, name, runs)
    console = Console(stderr=True)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.world_seed, console=console) as (
        var,
        _,
    ):
        control, treated = two_markets(var / "world", args.uplift)
        oracle = OraclePolicy(control, noise=NOISE, seed=100)
        truth_control = control.expected(oracle).conversion
        truth_treated = treated.expected(OraclePolicy(treated, noise=NOISE, seed=100)).conversion
        policy = ListsByTaste.of(oracle, control)
        before = control.visitors(args.pre_visits, rng, session_prefix="pre")
        pre = control.simulate(policy, before.take(np.flatnonzero(before.signed_in)), rng)
        history = control.simulate(
            policy, control.visitors(args.history_visits, rng, session_prefix="h"), rng
        )
        profile = variance_profile(history.unit_outcomes(pre).drop(columns="arm"), "conversion")
        plans = plan(profile, args.uplift)
        planned = plans["cuped"]["visits_per_arm"] or plans["plain"]["visits_per_arm"]
        with Progress(console=console, transient=True) as progress:
            aa_task = progress.add_task("A/A runs", total=args.aa_runs)
            aa_p = []
            for run in range(args.aa_runs):
                visitors = control.visitors(args.aa_visits, rng, session_prefix=f"aa{run}")
                visits = control.simulate(policy, visitors, rng)
                aa_p.append(
                    conversion_p_values(visits, arms_of(visitors.unit_id, f"aa-{run}"), pre)
                )
                progress.advance(aa_task)
            power_task = progress.add_task("A/B runs at the planned size", total=args.power_runs)
            power_p = []
            for run in range(args.power_runs if planned else 0):
                power_p.append(run_power(control, treated, policy, pre, planned, rng, run))
                progress.advance(power_task)
            srm_task = progress.add_task("SRM checks", total=args.srm_runs)
            fired = {"52/48": 0, "50/50": 0}
            for run in range(args.srm_runs):
                units = np.array([f"srm{run}-{i}" for i in range(args.srm_units)], dtype=object)
                for label, weights in (("52/48", (0.52, 0.48)), ("50/50", (0.5, 0.5))):
                    arms = arms_of(units, f"srm-{label}-{run}", weights)
                    counts = {arm: int((arms == arm).sum()) for arm in ARMS}
                    _, mismatch = srm_check(counts, dict.fromkeys(ARMS, 0.5))
                    fired[label] += int(mismatch)
                progress.advance(srm_task)

    def rejected(p_values: list[tuple[float, float]], which: int) -> dict[str, Any]:
        return rate(sum(p[which] < ALPHA for p in p_values), len(p_values))

    payload = {
        "benchmark": "experiments",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "alpha": ALPHA,
        "policy": f"oracle, noise {NOISE}",
        "true_conversion": {"control": truth_control, "treatment": truth_treated},
        "true_uplift": truth_treated / truth_control - 1,
        "pre_period_visits": args.pre_visits,
        "plan": plans,
        "aa": {
            "visits_per_run": args.aa_visits,
            "plain": rejected(aa_p, 0),
            "cuped": rejected(aa_p, 1),
        },
        "power": {
            "visits_per_arm": planned,
            "plain": rejected(power_p, 0),
            "cuped": rejected(power_p, 1),
        },
        "srm": {
            "units_per_run": args.srm_units,
            "fires_on_52_48": rate(fired["52/48"], args.srm_runs),
            "fires_on_50_50": rate(fired["50/50"], args.srm_runs),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    table = Table(title="A/B tests in the simulated market")
    for column in ("check", "runs", "rate", "MC s.e.", "95% interval", "goal"):
        table.add_column(column)

    def row(name: str, result: dict[str, Any], goal: str) -> None:
        if not result["runs"]:
            table.add_row(name, "0", "-", "-", "-", goal)
            return
        low, high = result["ci95"]
        table.add_row(
            name,
            str(result["runs"]),
            f"{result['rate']:.3f}",
            f"{result['mc_se']:.3f}",
            f"{low:.3f}-{high:.3f}",
            goal,
        )

    size = f"{planned:,}" if planned else "no size"
    row("A/A false positives, plain", payload["aa"]["plain"], "0.03-0.07")
    row("A/A false positives, CUPED", payload["aa"]["cuped"], "0.03-0.07")
    row(f"power, +{args.uplift:.0%} at {size} visits/arm, plain", payload["power"]["plain"], "")
    row(
        f"power, +{args.uplift:.0%} at {size} visits/arm, CUPED",
        payload["power"]["cuped"],
        ">= 0.8",
    )
    row("SRM fires, 52/48", payload["srm"]["fires_on_52_48"], "fires")
    row("SRM fires, 50/50 (baseline)", payload["srm"]["fires_on_50_50"], "~0")
    console.print(table)
    for label in ("plain", "cuped"):
        p = plans[label]
        visits = f"{p['visits_per_arm']:,}" if p["visits_per_arm"] else "no number of visits"
        console.print(
            f"plan, {label}: {visits} per arm (independent-visits plan "
            f"{plans['independent_visits_per_arm']:,}); design effect {p['design_effect']:.2f}; "
            f"smallest uplift any size detects {p['smallest_uplift_any_size']:.1%}"
        )
    text = json.dumps(payload, indent=2) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
