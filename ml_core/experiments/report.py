"""An experiment's report from what the store logged: exposures (`recommendations_served` rows
carrying the experiment id) joined by `recommendation_id` to the clicks, cart adds and purchases
they led to, reduced to one row per unit for `stats.compare_arms`, plus the SRM check, the
guardrails, the planned sample size and each arm's cumulative metric day by day (the plot).

A visit is a session in which the unit was served a recommendation of the experiment (a served
row without a session counts as a visit of its own). Outcomes count only when attributed to one
of the experiment's recommendations. The pre-period covariates for CUPED are a signed-in unit's
sessions and purchase revenue in the `PRE_PERIOD_DAYS` before the experiment started; an
anonymous unit has none (zero, which keeps the adjustment unbiased: it was fixed before
assignment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Engine, and_, func, select
from sqlalchemy.orm import Session

from ml_core.experiments.assignment import get_experiment
from ml_core.experiments.stats import (
    COVARIATES,
    DEFAULT_GUARDRAILS,
    METRIC_LABELS,
    NUMERATORS,
    SQUARES,
    ArmResult,
    Guardrail,
    VarianceProfile,
    check_guardrails,
    compare_arms,
    planned_sample_size,
    smallest_detectable_uplift,
    srm_check,
    variance_profile,
    visits_to_detect,
)
from retail.errors import AisleError
from retail.store.models import Experiment, RecommendationServed, ShopperEvent

PRE_PERIOD_DAYS = 28
OUTCOMES = {"click": "clicks", "add_to_cart": "add_to_carts", "purchase": "purchases"}
# The metrics a planned sample size can be computed for: proportions of visits.
RATE_METRICS = ("ctr", "add_to_cart_rate", "conversion")
PLANNED_POWER = 0.8
# A plan from history needs this many units: fewer give a variance too rough to plan on.
MIN_HISTORY_UNITS = 50


@dataclass(frozen=True)
class ExperimentReport:
    experiment: dict[str, Any]
    control: str
    alpha: float
    units: dict[str, int]
    visits: dict[str, int]
    # None while the arms hold too few units to check the split (`srm_check`).
    srm_p_value: float | None
    srm_mismatch: bool
    # Units served more than one arm (an assignment that changed while running); counted in
    # the arm they were served first.
    mixed_units: int
    results: list[dict[str, Any]]
    guardrails: list[dict[str, Any]]
    planned: dict[str, Any] | None
    over_time: list[dict[str, Any]]
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_experiment(e: Experiment) -> dict[str, Any]:
    """The experiment as the CLI and the API show it (the salt stays in the store)."""
    return {
        "id": e.id,
        "name": e.name,
        "layer": e.layer,
        "status": e.status,
        "audience": e.audience,
        "traffic": e.traffic,
        "arms": e.arms,
        "primary_metric": e.primary_metric,
        "planned_units": e.planned_units,
        "created_by": e.created_by,
        "created_at": e.created_at.isoformat() if e.created_at else None,
        "started_at": e.started_at.isoformat() if e.started_at else None,
        "stopped_at": e.stopped_at.isoformat() if e.stopped_at else None,
    }


def _exposures(session: Session, served: ColumnElement[bool]) -> pd.DataFrame:
    """The `served` recommendations (an experiment's, or a window's), one row each."""
    rows = session.execute(
        select(
            RecommendationServed.id,
            RecommendationServed.unit_id,
            RecommendationServed.customer_id,
            RecommendationServed.arm,
            func.coalesce(RecommendationServed.session_id, RecommendationServed.id).label("visit"),
            RecommendationServed.served_at,
            RecommendationServed.experiment_id,
        ).where(served)
    ).all()
    columns = [
        "recommendation_id", "unit_id", "customer_id", "arm", "visit", "served_at", "experiment",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _outcomes(session: Session, served: ColumnElement[bool]) -> pd.DataFrame:
    """The clicks, cart adds and purchases attributed to the `served` recommendations."""
    rows = session.execute(
        select(
            ShopperEvent.recommendation_id,
            ShopperEvent.event_type,
            func.coalesce(ShopperEvent.value, 0.0),
            ShopperEvent.occurred_at,
        )
        .join(RecommendationServed, RecommendationServed.id == ShopperEvent.recommendation_id)
        .where(served, ShopperEvent.event_type.in_(OUTCOMES))
    ).all()
    return pd.DataFrame(
        rows, columns=["recommendation_id", "event_type", "value", "occurred_at"]
    ).astype({"value": float})


def _pre_period(session: Session, served: ColumnElement[bool], start: dt.datetime) -> pd.DataFrame:
    """pre_visits, pre_purchases and pre_revenue of each signed-in unit among those the `served`
    recommendations reached, in the `PRE_PERIOD_DAYS` before `start`, by customer id."""
    exposed = select(RecommendationServed.customer_id).where(
        served, RecommendationServed.customer_id.is_not(None)
    )
    purchase_value = func.coalesce(ShopperEvent.value, 0.0)
    rows = session.execute(
        select(
            ShopperEvent.customer_id,
            func.count(func.distinct(ShopperEvent.session_id)),
            func.count().filter(ShopperEvent.event_type == "purchase"),
            func.sum(purchase_value).filter(ShopperEvent.event_type == "purchase"),
        )
        .where(
            ShopperEvent.customer_id.in_(exposed),
            ShopperEvent.occurred_at >= start - dt.timedelta(days=PRE_PERIOD_DAYS),
            ShopperEvent.occurred_at < start,
        )
        .group_by(ShopperEvent.customer_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["customer_id", *COVARIATES])
    return frame.astype(dict.fromkeys(COVARIATES, float)).fillna(0.0)


def _attributed(exposures: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcomes with the unit, arm and visit of the recommendation each came from."""
    return outcomes.merge(
        exposures[["recommendation_id", "unit_id", "arm", "visit"]], on="recommendation_id"
    )


