"""The pricing tools and the application of approved price changes, on a tiny generated world on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from approvals.price_changes import (
    MarkdownContent,
    PricingError,
    apply_price_change,
    edit_markdown,
    price_steps,
)
from ml_core.pricing.guardrails import Guardrails
from retail.proposals import create_proposal, decide
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import (
    DailySales,
    InventoryPosition,
    PriceChange,
    Product,
    Proposal,
    Variant,
)
from retail.world.seed import ScaleSpec, seed_world
from tests.proposals import MARKDOWN_CONTENT
from tools.base import Principal, Services, ToolContext, ToolOutcome, invoke
from tools.pricing import (
    HORIZON_WEEKS,
)

# One store, eight products, 240 days: enough price variation for elasticities, planned in
# about two seconds.
SPEC = ScaleSpec(8, 1, 20, 240, 1.0, 10, 1.0)
STORE = "S001"
START = dt.date(2026, 11, 16)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Services:
    seed_world(
        engine, scale="small", seed=9, world_dir=tmp_path / "world", show_progress=False, spec=SPEC
    )
    return Services(engine, Settings(var_dir=tmp_path / "var", environment="test"))


def _call(services: Services, spec: str, name: str, **arguments: Any) -> ToolOutcome:
    ctx = ToolContext(principal=Principal.parse(spec), services=services)
    return invoke(ctx, name, arguments)


def _prices(engine: Engine) -> tuple[int, dict[str, float]]:
    with Session(engine) as session:
        rows = session.scalar(select(func.count()).select_from(PriceChange)) or 0
        return rows, dict(session.execute(select(Variant.id, Variant.price)).all())


def test_markdown_candidates_put_the_overstock_first(world: Services) -> None:
    engine = world.engine
    with transaction(engine) as session:
        # The best seller of the last four weeks, given far more stock than it can sell.
        sku = session.scalars(
            select(DailySales.variant_id)
            .where(DailySales.location_id == STORE)
            .group_by(DailySales.variant_id)
            .order_by(func.sum(DailySales.units).desc(), DailySales.variant_id)
        ).first()
        session.execute(
            update(InventoryPosition)
            .where(InventoryPosition.variant_id == sku, InventoryPosition.location_id == STORE)
            .values(on_hand=5000, reserved=0)
        )
    out = _call(world, "pricing_manager:pat", "markdown_candidates", location_id=STORE, limit=5)
    assert out.ok, out.error
    found = out.output
    assert found is not None and found["as_of"] == "2026-11-15"
    candidates = found["candidates"]
    assert 0 < len(candidates) <= 5 and found["reviewed"] >= len(candidates)
    assert candidates[0]["sku"] == sku and candidates[0]["units_last_4_weeks"] > 0
    for c in candidates:
        weekly = c["units_last_4_weeks"] / 4
        assert c["excess_units"] == pytest.approx(c["stock"] - weekly * HORIZON_WEEKS, abs=0.06)
        assert c["excess_units"] > 0 and c["location_id"] == STORE
        assert c["weeks_of_cover"] is None or c["weeks_of_cover"] > HORIZON_WEEKS
    costs = [c["excess_cost"] for c in candidates]
    assert costs == sorted(costs, reverse=True)
    assert _call(world, "evaluator", "markdown_candidates").ok
    assert _call(world, "shopper:c1", "markdown_candidates").status == "forbidden"
    unknown = _call(world, "pricing_manager:pat", "markdown_candidates", location_id="S999")
    assert unknown.status == "not_found"


def test_item_elasticity_has_an_interval_and_a_method(world: Services) -> None:
    with Session(world.engine) as session:
        product_id = session.scalars(select(Product.id).order_by(Product.id)).first()
    out = _call(world, "evaluator:eve", "item_elasticity", product_id=product_id)
    assert out.ok, out.error
    e = out.output
    assert e is not None and e["product_id"] == product_id
    assert e["lower"] < e["elasticity"] < e["upper"] < 5 and e["elasticity"] < 0
    assert e["method"] in {"ppml-fe-pooled", "category-prior", "global-prior"}
    assert e["as_of"] == "2026-11-15" and e["n_periods"] > 0
    missing = _call(world, "pricing_manager:pat", "item_elasticity", product_id="P99999")
    assert missing.status == "not_found"


def test_propose_markdowns_writes_proposals_and_never_prices(world: Services) -> None:
    engine = world.engine
    before = _prices(engine)
    out = _call(world, "pricing_manager:pat", "propose_markdowns", location_id=STORE, limit=3)
    assert out.ok, out.error
    summary = out.output
    assert summary is not None and summary["proposals_written"] > 3
    assert _prices(engine) == before
    shown = summary["proposals"]
    assert len(shown) == 3 and summary["more_proposals"] == summary["proposals_written"] - 3
    gains = [p["expected_gain"] for p in shown]
    assert gains == sorted(gains, reverse=True) and all(p["new"] for p in shown)
    with Session(engine) as session:
        stored = {p.id: p for p in session.scalars(select(Proposal))}
    assert len(stored) == summary["proposals_written"]
    assert all(p.status == "proposed" and p.kind == "price_change" for p in stored.values())
    assert {p["content_hash"] for p in shown} <= {p.content_hash for p in stored.values()}
    # The same data plans the same proposals: nothing new is written.
    again = _call(world, "pricing_manager:pat", "propose_markdowns", location_id=STORE)
    assert again.output is not None and again.output["proposals_written"] == 0
    assert again.output["proposals_unchanged"] == summary["proposals_written"]
    assert _call(world, "evaluator", "propose_markdowns").status == "forbidden"

    detail = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=shown[0]["id"])
    assert detail.ok, detail.error
    d = detail.output
    assert d is not None and d["sku"] == shown[0]["sku"] and d["status"] == "proposed"
    path = stored[d["id"]].content["path"]
    assert [w["price"] for w in d["weeks"]] == [w["price"] for w in path]
    assert len(d["weeks"]) == HORIZON_WEEKS
    first = d["weeks"][0]
    assert first["margin"] == pytest.approx(
        (first["price"] - d["unit_cost"]) / first["price"], 1e-3
    )
    assert first["change"] == pytest.approx(first["price"] / d["current_price"] - 1, abs=1e-3)
    assert d["guardrails"]["passes"] and d["guardrails"]["violations"] == []
    assert d["expected"]["gain"] == pytest.approx(shown[0]["expected_gain"])
    assert d["elasticity"]["lower"] <= d["elasticity"]["estimate"] <= d["elasticity"]["upper"]
    gone = _call(world, "pricing_manager:pat", "pricing_proposal_detail", proposal_id="prop-x")
    assert gone.status == "not_found"


def _markdown(
    session: Session, sku: str, fractions: tuple[float, ...], *, current: float | None = None
) -> Proposal:
    """A markdown proposal for `sku` from START, at these fractions of its price, as the
    planner writes them (only the fields applying it reads, and a few for people)."""
    variant = session.get(Variant, sku)
    assert variant is not None and variant.unit_cost is not None
    price = float(variant.price) if current is None else current
    content = {
        "type": "markdown",
        "sku": sku,
        "product": "test",
        "current_price": price,
        "list_price": price,
        "unit_cost": float(variant.unit_cost),
        "path": [
            {
                "week_starting": (START + dt.timedelta(weeks=w)).isoformat(),
                "price": round(price * f, 2),
            }
            for w, f in enumerate(fractions)
        ],
        "guardrails": Guardrails().model_dump(mode="json"),
        "change_history": {"mean_log": 0.0, "sd_log": 0.0},
    }
    return create_proposal(
        session, kind="price_change", content=content, proposer="agent:pricing", location_id=STORE
    )


def _approved(engine: Engine, sku: str, fractions: tuple[float, ...], **kw: Any) -> str:
    with transaction(engine) as session:
        proposal = _markdown(session, sku, fractions, **kw)
        decide(
            session,
            proposal.id,
            decider="pat",
            decision="approve",
            expected_hash=proposal.content_hash,
        )
        return proposal.id


def _apply(engine: Engine, proposal_id: str, today: dt.date) -> str:
    with transaction(engine) as session:
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        return apply_price_change(session, proposal, today=today)


def _rows(engine: Engine, proposal_id: str) -> list[tuple[dt.date, float, str]]:
    with Session(engine) as session:
        return [
            tuple(r)  # type: ignore[misc]
            for r in session.execute(
                select(PriceChange.effective_on, PriceChange.price, PriceChange.reason)
                .where(PriceChange.proposal_id == proposal_id)
                .order_by(PriceChange.effective_on)
            )
        ]


def test_applying_writes_dated_prices_and_changes_only_what_is_due(world: Services) -> None:
    engine = world.engine
    with Session(engine) as session:
        sku = session.scalars(select(Variant.id).order_by(Variant.id)).first()
        assert sku is not None
        price = float(session.get(Variant, sku).price)  # type: ignore[union-attr]
    pid = _approved(engine, sku, (0.9, 0.9, 0.7, 0.7))
    today = START + dt.timedelta(days=9)  # in the second week
    ref = _apply(engine, pid, today)
    assert ref == f"price_history/{pid}"
    # The first week's cut is due (it takes effect today, not in the past); the third week's
    # waits in the history for its day.
    assert _rows(engine, pid) == [
        (today, round(price * 0.9, 2), "markdown"),
        (START + dt.timedelta(weeks=2), round(price * 0.7, 2), "markdown"),
    ]
    assert _prices(engine)[1][sku] == round(price * 0.9, 2)
    # Applying again finds the rows: nothing is written twice.
    assert _apply(engine, pid, today) == ref
    assert len(_rows(engine, pid)) == 2

    # Another plan for the same SKU cannot overwrite the scheduled change.
    other = _approved(engine, sku, (1.0, 0.8), current=round(price * 0.9, 2))
    with pytest.raises(PricingError, match="already has a price change scheduled"):
        _apply(engine, other, today)
    assert _rows(engine, other) == []


def test_applying_refuses_a_stale_price_or_a_path_outside_the_guardrails(world: Services) -> None:
    engine = world.engine
    with Session(engine) as session:
        first, second = session.scalars(select(Variant.id).order_by(Variant.id).limit(2)).all()
    history, prices = _prices(engine)
    # Half price in one step: more than the 30% a week the guardrails allow.
    steep = _approved(engine, first, (0.5, 0.5))
    with pytest.raises(PricingError, match="breaks the guardrails"):
        _apply(engine, steep, START)
    stale = _approved(engine, second, (0.9,))
    with transaction(engine) as session:
        session.execute(update(Variant).where(Variant.id == second).values(price=1.23))
    with pytest.raises(PricingError, match="not the .* proposal .* was planned from"):
        _apply(engine, stale, START)
    assert _prices(engine) == (history, {**prices, second: 1.23})


def test_an_edit_changes_prices_within_the_guardrails_only() -> None:
    edited = edit_markdown(MARKDOWN_CONTENT, {"2026-11-30": 80.0})
    assert [w["price"] for w in edited["path"]] == [90.0, 90.0, 80.0]
    assert (
        edited["edited_weeks"] == ["2026-11-30"]
        and edited["expected"] == MARKDOWN_CONTENT["expected"]
    )
    with pytest.raises(PricingError, match="not on the price ladder"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-11-30": 77.0})
    with pytest.raises(PricingError, match="markdown-only"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-11-23": 100.0})
    with pytest.raises(PricingError, match="no week starting 2026-12-25"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-12-25": 80.0})


def test_price_steps_never_date_a_change_in_the_past() -> None:
    plan = MarkdownContent.model_validate(MARKDOWN_CONTENT)
    week = dt.timedelta(weeks=1)
    assert price_steps(plan, today=START) == [(START, 90.0), (START + 2 * week, 70.0)]
    # Both cuts are overdue: only the one in force today is written, dated today.
    late = START + 3 * week
    assert price_steps(plan, today=late) == [(late, 70.0)]
