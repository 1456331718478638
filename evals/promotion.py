"""Champion and challenger: promoting a model version through its kind's gate, and rolling back.

`aisle models promote KIND [VERSION]` and `POST /v1/models/{kind}/promote` both come here. The
challenger (the named version, else the newest candidate or shadow) is scored against the
champion on the same backtest or holdout (`ml_core.forecasting.champion` for the forecaster; the
holdout recorded at training for the recommender), and each gate of `evals/promotion.yaml` for its
kind is checked with `evals.compare`'s gate rules. A failed gate refuses the promotion with one
sentence (`PromotionRefused`: exit 2, HTTP 409) unless an admin forces it with a reason, which the
stage history keeps with the scores it overrode. `rollback` restores the previous champion.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select

from evals.compare import Gate, GateResult, Gates, check_gates, load_versioned_yaml
from ml_core.registry import ArtifactRegistry, Manifest, StageChange, StageError
from retail.errors import AisleError

if TYPE_CHECKING:
    from tools.base import ToolContext

PROMOTION_FILE = Path(__file__).with_name("promotion.yaml")
Target = Literal["shadow", "champion", "retired"]
# Which stage a version may move to from which: a champion leaves only by being displaced or
# rolled back, so something always serves.
_FROM: dict[str, tuple[str, ...]] = {
    "shadow": ("candidate", "retired"),
    "champion": ("candidate", "shadow", "retired"),
    "retired": ("candidate", "shadow"),
}


class PromotionRefused(StageError):
    """The gate refused the challenger, or the registry's state refuses the change."""