def unit_frame(
    exposures: pd.DataFrame, outcomes: pd.DataFrame, pre: pd.DataFrame | None
) -> tuple[pd.DataFrame, int]:
    """One row per unit in the shape `compare_arms` reads, and how many units were served
    more than one arm."""
    if exposures.empty:
        columns = ["unit_id", "arm", "visits", *NUMERATORS.values(), *SQUARES.values()]
        return pd.DataFrame(columns=columns), 0
    ordered = exposures.sort_values(["served_at", "recommendation_id"])
    first = ordered.groupby("unit_id", sort=True).agg(
        arm=("arm", "first"),
        arms=("arm", "nunique"),
        visits=("visit", "nunique"),
        customer_id=("customer_id", "first"),
    )
    attributed = _attributed(exposures, outcomes)
    # Each visit's counts and revenue, summed per unit with their squares (the variance profile
    # tells the visits' own noise from the units' lasting differences by them).
    per_visit = (
        attributed.groupby(["unit_id", "visit", "event_type"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(OUTCOMES), fill_value=0)
        .rename(columns=OUTCOMES)
    )
    purchases = attributed[attributed.event_type == "purchase"]
    per_visit["revenue"] = purchases.groupby(["unit_id", "visit"])["value"].sum()
    per_visit = per_visit.fillna(0.0).astype(float)
    sums = per_visit.groupby(level="unit_id").sum()
    squares = per_visit.pow(2).groupby(level="unit_id").sum().rename(columns=SQUARES)
    units = first.join(sums).join(squares)
    counted = [*sums.columns, *squares.columns]
    units[counted] = units[counted].fillna(0.0)
    if pre is not None:
        units = units.merge(pre, how="left", on="customer_id").set_index(units.index)
        units[list(COVARIATES)] = units[list(COVARIATES)].fillna(0.0)
    mixed = int((units.pop("arms") > 1).sum())
    units = units.drop(columns="customer_id").reset_index()
    return units, mixed


def arms_over_time(exposures: pd.DataFrame, outcomes: pd.DataFrame, metric: str) -> list[dict]:
    """Each arm's metric over everything logged up to the end of each day (UTC), with the
    visits it rests on."""
    if exposures.empty:
        return []
    numerator = NUMERATORS[metric]
    visits = exposures.assign(day=pd.to_datetime(exposures.served_at, utc=True).dt.date)
    visits = visits.groupby(["arm", "unit_id", "visit"], as_index=False)["day"].min()
    attributed = _attributed(exposures, outcomes)
    attributed["day"] = pd.to_datetime(attributed.occurred_at, utc=True).dt.date
    if numerator == "revenue":
        attributed = attributed[attributed.event_type == "purchase"]
        amount = attributed["value"]
    else:
        event = next(e for e, column in OUTCOMES.items() if column == numerator)
        attributed = attributed[attributed.event_type == event]
        amount = pd.Series(1.0, index=attributed.index)
    days = sorted(set(visits.day) | set(attributed.day))
    daily_visits = visits.groupby(["day", "arm"]).size().unstack(fill_value=0)
    daily_amount = amount.groupby([attributed.day, attributed.arm]).sum().unstack(fill_value=0)
    arms = sorted(visits.arm.unique())
    cum_visits = daily_visits.reindex(index=days, columns=arms, fill_value=0).cumsum()
    cum_amount = daily_amount.reindex(index=days, columns=arms, fill_value=0).cumsum()
    points = []
    for day in days:
        for arm in arms:
            n = int(cum_visits.at[day, arm])
            value = float(cum_amount.at[day, arm]) / n if n else None
            points.append({"day": day.isoformat(), "arm": arm, "visits": n, "value": value})
    return points


def _plan(
    profile: VarianceProfile, minimum_uplift: float, alpha: float, cuped: bool
) -> dict[str, Any] | None:
    """The visits per arm `profile`'s metric needs to detect `minimum_uplift` (the returning
    customers' floor counted, CUPED's cut included when it is on), beside the plan that takes
    every visit as independent; None when the metric's rate leaves nothing to plan."""
    baseline = profile.baseline
    if not 0 < baseline * (1 + minimum_uplift) < 1 or baseline <= 0:
        return None
    with_cuped = cuped and profile.cuped_floor is not None
    plain = visits_to_detect(profile, minimum_uplift, alpha=alpha, power=PLANNED_POWER)
    adjusted = (
        visits_to_detect(profile, minimum_uplift, alpha=alpha, power=PLANNED_POWER, cuped=True)
        if with_cuped
        else plain
    )
    # The design effect at the size the plan names; where no size is enough, at today's.
    at = plain or profile.visits / 2
    return {
        "metric": profile.metric,
        "baseline_rate": baseline,
        "minimum_uplift": minimum_uplift,
        "alpha": alpha,
        "power": PLANNED_POWER,
        "method": "delta method over units" + (", CUPED" if with_cuped else ""),
        "visits_per_arm": adjusted,
        "visits_per_arm_without_cuped": plain,
        "independent_visits_per_arm": planned_sample_size(
            baseline, minimum_uplift, alpha=alpha, power=PLANNED_POWER
        ),
        "design_effect": profile.design_effect(at),
        "cuped_variance_reduction": profile.cuped_variance_reduction if with_cuped else None,
        "smallest_detectable_uplift": smallest_detectable_uplift(
            profile, alpha=alpha, power=PLANNED_POWER, cuped=with_cuped
        ),
    }


def _planned_metric(primary_metric: str) -> str:
    return primary_metric if primary_metric in RATE_METRICS else "conversion"


def _planned(
    experiment: Experiment,
    units: pd.DataFrame,
    results: Sequence[ArmResult],
    minimum_uplift: float,
    alpha: float,
    cuped: bool,
) -> dict[str, Any] | None:
    """The plan (`_plan`) on the variance the experiment's units so far show, relative to the
    control's rate."""
    metric = _planned_metric(experiment.primary_metric)
    if not any(r.metric == metric for r in results):
        return None
    profile = variance_profile(
        units, metric, COVARIATES if cuped else (), control=experiment.arms[0]["name"]
    )
    return _plan(profile, minimum_uplift, alpha, cuped)


def plan_in_words(planned: dict[str, Any], source: str) -> str:
    """The planned sample size as a product manager reads it; `source` says what it rests on."""
    label = METRIC_LABELS[planned["metric"]]
    goal = (
        f"To detect {planned['minimum_uplift']:+.0%} on {label} ({planned['baseline_rate']:.2%} "
        f"now) {planned['power']:.0%} of the time"
    )
    cut = planned["cuped_variance_reduction"]
    effect = planned["design_effect"]
    independent = planned["independent_visits_per_arm"]
    plain = planned["visits_per_arm_without_cuped"]
    # The plan counting visits as independent falls short only where this one asks for more:
    # on few units the visits' own spread can be below a yes-or-no's, and the plan smaller.
    short = plain is None or plain > independent
    words = [
        "Each customer's visits are read together (a customer who comes back is one unit, not "
        "many independent visits)"
        + (
            ", and customers differ, so a visit tells less than an independent one would"
            if round(effect, 1) > 1.0
            else ""
        )
        + f": the design effect is {effect:.1f}, "
        + (
            f"so a plan that counts visits as independent ({independent:,} per arm) would "
            "fall short."
            if short
            else "and on the spread the visits so far show, no more visits are needed than a "
            f"plan that counts visits as independent asks ({independent:,} per arm)."
        )
    ]
    if cut is not None:
        words.append(
            f"CUPED takes out {cut:.0%} of the variance with each customer's purchases in the "
            f"{PRE_PERIOD_DAYS} days before the start."
        )
    if planned["visits_per_arm"] is None:
        words.append(
            f"{goal}, no number of visits is enough: the customers' own differences stay however "
            "long the test runs; the smallest change it can detect is "
            f"{planned['smallest_detectable_uplift']:+.0%}."
        )
    else:
        words.append(
            f"{goal}: {planned['visits_per_arm']:,} visits per arm"
            + (" with CUPED" if cut is not None else "")
            + "."
        )
        if cut is not None and planned["visits_per_arm_without_cuped"] is None:
            words.append("Without CUPED no number of visits would be enough.")
        elif cut is not None:
            words.append(
                f"Without CUPED: {planned['visits_per_arm_without_cuped']:,} visits per arm."
            )
    words.append(source)
    return " ".join(words)


@dataclass(frozen=True)
class DraftPlan:
    """The sample size an experiment is planned for when it is created: `visits` over all arms
    (None: not planned), how (`method`) and why, in words."""

    visits: int | None
    method: Literal["history", "independent visits", "none"]
    in_words: str
    planned: dict[str, Any] | None


def plan_before_start(
    engine: Engine,
    *,
    primary_metric: str,
    arms: int,
    minimum_uplift: float = 0.05,
    baseline_rate: float | None = None,
    alpha: float = 0.05,
    now: dt.datetime | None = None,
) -> DraftPlan:
    """The plan for a new experiment, by the report's rule (`_plan`) on the store's own
    history: the recommendations served in the `PRE_PERIOD_DAYS` before `now`, their units'
    visits and attributed outcomes, with CUPED on the period before that. With fewer than
    `MIN_HISTORY_UNITS` units, or none of the metric's outcomes, it falls back to
    `baseline_rate` with visits taken as independent (labelled so), or plans nothing."""
    if primary_metric not in NUMERATORS:
        raise AisleError(
            f"Unknown metric {primary_metric!r}; choose one of {', '.join(NUMERATORS)}."
        )
    metric = _planned_metric(primary_metric)
    end = now or dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=PRE_PERIOD_DAYS)
    window = and_(RecommendationServed.served_at >= start, RecommendationServed.served_at < end)
    with Session(engine) as session:
        exposures = _exposures(session, window)
        outcomes = _outcomes(session, window)
        pre = _pre_period(session, window, start)
    # Each past experiment's arm is centred on its own rate (`variance_profile`), so its effect
    # is not read as the units' own differences; traffic outside experiments is one group.
    exposures["arm"] = exposures.experiment.fillna("") + ":" + exposures.arm.fillna("")
    units, _ = unit_frame(exposures, outcomes, pre)
    planned = None
    if len(units) >= MIN_HISTORY_UNITS and units[NUMERATORS[metric]].sum() > 0:
        planned = _plan(variance_profile(units, metric), minimum_uplift, alpha, cuped=True)
    if planned is not None:
        per_arm = planned["visits_per_arm"]
        return DraftPlan(
            visits=per_arm * arms if per_arm is not None else None,
            method="history",
            in_words=plan_in_words(
                planned,
                f"Estimated from the last {PRE_PERIOD_DAYS} days: {len(units):,} units' "
                f"{int(units.visits.sum()):,} visits with recommendations.",
            ),
            planned=planned,
        )
    short = (
        f"Too little history to plan from: {len(units):,} units were served recommendations in "
        f"the last {PRE_PERIOD_DAYS} days (a plan needs {MIN_HISTORY_UNITS} with some "
        f"{METRIC_LABELS[metric]})"
    )
    if baseline_rate is None:
        return DraftPlan(
            None, "none", f"{short}; give a baseline rate to plan as if visits were independent.",
            None,
        )  # fmt: skip
    per_arm = planned_sample_size(baseline_rate, minimum_uplift, alpha=alpha, power=PLANNED_POWER)
    return DraftPlan(
        visits=per_arm * arms,
        method="independent visits",
        in_words=f"{short}. Planned as if every visit were independent, on the baseline rate "
        f"given ({baseline_rate:.2%}): {per_arm:,} visits per arm, an underestimate where "
        "customers come back.",
        planned=None,
    )


