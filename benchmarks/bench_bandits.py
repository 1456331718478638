"""Benchmark: Thompson sampling against uniform allocation over recommendation strategies.

Arms are distinct policies on the generated world's simulated market (`evals/market.py`):
random, popularity, the trained recommender and three oracles that know the truth up to a
fixed error (`simulated_market.py`). The reward of a visit is whether the visitor clicked at
least one of the k items shown (a Bernoulli reward; Beta-Bernoulli Thompson sampling). Each
arm's true click rate is the market's exact expectation over the whole population, so the
regret of a run is exact: the sum over visits of (best arm's true rate - chosen arm's true
rate), the pseudo-regret.

Each seed draws `--visits` visitors; each visitor's reward under each arm is drawn from the
click model's probability for that visitor and that arm's list (the same visitors for both
allocations, common random numbers). Thompson sampling refreshes its posterior every
`--batch` visits (a storefront updates its state in batches, not per click); uniform allocation
picks an arm uniformly at random per visit. Goal (issue 20): Thompson sampling's cumulative
regret at most a third of uniform's.

    .venv/bin/python benchmarks/bench_bandits.py [--var-dir var] [--visits 100000]
        [--seeds 5] [--batch 100] [--output results.json]

Prints one JSON document on stdout (and to --output); the table goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from simulated_market import add_world_arguments, market_and_arms, per_visit_values
from worlds import machine

from ml_core.experiments.bandit import ThompsonSampler

console = Console(stderr=True, width=150)
ANY_CLICK = 1  # the column of P(at least one click) in per_visit_values


def run_seed(
    probabilities: np.ndarray, true_rates: np.ndarray, batch: int, seed: int
) -> dict[str, Any]:
    """Cumulative pseudo-regret of Thompson sampling and of uniform allocation over the visits
    whose per-arm click probabilities are `probabilities` (visits x arms)."""
    n, n_arms = probabilities.shape
    rng = np.random.default_rng(seed)
    # One uniform draw per visit decides every arm's reward: the allocations see the same luck.
    luck = rng.random(n)
    rewards = luck[:, None] < probabilities
    gaps = true_rates.max() - true_rates

    sampler = ThompsonSampler([str(a) for a in range(n_arms)], rng=rng)
    started = time.perf_counter()
    ts_arms = np.empty(n, dtype=np.int64)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        arms, _ = sampler.choose_many(stop - start)
        ts_arms[start:stop] = arms
        sampler.update_many(arms, rewards[np.arange(start, stop), arms].astype(float))
    ts_seconds = time.perf_counter() - started
    uniform_arms = rng.integers(0, n_arms, n)
    checkpoints = [n // 10, n // 2, n]
    ts_curve = np.cumsum(gaps[ts_arms])
    uniform_curve = np.cumsum(gaps[uniform_arms])
    return {
        "seed": seed,
        "ts_regret": float(ts_curve[-1]),
        "uniform_regret": float(uniform_curve[-1]),
        "ratio": float(ts_curve[-1] / uniform_curve[-1]),
        "ts_regret_at": {str(c): float(ts_curve[c - 1]) for c in checkpoints},
        "uniform_regret_at": {str(c): float(uniform_curve[c - 1]) for c in checkpoints},
        "ts_clicks": int(rewards[np.arange(n), ts_arms].sum()),
        "uniform_clicks": int(rewards[np.arange(n), uniform_arms].sum()),
        "ts_share_of_best": float((ts_arms == true_rates.argmax()).mean()),
        "ts_share_last_10pct": np.bincount(ts_arms[-n // 10 :], minlength=n_arms).tolist(),
        "ts_seconds": ts_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_arguments(parser)
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100, help="visits between TS updates")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    with market_and_arms(args, console) as (market, arms):
        names = list(arms)
        truth = {name: market.expected(policy) for name, policy in arms.items()}
        true_rates = np.array([truth[name].click_rate for name in names])
        runs = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(1000 + seed)
            visitors = market.visitors(args.visits, rng)
            probabilities = per_visit_values(market, arms, visitors, rng)[:, :, ANY_CLICK]
            runs.append(run_seed(probabilities, true_rates, args.batch, 2000 + seed))
            console.print(
                f"seed {seed}: TS regret {runs[-1]['ts_regret']:.0f}, uniform "
                f"{runs[-1]['uniform_regret']:.0f} (ratio {runs[-1]['ratio']:.3f})"
            )
        world = {"visitors": len(market.customer_ids), "products": int(market.live.sum())}
    ratios = [r["ratio"] for r in runs]
    summary = {
        "ts_regret_median": statistics.median(r["ts_regret"] for r in runs),
        "uniform_regret_median": statistics.median(r["uniform_regret"] for r in runs),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "goal_ratio_at_most": 1 / 3,
        "goal_met_every_seed": all(r <= 1 / 3 for r in ratios),
    }
    payload = {
        "benchmark": "bandits",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {"scale": args.scale if args.var_dir is None else str(args.var_dir), **world},
        "config": {
            "visits": args.visits,
            "seeds": args.seeds,
            "batch": args.batch,
            "k": market.model.k,
            "reward": "at least one click in the visit",
        },
        "arms": {
            name: {"true_click_rate": truth[name].click_rate, "true_ctr": truth[name].ctr}
            for name in names
        },
        "summary": summary,
        "runs": runs,
        "seconds": time.perf_counter() - started,
    }
    _print(payload, names)
    text = json.dumps(payload, indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    sys.stdout.write(text)
    return 0


def _print(payload: dict[str, Any], names: list[str]) -> None:
    arms = Table(title="arms: true P(click) per visit")
    arms.add_column("arm")
    arms.add_column("true click rate", justify="right")
    arms.add_column("TS visits, last 10% (median)", justify="right")
    shares = np.median([r["ts_share_last_10pct"] for r in payload["runs"]], axis=0)
    for i, name in enumerate(names):
        arms.add_row(name, f"{payload['arms'][name]['true_click_rate']:.4f}", f"{shares[i]:.0f}")
    console.print(arms)
    s = payload["summary"]
    table = Table(title=f"cumulative regret over {payload['config']['visits']:,} visits")
    for heading in ("allocation", "regret (median)", "TS / uniform (median, min-max)"):
        table.add_column(heading, justify="right")
    table.add_row("uniform", f"{s['uniform_regret_median']:.0f}", "")
    table.add_row(
        "Thompson sampling",
        f"{s['ts_regret_median']:.0f}",
        f"{s['ratio_median']:.3f} ({s['ratio_min']:.3f}-{s['ratio_max']:.3f})",
    )
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
