"""Elasticity error monitored from approved price changes, on a generated world whose truth is
known: each of the world's own clearance markdowns is recorded as an approved plan whose baseline
is the world's expected demand at the price before it (the oracle's, brought back by the true
elasticity), so the only error left in its prediction is the recorded elasticity's. A plan that
records the true elasticity raises nothing; one whose elasticity is off by a whole unit is
flagged with a sentence (where its sales have the power to tell), and the elasticity the sales
imply lies on the truth's side. Only approved plans in force long enough are judged."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ml_core.monitoring.alerts import list_alerts, run_monitor, sales_days
from ml_core.monitoring.drift import FIT_DAYS, WINDOW
from ml_core.monitoring.elasticity import MIN_DAYS, elasticity_findings
from retail.store.models import Location, PriceChange, Proposal, Variant
from retail.world.seed import PINNED_END, ScaleSpec
from tests.ml_core.tiny_world import seed_tiny_world

# 40 products in 5 stores and online over 400 days: a dozen clearance markdowns.
SPEC = ScaleSpec(40, 5, 30, 400, 0.85, 20, 1.0)
WRONG_BY = 1.0  # how far off a wrong record's elasticity is


@dataclass(frozen=True)
class Markdown:
    product: str
    skus: list[str]
    start: dt.date
    weeks: int
    before: float
    price: float
    true_elasticity: float
    baseline: list[float]  # the oracle's expected units per week at the price before

    @property
    def last_day(self) -> dt.date:
        return self.start + dt.timedelta(days=7 * self.weeks - 1)


def _world_markdowns(engine: Engine, world: Path) -> list[Markdown]:
    """The world's clearance markdowns with the truth about each."""
    truth = pd.read_parquet(world / "products.parquet").set_index("product_id")["elasticity"]
    series = pd.read_parquet(world / "series.parquet")
    expected = np.load(world / "expected_demand.npy", mmap_mode="r")
    first_day = pd.to_datetime(pd.read_parquet(world / "calendar.parquet")["day"]).min().date()
    with Session(engine) as session:
        history = pd.DataFrame(
            session.execute(
                select(
                    Variant.product_id,
                    PriceChange.variant_id,
                    PriceChange.effective_on,
                    PriceChange.price,
                    PriceChange.reason,
                ).join(Variant, Variant.id == PriceChange.variant_id)
            ).all(),
            columns=["product", "sku", "on", "price", "reason"],
        )
    history["on"] = pd.to_datetime(history["on"]).dt.date
    found = []
    for (product, start), sizes in history[history.reason == "markdown"].groupby(["product", "on"]):
        sku = sizes.sku.iloc[0]
        own = history[history.sku == sku].sort_values("on")
        before = float(own[own.on < start].price.iloc[-1])
        later = own[own.on > start].on
        weeks = ((later.iloc[0] if len(later) else PINNED_END) - start).days // 7
        if weeks * 7 < MIN_DAYS:
            continue
        price = float(sizes.price.iloc[0])
        elasticity = float(truth[product])
        rows = series.index[series.product_id == product]
        t0 = (start - first_day).days
        back = (price / before) ** -elasticity  # the world's demand at the price before
        baseline = [
            float(np.asarray(expected[rows, t0 + 7 * w : t0 + 7 * w + 7]).sum()) * back
            for w in range(weeks)
        ]
        found.append(
            Markdown(product, sorted(sizes.sku), start, weeks, before, price, elasticity, baseline)
        )
    return found


