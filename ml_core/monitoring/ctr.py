"""Recommendation click-through per placement and day, against its own recent past.

A placement's CTR on a day is the share of its served, non-empty lists (`recommendations_served`)
that got at least one click naming them (`shopper_events.recommendation_id`). It is compared with
the same placement's pooled CTR over the `REFERENCE_DAYS` before it by a one-sided two-sample
z-test of proportions (statsmodels); a drop is an alert when it is significant (Bonferroni over
the placements) and large enough to matter (`MIN_DROP`). Days with too few exposures say nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, select
from statsmodels.stats.proportion import proportions_ztest

from retail.store.models import RecommendationServed, ShopperEvent

REFERENCE_DAYS = 28
MIN_DAY_EXPOSURES = 100
MIN_REFERENCE_EXPOSURES = 500
MIN_DROP = 0.2  # a relative drop smaller than this is not worth a planner's time
ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class CtrFinding:
    """A placement whose CTR on `as_of` fell significantly below its recent reference."""

    placement: str
    as_of: dt.date
    since: dt.date  # the reference's first day
    exposures: int
    clicks: int
    reference_exposures: int
    reference_clicks: int
    p_value: float

    @property
    def ctr(self) -> float:
        return self.clicks / self.exposures

    @property
    def reference_ctr(self) -> float:
        return self.reference_clicks / self.reference_exposures

    @property
    def effect(self) -> float:
        """The day's CTR over the reference's, minus one (negative: a drop)."""
        return self.ctr / self.reference_ctr - 1.0 if self.reference_ctr else 0.0

    @property
    def message(self) -> str:
        return (
            f"Recommendation CTR on the {self.placement} placement fell to {self.ctr:.1%} on "
            f"{self.as_of.isoformat()} ({self.clicks} clicks on {self.exposures} lists) from "
            f"{self.reference_ctr:.1%} over the {REFERENCE_DAYS} days since "
            f"{self.since.isoformat()}: {abs(self.effect):.0%} lower."
        )


def daily_ctr(engine: Engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Exposures and clicked exposures per placement and day, `start` to `end` inclusive."""
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    with engine.connect() as conn:
        served = pd.DataFrame(
            conn.execute(
                select(
                    RecommendationServed.id,
                    RecommendationServed.served_at,
                    RecommendationServed.placement,
                    RecommendationServed.items,
                ).where(RecommendationServed.served_at >= lo, RecommendationServed.served_at < hi)
            ).all(),
            columns=["id", "served_at", "placement", "items"],
        )
        clicked = set(
            conn.execute(
                select(ShopperEvent.recommendation_id)
                .join(
                    RecommendationServed, RecommendationServed.id == ShopperEvent.recommendation_id
                )
                .where(
                    ShopperEvent.event_type == "click",
                    RecommendationServed.served_at >= lo,
                    RecommendationServed.served_at < hi,
                )
                .distinct()
            ).scalars()
        )
    columns = ["placement", "day", "exposures", "clicks"]
    if served.empty:
        return pd.DataFrame(columns=columns)
    # An empty list (an empty cart's add-ons) offered nothing to click.
    served = served[served["items"].map(len) > 0]
    served["day"] = pd.to_datetime(served["served_at"], utc=True).dt.date
    served["clicked"] = served["id"].isin(clicked)
    counts = served.groupby(["placement", "day"]).agg(
        exposures=("id", "size"), clicks=("clicked", "sum")
    )
    return counts.reset_index()[columns]


def ctr_findings(engine: Engine, as_of: dt.date) -> list[CtrFinding]:
    """Placements whose CTR on `as_of` dropped against their previous `REFERENCE_DAYS`."""
    since = as_of - dt.timedelta(days=REFERENCE_DAYS)
    panel = daily_ctr(engine, since, as_of)
    if panel.empty:
        return []
    alpha = ALPHA / panel["placement"].nunique()
    findings = []
    for placement, rows in panel.groupby("placement"):
        day = rows[rows["day"] == as_of]
        reference = rows[rows["day"] < as_of]
        n, clicks = int(day["exposures"].sum()), int(day["clicks"].sum())
        ref_n, ref_clicks = int(reference["exposures"].sum()), int(reference["clicks"].sum())
        if n < MIN_DAY_EXPOSURES or ref_n < MIN_REFERENCE_EXPOSURES or ref_clicks == 0:
            continue
        _, p_value = proportions_ztest([clicks, ref_clicks], [n, ref_n], alternative="smaller")
        finding = CtrFinding(
            str(placement), as_of, since, n, clicks, ref_n, ref_clicks, float(p_value)
        )
        if finding.p_value < alpha and finding.effect <= -MIN_DROP:
            findings.append(finding)
    return findings
