"""The model suites: each model scored on the run's world against a baseline and, where the
generated world knows the truth, against the oracle.

- forecast: a rolling-origin backtest of the store's SKU x location daily panel
  (`ml_core.forecasting.backtest`), with the oracle's forecast of the same rows (the generator's
  true expected demand, with the quantiles of the gamma-Poisson it draws sales from) scored by
  the same metrics: MASE, WAPE, pinball loss, and the calibration of every quantile;
- recommender: a time split of the store's interactions scored at K
  (`ml_core.recommend.evaluate`) for each model, popularity being the baseline;
- pricing: the elasticities estimated from the store's own panel against the world's true ones,
  and the regret of markdown decisions made with them: each item's best markdown path under its
  estimated elasticity, scored under the true one, against the path the true elasticity gives;
- retrieval: recall@5 and nDCG@10 of the RAG index on the query set derived from the store's own
  facts (`rag.evalset`, `rag.evaluate`), dense, sparse and hybrid;
- replenishment: the last days of every SKU-location series replayed with the world's true
  demand (`ml_core.inventory.world_replay`), the order-up-to policy against the simple rule, once
  with the moving-average forecast (what the store can do) and once with the oracle's (the best
  orders, knowing the true demand distribution); the moving average's regret is its policy's
  extra cost over the oracle's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from evals.world import EvalWorld

ModelSuiteFn = Callable[[EvalWorld, dict[str, Any]], dict[str, Any]]


def run_model_suite(name: str, world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    """The suite's metrics (and what its plots need), with the seconds it took."""
    started = time.perf_counter()
    result = MODEL_SUITES[name](world, params)
    return {
        "record": "model",
        "suite": name,
        **result,
        "seconds": _round(time.perf_counter() - started),
    }