class BacktestWindows(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: int = Field(ge=1, le=12)
    step: int = Field(ge=1)


class LiveRule(BaseModel):
    """Gates on the challenger's shadow run over live requests, checked once it has seen at
    least `min_chosen` items shoppers clicked or bought (before that, the holdout alone
    decides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_chosen: int = Field(ge=1)
    gates: list[Gate]


class KindRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gates: list[Gate]
    backtest: BacktestWindows | None = None
    live: LiveRule | None = None


class PromotionRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    kinds: dict[str, KindRule]


def load_rules(path: Path = PROMOTION_FILE) -> PromotionRules:
    return load_versioned_yaml(path, PromotionRules, "promotion rules file")


@dataclass(frozen=True, slots=True)
class Scored:
    """Both versions' figures on one basis, and the report that shows them (forecaster)."""

    basis: str
    champion: dict[str, float]
    challenger: dict[str, float]
    table: list[dict[str, Any]] = field(default_factory=list)
    report: Any = None
    """An object with `write_report(path)`, where the kind has one."""


@dataclass(slots=True)
class PromotionOutcome:
    kind: str
    version: str
    stage: str
    previous: str | None
    forced: bool
    basis: str | None
    gates: list[GateResult]
    scores: dict[str, dict[str, float]]
    report: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = [g.model_dump() for g in self.gates]
        return out


def score(
    engine: Engine,
    registry: ArtifactRegistry,
    kind: str,
    champion: str,
    challenger: str,
    rule: KindRule | None = None,
) -> Scored:
    """The champion and the challenger on the same backtest or holdout (the forecaster's
    windows from `rule`, else the rules file's)."""
    rule = rule or load_rules().kinds.get(kind)
    if kind == "forecaster":
        from ml_core.forecasting.champion import compare_forecasters

        windows = (rule and rule.backtest) or BacktestWindows(windows=2, step=7)
        comparison = compare_forecasters(
            engine, registry, champion, challenger, windows=windows.windows, step=windows.step
        )
        scores = comparison.scores()
        table = comparison.per_window()
        table["cutoff"] = table["cutoff"].dt.date.astype(str)
        return Scored(
            comparison.basis(),
            scores["champion"],
            scores["challenger"],
            table.to_dict(orient="records"),
            comparison,
        )
    a = registry.load(kind, champion)[0]
    b = registry.load(kind, challenger)[0]
    if kind == "recommender":
        _same_holdout(a, b)
        basis = f"the time-split holdout from {b.metrics.get('cutoff')} at K={b.metrics.get('k')}"
        champion_figures, challenger_figures = _numbers(a.metrics), _numbers(b.metrics)
        if rule is not None and rule.live is not None:
            from ml_core.recommend.shadow import live_comparison

            live = live_comparison(engine, challenger)
            if live.chosen_items >= rule.live.min_chosen:
                served, shadow = live.figures()
                champion_figures |= served
                challenger_figures |= shadow
                basis += f" and {live.chosen_items} items shoppers chose on live requests"
        return Scored(basis, champion_figures, challenger_figures)
    return Scored("the metrics recorded at training", _numbers(a.metrics), _numbers(b.metrics))


def promote(
    engine: Engine,
    registry: ArtifactRegistry,
    kind: str,
    version: str | None = None,
    *,
    by: str,
    to: Target = "champion",
    reason: str = "",
    force: bool = False,
    report: Path | None = None,
    rules: Path = PROMOTION_FILE,
) -> PromotionOutcome:
    """Move `version` (default: the newest candidate or shadow) to `to`; to champion only
    through the kind's gate in `rules`, or with `force` and a `reason`."""
    if force and not reason.strip():
        raise AisleError("An override needs a reason: say why with --reason.")
    ledger = registry.ledger(kind)
    version = version or newest_challenger(registry, kind)
    registry.load(kind, version)  # exists and verifies before anything is decided
    stage = ledger.stages.get(version, "candidate")
    if stage == to:
        raise PromotionRefused(f"Version {version} of {kind!r} is already {to}.")
    if stage not in _FROM[to]:
        raise PromotionRefused(
            f"Version {version} of {kind!r} is {stage} and cannot move to {to}"
            + ("; roll back or promote another version instead." if stage == "champion" else ".")
        )
    champion = ledger.champion
    if to != "champion" or champion is None:
        change = registry.set_stage(
            kind, version, to, by=by, reason=reason or _default_reason(to, champion)
        )
        return PromotionOutcome(kind, version, to, change.previous, False, None, [], {})
    if kind == "forecaster":
        _has_stored_forecast(engine, version)
    rule = load_rules(rules).kinds.get(kind)
    if rule is None and not force:
        raise PromotionRefused(
            f"There is no promotion rule for {kind!r} in {rules.name}; an admin may "
            "promote it with --force --reason."
        )
    try:
        scored = score(engine, registry, kind, champion, version, rule)
    except AisleError as exc:
        if not force:
            raise
        scored = Scored(f"nothing (not scored: {exc})", {}, {})
    gates = []
    if rule is not None and scored.challenger:
        gates = check_gates(Gates(version=1, gates=rule.gates), scored.champion, scored.challenger)
        if rule.live is not None and any(name.startswith("live_") for name in scored.challenger):
            gates += check_gates(
                Gates(version=1, gates=rule.live.gates), scored.champion, scored.challenger
            )
    failed = [g for g in gates if not g.passed]
    if failed and not force:
        raise PromotionRefused(
            f"Promotion of {kind} {version} refused on {scored.basis}: "
            + "; ".join(_why(g) for g in failed)
            + " (an admin may override with --force --reason)."
        )
    written = None
    if report is not None and scored.report is not None:
        written = str(scored.report.write_report(report))
    evidence = {
        "basis": scored.basis,
        "champion": scored.champion,
        "challenger": scored.challenger,
        "failed_gates": [g.model_dump() for g in failed],
    }
    change = registry.set_stage(
        kind,
        version,
        "champion",
        by=by,
        reason=reason or "passed the promotion gate",
        forced=force,
        evidence=evidence,
    )
    return PromotionOutcome(
        kind,
        version,
        "champion",
        change.previous,
        change.forced,
        scored.basis,
        gates,
        {"champion": scored.champion, "challenger": scored.challenger},
        written,
    )


def rollback(registry: ArtifactRegistry, kind: str, *, by: str, reason: str = "") -> StageChange:
    """Retire the champion and restore the one before it."""
    return registry.rollback(kind, by=by, reason=reason or "rolled back")


def _why(gate: GateResult) -> str:
    value = "missing" if gate.challenger is None else f"{gate.challenger:.4g}"
    champion = "" if gate.champion is None else f", champion {gate.champion:.4g}"
    return f"{gate.metric} is {value} where the rule wants {gate.rule}{champion}"


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _same_holdout(a: Manifest, b: Manifest) -> None:
    keys = ("cutoff", "k")
    if (
        a.data_hash != b.data_hash
        or any(a.metrics.get(k) != b.metrics.get(k) for k in keys)
        or not a.metrics
    ):
        raise PromotionRefused(
            f"The recommender versions {a.version} and {b.version} were not scored on the same "
            "holdout (same data, cutoff and K); train the challenger on the champion's data."
        )


def newest_challenger(registry: ArtifactRegistry, kind: str) -> str:
    stages = registry.ledger(kind).stages
    waiting = [v for v in registry.version_ids(kind) if stages.get(v) in ("candidate", "shadow")]
    if not waiting:
        raise PromotionRefused(f"There is no candidate or shadow version of {kind!r} to promote.")
    return waiting[-1]


def _default_reason(to: str, champion: str | None) -> str:
    if to == "champion":
        return "first champion: nothing to compare with"
    return {"shadow": "to shadow the champion", "retired": "retired"}[to]


def _has_stored_forecast(engine: Engine, version: str) -> None:
    from retail.store.models import ForecastRun

    with engine.connect() as conn:
        found = conn.scalar(select(ForecastRun.id).where(ForecastRun.model_version == version))
    if found is None:
        raise PromotionRefused(
            f"Forecaster {version} has no stored forecast run, so nothing would serve; run "
            "`aisle forecast run --candidate` to make one."
        )


def served_forecasts(ctx: ToolContext, location_id: str, skus: int | None = None) -> bytes:
    """What planners are served at `location_id`, as canonical JSON bytes: the forecast tool's
    answer for every SKU stocked there (or the first `skus` of them: model version, daily
    quantiles, total range) and the SKUs-at-risk screen built on the same demand. Two equal byte
    strings mean the same served forecast, bit for bit."""
    from retail.store.models import InventoryPosition
    from tools.base import invoke

    with ctx.engine.connect() as conn:
        stocked = list(
            conn.scalars(
                select(InventoryPosition.variant_id)
                .where(InventoryPosition.location_id == location_id)
                .order_by(InventoryPosition.variant_id)
                .limit(skus)
            )
        )
    answers = []
    for sku in stocked:
        outcome = invoke(ctx, "forecast_for_sku", {"variant_id": sku, "location_id": location_id})
        answers.append(outcome.output if outcome.error is None else outcome.error.model_dump())
    risk = invoke(ctx, "skus_at_risk", {"location_id": location_id, "limit": 200})
    return json.dumps(
        {"forecasts": answers, "at_risk": risk.output}, sort_keys=True, default=str
    ).encode()
