"""Benchmark: A/B tests in the simulated market, whose true effects are known.

On the generated world's market (`evals/market.py`), units (signed-in customers, or one session
for an anonymous visitor) are split into arms by the experiments' own assignment
(`ml_core.experiments.assignment`: salted SHA-256, a fresh salt per run), and each run is read
with the report's own statistics (`ml_core.experiments.stats.compare_arms`: conversion per visit,
delta method over units).

- A/A: both arms see the same policy, so every "significant" difference is a false positive;
  goal: a false-positive rate between 0.03 and 0.07 at alpha 0.05 over at least 200 runs.
- Power: the treatment's visitors buy a clicked-and-carted item with probability x(1 + uplift),
  so its true conversion is exactly (1 + uplift) times the control's on the same lists (the
  market's exact expectation shows it); each run has the planned sample size
  (`stats.planned_sample_size` for the true baseline); goal: at least 0.8 of runs detect it.
- Sample-ratio mismatch: units split 52/48 while the experiment declares 50/50; goal: the SRM
  check fires; its firing rate on a true 50/50 split is the baseline in the same run.

The policy is the oracle with noise 2 (`simulated_market.ORACLE_NOISE`): storefront-like rates
(CTR about 10%, conversion about 2.6%).

    .venv/bin/python benchmarks/bench_experiments.py [--var-dir var] [--aa-runs 200]
        [--aa-visits 40000] [--power-runs 100] [--uplift 0.05] [--srm-runs 200]
        [--srm-units 20000] [--output results.json]

Prints one JSON document on stdout (and to --output); the table goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
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

from evals.market import Market, OraclePolicy, Visits
from ml_core.experiments.assignment import BUCKETS, Arm, ExperimentSpec, assign
from ml_core.experiments.stats import compare_arms, planned_sample_size, srm_check

ALPHA = 0.05
NOISE = 2.0
ARMS = ("control", "treatment")


def arms_of(units: np.ndarray, salt: str, weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Each unit's arm by the experiments' assignment, with `salt` as the experiment's salt."""
    spec = ExperimentSpec(
        id=salt,
        layer="bench",
        salt=salt,
        arms=tuple(Arm(name, weight) for name, weight in zip(ARMS, weights, strict=True)),
        buckets=frozenset(range(BUCKETS)),
    )
    chosen = {}
    for unit in set(units):
        found = assign([spec], unit)
        assert found is not None  # the spec owns every bucket
        chosen[unit] = found.arm
    return np.array([chosen[u] for u in units], dtype=object)


def with_arms(visits: Visits, arms: np.ndarray) -> Visits:
    return dataclasses.replace(visits, arm=arms)


def conversion_p_value(visits: Visits) -> float:
    units = visits.unit_outcomes()
    (result,) = compare_arms(units, "control", alpha=ALPHA, cuped=False, metrics=("conversion",))
    return result.p_value


def two_markets(market_dir: Path, uplift: float) -> tuple[Market, Market]:
    control = Market.from_world(market_dir)
    model = dataclasses.replace(
        control.model, purchase_given_cart=control.model.purchase_given_cart * (1 + uplift)
    )
    return control, Market.from_world(market_dir, model)


def run_power(
    control: Market,
    treated: Market,
    policy: OraclePolicy,
    visits_per_arm: int,
    rng: np.random.Generator,
    run: int,
) -> float:
    """One A/B run: the same lists, each visit answered by its arm's market."""
    visitors = control.visitors(2 * visits_per_arm, rng, session_prefix=f"p{run}")
    parts: list[Visits] = []
    order: list[np.ndarray] = []
    arms = arms_of(visitors.unit_id, f"power-{run}")
    for arm, market in zip(ARMS, (control, treated), strict=True):
        index = np.flatnonzero(arms == arm)
        batch = visitors.take(index)
        parts.append(market.simulate(policy, batch, rng))
        order.append(index)
    merged = Visits.concat(parts, visitors.take(np.concatenate(order)))
    return conversion_p_value(with_arms(merged, np.concatenate([arms[i] for i in order])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_arguments(parser)
    parser.add_argument("--aa-runs", type=int, default=200)
    parser.add_argument("--aa-visits", type=int, default=40_000, help="visits per A/A run")
    parser.add_argument("--power-runs", type=int, default=100)
    parser.add_argument("--uplift", type=float, default=0.05, help="true relative uplift")
    parser.add_argument("--srm-runs", type=int, default=200)
    parser.add_argument("--srm-units", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    console = Console(stderr=True)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    with world_var_dir(args.var_dir, scale=args.scale, seed=args.world_seed, console=console) as (
        var,
        _,
    ):
        control, treated = two_markets(var / "world", args.uplift)
        policy = OraclePolicy(control, noise=NOISE, seed=100)
        truth_control = control.expected(policy).conversion
        truth_treated = treated.expected(OraclePolicy(treated, noise=NOISE, seed=100)).conversion
        planned = planned_sample_size(truth_control, args.uplift, alpha=ALPHA, power=0.8)
        with Progress(console=console, transient=True) as progress:
            aa_task = progress.add_task("A/A runs", total=args.aa_runs)
            aa_p = []
            for run in range(args.aa_runs):
                visitors = control.visitors(args.aa_visits, rng, session_prefix=f"aa{run}")
                visits = control.simulate(policy, visitors, rng)
                aa_p.append(
                    conversion_p_value(with_arms(visits, arms_of(visitors.unit_id, f"aa-{run}")))
                )
                progress.advance(aa_task)
            power_task = progress.add_task("A/B runs at the planned size", total=args.power_runs)
            power_p = []
            for run in range(args.power_runs):
                power_p.append(run_power(control, treated, policy, planned, rng, run))
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
    false_positives = sum(p < ALPHA for p in aa_p)
    detected = sum(p < ALPHA for p in power_p)

    def rate(k: int, n: int) -> dict[str, Any]:
        interval = binomtest(k, n).proportion_ci(0.95) if n else None
        return {
            "count": k,
            "runs": n,
            "rate": k / n if n else None,
            "ci95": [interval.low, interval.high] if interval else None,
        }

    payload = {
        "benchmark": "experiments",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "alpha": ALPHA,
        "policy": f"oracle, noise {NOISE}",
        "true_conversion": {"control": truth_control, "treatment": truth_treated},
        "true_uplift": truth_treated / truth_control - 1,
        "aa": {"visits_per_run": args.aa_visits, **rate(false_positives, len(aa_p))},
        "power": {"visits_per_arm": planned, **rate(detected, len(power_p))},
        "srm": {
            "units_per_run": args.srm_units,
            "fires_on_52_48": rate(fired["52/48"], args.srm_runs),
            "fires_on_50_50": rate(fired["50/50"], args.srm_runs),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    table = Table(title="A/B tests in the simulated market")
    for column in ("check", "runs", "rate", "95% interval", "goal"):
        table.add_column(column)

    def row(name: str, result: dict[str, Any], goal: str) -> None:
        low, high = result["ci95"]
        table.add_row(
            name, str(result["runs"]), f"{result['rate']:.3f}", f"{low:.3f}-{high:.3f}", goal
        )

    row("A/A false positives", payload["aa"], "0.03-0.07")
    row(f"power, +{args.uplift:.0%} at {planned:,} visits/arm", payload["power"], ">= 0.8")
    row("SRM fires, 52/48", payload["srm"]["fires_on_52_48"], "fires")
    row("SRM fires, 50/50 (baseline)", payload["srm"]["fires_on_50_50"], "~0")
    console.print(table)
    text = json.dumps(payload, indent=2) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