def _record(
    engine: Engine, md: Markdown, elasticity: float, se: float, *, status: str = "executed"
) -> str:
    """An approved (by default) markdown proposal of the chain zone recording this model."""
    with Session(engine) as session:
        stores = list(session.scalars(select(Location.id).where(Location.kind != "dc")))
    content = {
        "type": "markdown",
        "product_id": md.product,
        "product": f"Product {md.product}",
        "zone": {"id": "chain", "name": "the whole chain", "locations": stores},
        "sku": md.skus[0],
        "variants": [
            {"sku": s, "list_price": md.before, "current_price": md.before} for s in md.skus
        ],
        "current_price": md.before,
        "list_price": md.before,
        "path": [
            {"week_starting": (md.start + dt.timedelta(weeks=w)).isoformat(), "price": md.price}
            for w in range(md.weeks)
        ],
        "demand": {
            "baseline": md.baseline,
            "elasticity": elasticity,
            "elasticity_se": se,
            "salvage": 0.0,
        },
    }
    body = json.dumps(content, sort_keys=True)
    proposal_id = hashlib.sha256(f"{body}{status}".encode()).hexdigest()[:24]
    with Session(engine) as session, session.begin():
        session.add(
            Proposal(
                id=proposal_id,
                kind="price_change",
                status=status,
                content=content,
                content_hash=hashlib.sha256(body.encode()).hexdigest(),
                location_id="chain",
                proposer="test",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return proposal_id


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> list[Markdown]:
    seed_tiny_world(engine, tmp_path, spec=SPEC, seed=9)
    markdowns = _world_markdowns(engine, tmp_path / "world")
    assert len(markdowns) >= 8
    return markdowns


def test_true_elasticities_raise_nothing_and_wrong_ones_are_flagged(
    engine: Engine, world: list[Markdown]
) -> None:
    truthful, wrong = {}, {}
    for md in world:
        truthful[_record(engine, md, md.true_elasticity, 0.25)] = md
        for off in (WRONG_BY, -WRONG_BY):
            wrong[_record(engine, md, md.true_elasticity + off, 0.2)] = md

    findings = {
        f.proposal_id: f
        for day in sorted({md.last_day for md in world})
        for f in elasticity_findings(engine, day)
    }
    judged = {f.proposal_id for f in findings.values()}
    assert judged.isdisjoint(truthful), [findings[p].message for p in judged & set(truthful)]
    flagged = judged & set(wrong)
    # An elasticity off by a whole unit moves a 20-40% markdown's units by 20-70%; the weeks of
    # a clearance in a small chain sell tens to hundreds of units, enough to tell most of them.
    assert len(flagged) >= 0.6 * len(wrong), (len(flagged), len(wrong), len(world))
    for proposal_id in flagged:
        found, md = findings[proposal_id], wrong[proposal_id]
        assert found.as_of == md.last_day and found.since >= md.start
        assert found.days >= MIN_DAYS
        # The sales point back to the truth: the implied elasticity is nearer it than the record.
        assert abs(found.implied - md.true_elasticity) < abs(found.elasticity - md.true_elasticity)
        assert not found.predicted_low <= found.sold <= found.predicted_high
        assert found.message.startswith(f"Product {md.product} in the whole chain: ")
        assert f"sold {found.sold:.0f} units where the elasticity model" in found.message
        assert found.message.endswith("outside the model's 95% interval.")


def test_only_approved_plans_in_force_long_enough_are_judged_and_alerts_are_stored(
    engine: Engine, world: list[Markdown]
) -> None:
    # The markdown whose sales tell most among those late enough for the whole monitor (its
    # drift checks need a year of history before the day).
    first, _ = sales_days(engine)
    late = [m for m in world if (m.last_day - first).days >= FIT_DAYS + WINDOW - 1]
    md = max(late, key=lambda m: (m.weeks, sum(m.baseline)))
    far_off = md.true_elasticity + 2 * WRONG_BY
    for status in ("proposed", "rejected", "expired"):
        _record(engine, md, far_off, 0.2, status=status)
    assert elasticity_findings(engine, md.last_day) == []

    approved = _record(engine, md, far_off, 0.2, status="approved")
    # Not yet in force for long enough: nothing to say.
    assert elasticity_findings(engine, md.start + dt.timedelta(days=MIN_DAYS - 2)) == []
    result = run_monitor(engine, md.last_day)
    (alert,) = [a for a in result.alerts if a.kind == "elasticity"]
    assert alert.details["proposal_id"] == approved
    assert alert.segment == {"product": md.product, "zone": "chain"}
    assert alert.retrain_kind == "elasticity" and alert.effect < 0
    stored = [a for a in list_alerts(engine, as_of=md.last_day) if a.kind == "elasticity"]
    assert [a.message for a in stored] == [alert.message]