def forecast_suite(world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    from ml_core.forecasting.backtest import BacktestSpec, backtest, resolve_models
    from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, Y
    from ml_core.forecasting.metrics import CUTOFF, NOMINAL_COVERAGE, evaluate, metrics_dict
    from ml_core.forecasting.models import MODELS
    from ml_core.forecasting.store_panel import sales_panel

    data, _ = sales_panel(world.engine, history_days=params.get("history_days"))
    spec = BacktestSpec(
        horizon=int(params.get("horizon", 28)),
        step=int(params.get("step", 28)),
        windows=int(params.get("windows", 1)),
    )
    models = resolve_models(list(params.get("models", ["seasonal_naive", "global"])), MODELS)
    result = backtest(data, models, spec, show_progress=False)
    rows = result.forecasts[result.forecasts["model"] == result.models[0]]
    oracle = _oracle(world, rows[[ID, DS, CUTOFF, Y]])
    frames = [result.forecasts, oracle.assign(model="oracle")]
    if params.get("median_as_point", True):
        # MASE is an absolute error, which the median minimises: slow movers read both.
        frames += [f.assign(model=f["model"] + "@p50", y_hat=f["p50"]) for f in frames]
    table = evaluate(pd.concat(frames, ignore_index=True), result.scales)
    metrics = metrics_dict(table)
    keep = ("mase", "wape", "pinball", "coverage_80", *(f"coverage_{q}" for q in QUANTILE_FIELDS))
    summary = {m: {k: _round(v.get(k)) for k in (*keep, "series")} for m, v in metrics.items()}
    main = str(params.get("main_model", result.models[-1]))
    return {
        "metrics": {
            "models": summary,
            f"{main}_over_oracle_mase": _ratio(summary, main, "oracle", "mase"),
            f"{main}_over_seasonal_naive_mase": _ratio(summary, main, "seasonal_naive", "mase"),
            f"{main}_p50_over_oracle_p50_mase": _ratio(
                summary, f"{main}@p50", "oracle@p50", "mase"
            ),
            "horizon_days": spec.horizon,
            "windows": spec.windows,
        },
        "calibration": {
            m: {name: summary[m].get(name) for name in NOMINAL_COVERAGE}
            for m in summary
            if "@" not in m
        },
        "nominal_coverage": dict(NOMINAL_COVERAGE),
    }


def _oracle(world: EvalWorld, rows: pd.DataFrame) -> pd.DataFrame:
    """The oracle's forecast of `rows` (unique_id, ds, cutoff, y): the true expected demand of
    each SKU-location-day, and the quantiles of the negative binomial sales are drawn from."""
    from scipy import stats

    from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, QUANTILES
    from retail.world.demand import DISPERSION_SHAPE

    truth = world.settings.world_dir
    start = pd.Timestamp(json.loads((truth / "manifest.json").read_text())["start"])
    series = pd.read_parquet(truth / "series.parquet")
    expected = np.load(truth / "expected_demand.npy", mmap_mode="r")
    row_of = pd.Series(
        np.arange(len(series)), index=(series["variant_id"] + "@" + series["location_id"])
    )
    known = rows[rows[ID].isin(row_of.index)]
    day = ((known[DS] - start) / pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    mu = np.asarray(expected[row_of.loc[known[ID]].to_numpy(), day], dtype=float)
    out = known.assign(y_hat=mu)
    p = DISPERSION_SHAPE / (DISPERSION_SHAPE + np.maximum(mu, 1e-12))
    for q, name in zip(QUANTILES, QUANTILE_FIELDS, strict=True):
        out[name] = np.where(mu > 0, stats.nbinom.ppf(q, DISPERSION_SHAPE, p), 0.0)
    return out.reset_index(drop=True)


def recommender_suite(world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    from ml_core.recommend.data import TIME
    from ml_core.recommend.evaluate import evaluate_recommenders
    from ml_core.recommend.models import resolve_recommenders
    from ml_core.recommend.store_data import EVENT, PURCHASE, store_interactions

    frame, segments = store_interactions(world.engine)
    frame = frame[frame[TIME].notna()]  # tau2's orders carry no dates: no time split for them
    cutoff = frame[TIME].max() - pd.Timedelta(days=int(params.get("holdout_days", 14)))
    train = frame[frame[TIME] <= cutoff]
    test = frame[(frame[TIME] > cutoff) & (frame[EVENT] == PURCHASE)]
    k = int(params.get("k", 20))
    models = resolve_recommenders(list(params.get("models", ["popularity", "item_item"])))
    result = evaluate_recommenders(
        train, test, models, k, show_progress=False, user_segments=segments
    )
    fields = ("users", "precision", "recall", "ndcg", "map", "catalog_coverage", "fit_seconds")
    summary = {name: {f: _round(m.get(f)) for f in fields} for name, m in result.metrics.items()}
    baseline = str(params.get("baseline", "popularity"))
    return {
        "metrics": {
            "k": k,
            "cutoff": cutoff.isoformat(),
            "models": summary,
            **{
                f"{name}_over_{baseline}_recall": _ratio(summary, name, baseline, "recall")
                for name in summary
                if name != baseline
            },
            "data": result.data,
        }
    }


def pricing_suite(world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    from ml_core.pricing.elasticity import DMLElasticity
    from ml_core.pricing.guardrails import Guardrails
    from ml_core.pricing.markdown import MarkdownItem, Objective, evaluate, solve
    from ml_core.pricing.store_data import CONTROLS, daily_pricing_panel, item_features

    panel, _ = daily_pricing_panel(world.engine)
    features = item_features(world.engine)
    model = DMLElasticity().fit(panel, controls=CONTROLS, item_features=features)
    estimates = model.items_.set_index("item")
    truth = pd.read_parquet(world.settings.world_dir / "products.parquet").set_index("product_id")
    both = estimates.join(truth[["elasticity", "base_price"]], rsuffix="_true", how="inner")
    both = both.dropna(subset=["elasticity", "elasticity_true"])
    error = both["elasticity"] - both["elasticity_true"]
    covered = (both["lower"] <= both["elasticity_true"]) & (
        both["elasticity_true"] <= both["upper"]
    )
    # The markdown scenario: every item with `weeks` of flat expected demand at list price and
    # `overstock` times that on hand; only the elasticity differs between the two plans.
    weeks, weekly = int(params.get("weeks", 10)), float(params.get("weekly_units", 20.0))
    guardrails = Guardrails()
    objective: Objective = "margin"
    values = {"estimated": 0.0, "oracle": 0.0, "no_markdown": 0.0}
    per_item = []
    for product_id, row in both.iterrows():
        price = float(row["base_price"])
        item = MarkdownItem(
            item_id=str(product_id),
            list_price=price,
            current_price=price,
            unit_cost=round(price * float(params.get("cost_fraction", 0.55)), 2),
            stock=weekly * weeks * float(params.get("overstock", 1.5)),
            baseline=(weekly,) * weeks,
            elasticity=float(row["elasticity_true"]),
            salvage=round(price * float(params.get("salvage_fraction", 0.15)), 2),
        )
        guess = solve(replace(item, elasticity=float(row["elasticity"])), guardrails, objective)
        best = solve(item, guardrails, objective)
        scored = evaluate(item, guess.prices, objective)[0]
        values["estimated"] += scored
        values["oracle"] += best.value
        values["no_markdown"] += best.keep_value
        per_item.append(scored / best.value if best.value > 0 else None)
    gain = values["oracle"] - values["no_markdown"]
    return {
        "metrics": {
            "items": len(both),
            "elasticity_mae": _round(float(error.abs().mean())),
            "elasticity_bias": _round(float(error.mean())),
            "elasticity_coverage_95": _round(float(covered.mean())),
            "markdown_value_vs_oracle": _round(values["estimated"] / values["oracle"]),
            "markdown_regret": _round(1.0 - values["estimated"] / values["oracle"]),
            "share_of_oracle_gain": _round(
                (values["estimated"] - values["no_markdown"]) / gain if gain > 0 else None
            ),
            "items_within_1pct_of_oracle": _round(
                float(np.mean([v is not None and v >= 0.99 for v in per_item]))
            ),
            "scenario": {"weeks": weeks, "weekly_units": weekly, "objective": objective},
        },
        "elasticities": {
            "true": [_round(v) for v in both["elasticity_true"]],
            "estimated": [_round(v) for v in both["elasticity"]],
        },
    }


def retrieval_suite(world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    from rag.evalset import build_evalset
    from rag.evaluate import evaluate
    from rag.index import QdrantRagStore, open_backend
    from rag.retrieve import Retriever

    queries = build_evalset(world.engine, seed=int(params.get("seed", 7)))
    limit = params.get("max_queries")
    if limit:
        queries = queries[: int(limit)]
    store = QdrantRagStore(open_backend(world.settings))
    try:
        report = evaluate(Retriever(store), queries, tuple(params.get("modes", ["hybrid"])))
    finally:
        store.client.close()
    return {"metrics": {"queries": len(queries), "modes": report}}


def replenishment_suite(world: EvalWorld, params: dict[str, Any]) -> dict[str, Any]:
    from ml_core.inventory.world_replay import FORECASTERS, load_world_replay

    replay = load_world_replay(world.engine, world.settings.world_dir, int(params.get("days", 180)))
    names = list(params.get("forecasters", FORECASTERS))
    table: dict[str, dict[str, Any]] = {}
    figures: dict[str, Any] = {}
    for name in names:
        started = time.perf_counter()
        result = replay.simulate(name)
        figures[f"{name}_seconds"] = _round(time.perf_counter() - started)
        for label, rule in (("policy", result.policy), ("simple_rule", result.simple)):
            table[f"{name}/{label}"] = {
                **{k: _round(getattr(rule, k)) for k in ("fill_rate", "stockout_days", "orders")},
                # Whole currency units: the report shows integers with thousands separators.
                **{k: round(getattr(rule, k)) for k in _REPLENISHMENT_MONEY},
                **{f"fill_rate_{c}": _round(v) for c, v in rule.fill_rate_by_class.items()},
            }
        figures[f"{name}_policy_over_rule_cost"] = _round(result.cost_ratio)
        figures[f"{name}_fill_rate_delta"] = _round(result.fill_rate_delta)
    over_oracle = _ratio(table, "moving_average/policy", "oracle/policy", "total_cost")
    return {
        "metrics": {
            "series": len(replay.items),
            "days": replay.days,
            "first_simulated_day": replay.first_simulated_day.isoformat(),
            "models": table,
            **figures,
            "moving_average_over_oracle_policy_cost": over_oracle,
            # The extra cost of ordering on the moving average rather than the true demand.
            "policy_regret": None if over_oracle is None else _round(over_oracle - 1.0),
            "abc_series": replay.classes,
        }
    }


# Per rule, at unit cost; the costs are over all series and simulated days (holding at 25%/year
# of unit cost, the margin per lost sale, 5 per order line: `SimulationConfig`).
_REPLENISHMENT_MONEY = (
    "avg_inventory_value",
    "holding_cost",
    "shortage_cost",
    "ordering_cost",
    "total_cost",
)


MODEL_SUITES: dict[str, ModelSuiteFn] = {
    "forecast": forecast_suite,
    "recommender": recommender_suite,
    "pricing": pricing_suite,
    "retrieval": retrieval_suite,
    "replenishment": replenishment_suite,
}


def _ratio(table: dict[str, dict[str, Any]], a: str, b: str, metric: str) -> float | None:
    top, bottom = table.get(a, {}).get(metric), table.get(b, {}).get(metric)
    return _round(top / bottom) if top is not None and bottom else None


def _round(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return round(float(value), 4) if isinstance(value, float | np.floating) else value