def experiment_report(
    engine: Engine,
    key: str,
    *,
    alpha: float = 0.05,
    minimum_uplift: float = 0.05,
    cuped: bool = True,
    guardrails: Sequence[Guardrail] = DEFAULT_GUARDRAILS,
) -> ExperimentReport:
    """The report of the experiment with this id or name. The first arm is the control."""
    experiment = get_experiment(engine, key)
    control = experiment.arms[0]["name"]
    with Session(engine) as session:
        exposed = RecommendationServed.experiment_id == experiment.id
        exposures = _exposures(session, exposed)
        outcomes = _outcomes(session, exposed)
        pre = (
            _pre_period(session, exposed, experiment.started_at)
            if experiment.started_at and cuped
            else None
        )
    units, mixed = unit_frame(exposures, outcomes, pre)
    weights = {arm["name"]: arm["weight"] for arm in experiment.arms}
    unit_counts = {name: int((units.arm == name).sum()) for name in weights}
    visit_counts = {name: int(units.visits[units.arm == name].sum()) for name in weights}
    srm_p, srm_mismatch = srm_check(unit_counts, weights)
    results: list[ArmResult] = []
    short = [f"{n} in {name}" for name, n in unit_counts.items() if n < 2]
    if exposures.empty:
        note = "No exposures are logged for this experiment yet."
    elif short:
        note = f"Too few units to compare yet ({', '.join(short)}); each arm needs 2."
    else:
        note = None
        results = compare_arms(units, control, alpha=alpha, cuped=cuped)
    planned = _planned(experiment, units, results, minimum_uplift, alpha, cuped)
    if planned is not None:
        planned["in_words"] = plan_in_words(
            planned, f"The control has {visit_counts[control]:,}; estimated from the visits so far."
        )
    return ExperimentReport(
        experiment=describe_experiment(experiment),
        control=control,
        alpha=alpha,
        units=unit_counts,
        visits=visit_counts,
        srm_p_value=srm_p,
        srm_mismatch=srm_mismatch,
        mixed_units=mixed,
        results=[asdict(r) for r in results],
        guardrails=[asdict(g) for g in check_guardrails(results, guardrails)],
        planned=planned,
        over_time=arms_over_time(exposures, outcomes, experiment.primary_metric),
        note=note,
    )
