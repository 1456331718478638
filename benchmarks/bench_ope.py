"""Benchmark: off-policy estimates of new strategies from another policy's logs, against the truth.

On the generated world's simulated market (`evals/market.py`), a logging policy chooses per visit
among the strategies of `simulated_market.py` (random, popularity, the recommender, three noisy
oracles): Thompson sampling on "at least one click", its posterior refreshed every `--batch`
visits, mixed with `--epsilon` uniform exploration (a propensity floor, so every strategy keeps
a chance in the log); with `--per-context`, one posterior per context, so what a visit is shown
depends on who it is, the feedback loop that biases a naive reading of the log. Each visit logs
its context (device x signed in or not), the strategy chosen, the exact probability the logger
had of choosing it, and the clicks the visitor made.

From each log, `ml_core.experiments.ope` estimates the CTR (clicks per visit) of target policies
that never ran: one strategy for everyone, and a policy choosing the strategy by context. Their
true CTR is the market's exact expectation over the population. Reported per target and
estimator over `--repeats` independent logs: coverage of the true value by the 95% interval
(goal: about 95%, the truth inside the interval), median absolute error, median interval width,
and the median effective sample size of the importance weights. The baseline in the same run
is the naive reading: the logged CTR of the visits that happened to get the target's strategy.
Slates are handled the simple way (ope.py's docstring): the action is the strategy.

    .venv/bin/python benchmarks/bench_ope.py [--var-dir var] [--visits 20000] [--repeats 40]
        [--epsilon 0.1] [--batch 500] [--output results.json]

Prints one JSON document on stdout (and to --output); the table goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from simulated_market import add_world_arguments, market_and_arms
from worlds import machine

from evals.market import ArmsPolicy, Market, Policy, Visitors, Visits
from ml_core.experiments.bandit import ThompsonSampler
from ml_core.experiments.ope import LoggedBandit, deterministic_target, evaluate

console = Console(stderr=True, width=150)
ESTIMATORS = ("ips", "snips", "dr")


def contexts_of(visitors: Visitors) -> np.ndarray:
    """0-3: desktop/mobile x anonymous/signed in."""
    return (visitors.device == "mobile").astype(int) * 2 + visitors.signed_in.astype(int)


TargetRule = Callable[[np.ndarray], np.ndarray]  # contexts -> strategy index per visit


def targets(names: list[str]) -> dict[str, TargetRule]:
    """The policies evaluated: the best and a middling strategy for everyone, and one that
    personalises for signed-in shoppers and shows best sellers to anonymous visitors."""
    index = {name: i for i, name in enumerate(names)}

    def always(name: str) -> TargetRule:
        return lambda contexts: np.full(len(contexts), index[name])

    def by_sign_in(contexts: np.ndarray) -> np.ndarray:
        return np.where(contexts % 2 == 1, index["recommender"], index["popularity"])

    return {
        "oracle+noise1 for all": always("oracle+noise1"),
        "recommender for all": always("recommender"),
        "recommender signed in, popularity anonymous": by_sign_in,
    }


def true_ctr(market: Market, arms: dict[str, Policy], rule: TargetRule) -> float:
    def choose(visitors: Visitors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rule(contexts_of(visitors)), np.ones(len(visitors))

    return market.expected(ArmsPolicy(arms, choose, stochastic=False)).ctr


def log_visits(
    market: Market,
    arms: dict[str, Policy],
    n: int,
    epsilon: float,
    batch: int,
    per_context: bool,
    rng: np.random.Generator,
) -> Visits:
    """`n` visits served by epsilon-mixed Thompson sampling (one posterior per context with
    `per_context`), each with its exact propensity."""
    sampler = ThompsonSampler(list(arms), rng=rng)
    n_arms = len(arms)

    def segments(visitors: Visitors) -> np.ndarray:
        return contexts_of(visitors) if per_context else np.zeros(len(visitors), dtype=int)

    def choose(visitors: Visitors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        chosen = np.empty(len(visitors), dtype=np.int64)
        propensity = np.empty(len(visitors))
        codes = segments(visitors)
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code)
            picked, _ = sampler.choose_many(len(rows), str(code))
            explore = rng.random(len(rows)) < epsilon
            picked = np.where(explore, rng.integers(0, n_arms, len(rows)), picked)
            mixed = (1 - epsilon) * sampler.propensities(str(code)) + epsilon / n_arms
            chosen[rows], propensity[rows] = picked, mixed[picked]
        return chosen, propensity

    policy = ArmsPolicy(arms, choose)
    visitors = market.visitors(n, rng)
    parts = []
    for start in range(0, n, batch):
        part = visitors.take(np.arange(start, min(start + batch, n)))
        visits = market.respond(part, policy.show(part, market.model.k, rng), rng)
        codes = segments(part)
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code)
            clicked = visits.clicks[rows].any(axis=1).astype(float)
            sampler.update_many(visits.arm[rows].astype(str), clicked, str(code))
        parts.append(visits)
    return Visits.concat(parts, visitors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_arguments(parser)
    parser.add_argument("--visits", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=500, help="visits between TS updates")
    parser.add_argument(
        "--per-context", action="store_true", help="the logger learns per context (segment)"
    )
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    with market_and_arms(args, console) as (market, arms):
        names = list(arms)
        rules = targets(names)
        truth = {name: true_ctr(market, arms, rule) for name, rule in rules.items()}
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in rules}
        for repeat in range(args.repeats):
            rng = np.random.default_rng(3000 + repeat)
            visits = log_visits(
                market, arms, args.visits, args.epsilon, args.batch, args.per_context, rng
            )
            contexts = contexts_of(visits.visitors)
            actions = np.array([names.index(a) for a in visits.arm])
            rewards = visits.clicks.sum(axis=1).astype(float)
            log = LoggedBandit(contexts, actions, visits.propensity, rewards, len(names))
            for name, rule in rules.items():
                wanted = rule(contexts)
                estimates = evaluate(log, deterministic_target(wanted, len(names)))
                agree = actions == wanted
                row: dict[str, Any] = {"naive": float(rewards[agree].mean())}
                for key, e in estimates.items():
                    row[key] = {
                        "value": e.value,
                        "ci": [e.ci_low, e.ci_high],
                        "covered": e.ci_low <= truth[name] <= e.ci_high,
                        "effective_n": e.effective_n,
                    }
                results[name].append(row)
            console.print(f"log {repeat + 1}/{args.repeats}: logged CTR {rewards.mean():.4f}")
        world = {"visitors": len(market.customer_ids), "products": int(market.live.sum())}
    summary = {name: _summarise(rows, truth[name]) for name, rows in results.items()}
    payload = {
        "benchmark": "ope",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {"scale": args.scale if args.var_dir is None else str(args.var_dir), **world},
        "config": {
            "visits": args.visits,
            "repeats": args.repeats,
            "epsilon": args.epsilon,
            "batch": args.batch,
            "k": market.model.k,
            "reward": "clicks per visit",
            "logger": "Thompson sampling on any click, epsilon-mixed with uniform"
            + (", one posterior per context" if args.per_context else ""),
        },
        "targets": {name: {"true_ctr": truth[name], **summary[name]} for name in rules},
        "runs": results,
        "seconds": time.perf_counter() - started,
    }
    _print(payload)
    text = json.dumps(payload, indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    sys.stdout.write(text)
    return 0


def _summarise(rows: list[dict[str, Any]], truth: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "naive_median_abs_error": statistics.median(abs(r["naive"] - truth) for r in rows)
    }
    for key in ESTIMATORS:
        out[key] = {
            "coverage": sum(r[key]["covered"] for r in rows) / len(rows),
            "median_abs_error": statistics.median(abs(r[key]["value"] - truth) for r in rows),
            "median_ci_width": statistics.median(r[key]["ci"][1] - r[key]["ci"][0] for r in rows),
            "median_estimate": statistics.median(r[key]["value"] for r in rows),
            "median_effective_n": statistics.median(r[key]["effective_n"] for r in rows),
        }
    return out


def _print(payload: dict[str, Any]) -> None:
    config = payload["config"]
    table = Table(
        title=f"off-policy CTR estimates: {config['repeats']} logs of {config['visits']:,} visits"
    )
    for heading in (
        "target",
        "true CTR",
        "estimator",
        "median estimate",
        "95% coverage",
        "median |error|",
        "median CI width",
        "median ESS",
    ):
        table.add_column(heading, justify="left" if heading in ("target", "estimator") else "right")
    for name, target in payload["targets"].items():
        for key in ESTIMATORS:
            s = target[key]
            table.add_row(
                name if key == "ips" else "",
                f"{target['true_ctr']:.4f}" if key == "ips" else "",
                key,
                f"{s['median_estimate']:.4f}",
                f"{s['coverage']:.0%}",
                f"{s['median_abs_error']:.4f}",
                f"{s['median_ci_width']:.4f}",
                f"{s['median_effective_n']:.0f}",
            )
        table.add_row("", "", "naive", "", "", f"{target['naive_median_abs_error']:.4f}", "", "")
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
