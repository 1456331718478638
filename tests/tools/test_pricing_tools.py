"""The pricing tools and the application of approved price changes, on a tiny generated world on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from approvals import reader
from approvals.decisions import DecisionOutcome, DecisionRequest
from approvals.decisions import decide as decide_and_apply
from approvals.price_changes import (
    MarkdownContent,
    PricingError,
    Size,
    apply_price_change,
    edit_markdown,
    price_path_violations,
    price_steps,
)
from approvals.records import record_plan
from ml_core.pricing.elasticity import METHOD_WORDS
from ml_core.pricing.guardrails import (
    BROKEN,
    Guardrails,
    guardrail_checks,
    ladder_price,
    money,
)
from ml_core.pricing.markdown import (
    MarkdownItem,
    MarkdownPlan,
    expected_figures,
    outcome,
    solve,
)
from ml_core.pricing.planning import PlannedMarkdown, explain
from retail.catalog_queries import get_product
from retail.clock import today
from retail.price_zones import CHAIN, CHAIN_NAME, PriceZone
from retail.proposals import content_hash, create_proposal, decide
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import (
    DailySales,
    InventoryPosition,
    PriceChange,
    Product,
    Promotion,
    PromotionItem,
    Proposal,
    Variant,
)
from retail.world.seed import PINNED_END, ScaleSpec, seed_world
from tests.proposals import MARKDOWN_CONTENT
from tools.base import Principal, Services, ToolContext, ToolOutcome, invoke
from tools.pricing import (
    HORIZON_WEEKS,
    ExpectedOutcome,
)

# One store, eight products, 240 days: enough price variation for elasticities, planned in
# about two seconds.
SPEC = ScaleSpec(8, 1, 20, 240, 1.0, 10, 1.0)
STORE = "S001"
START = dt.date(2026, 11, 16)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Services:
    seed_world(
        engine,
        scale="small",
        seed=9,
        end=PINNED_END,
        world_dir=tmp_path / "world",
        show_progress=False,
        spec=SPEC,
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
    # In words, never the estimator's code name.
    assert e["method"] in set(METHOD_WORDS.values())
    assert e["as_of"] == "2026-11-15" and e["n_periods"] > 0
    missing = _call(world, "pricing_manager:pat", "item_elasticity", product_id="P99999")
    assert missing.status == "not_found"


def _overstock(engine: Engine) -> None:
    """More stock of everything than the coming weeks sell: every product wants a markdown."""
    with transaction(engine) as session:
        session.execute(
            update(InventoryPosition).values(on_hand=InventoryPosition.on_hand * 4 + 10)
        )


def test_a_proposal_explains_itself_by_its_own_numbers(world: Services) -> None:
    _overstock(world.engine)
    out = _call(world, "pricing_manager:pat", "propose_markdowns", location_id=STORE)
    assert out.ok, out.error
    with Session(world.engine) as session:
        contents = [p.content for p in session.scalars(select(Proposal))]
    assert contents
    for content in contents:
        # The elasticity is rounded once: the page's figure is the explanation's.
        estimate = content["elasticity"]["estimate"]
        assert estimate == round(estimate, 2)
        assert f"Elasticity {estimate:.2f}." in content["explanation"]
        # Money is written as money.
        assert f"value {money(content['expected']['value'])} vs" in content["explanation"]
        # Units left are valued at salvage, under cost: what they take from the margin is
        # stated with them, on the page and in the explanation alike.
        expected, demand = content["expected"], content["demand"]
        assert content["objective"] == "margin" and expected["leftover"] > 0
        worth = demand["salvage"] - content["unit_cost"]
        # (the units left are recorded to two places)
        assert expected["leftover_value"] == pytest.approx(
            expected["leftover"] * worth, abs=0.005 * abs(worth) + 0.01
        )
        note = expected["leftover_note"]
        assert note.startswith(f"includes {expected['leftover']:.1f} unsold units valued at ")
        assert money(expected["leftover_value"]) in note and note in content["explanation"]
        assert expected["keep_leftover"] >= expected["leftover"]


@pytest.mark.parametrize(
    ("keep_units", "said"),
    # 103.25 is a binary exact half: Python rounds it to even (103.2), JavaScript up (103.3);
    # 31.15 is stored just under its half (31.1 by either rule of the exact value).
    [(103.25, "103.2"), (31.15, "31.1"), (1204.55, "1,204.5")],
)
def test_units_read_the_same_in_the_sentence_and_on_the_page(keep_units: float, said: str) -> None:
    item = MarkdownItem("P1", 45.99, 45.99, 24.49, 361, (100.0, 100.0), -1.5)
    plan = MarkdownPlan(
        item_id="P1", current_price=45.99, prices=[45.99, 32.20], units=[120.0, 209.35],
        value=9000.0, keep_value=8000.0, keep_units=keep_units, leftover=31.65,
        keep_leftover=257.75,
    )  # fmt: skip
    sentence = explain(
        item, plan, START, PriceZone(CHAIN, CHAIN_NAME, ("S001",)), -1.5, leftover_note=None
    )
    figures = expected_figures(
        item, "revenue", (plan.value, plan.units, plan.leftover),
        (plan.keep_value, [plan.keep_units], plan.keep_leftover),
    )  # fmt: skip
    # The page shows the server's text for each figure (pricing.js), never its own rounding.
    shown = ExpectedOutcome(**figures)
    assert shown.keep_units_text == said
    assert f"vs {shown.keep_units_text} units and" in sentence
    assert f"expected {shown.units_text} units and value" in sentence
    assert f"{shown.leftover_text} of 361 units left" in sentence
    # The page's detail is the tool's output validated again: the texts travel with it.
    assert ExpectedOutcome.model_validate(shown.model_dump()).keep_units_text == said


def test_propose_markdowns_writes_proposals_and_never_prices(world: Services) -> None:
    engine = world.engine
    _overstock(engine)
    before = _prices(engine)
    out = _call(world, "pricing_manager:pat", "propose_markdowns", location_id=STORE, limit=3)
    assert out.ok, out.error
    summary = out.output
    assert summary is not None and summary["proposals_written"] >= 3
    assert _prices(engine) == before
    shown = summary["proposals"]
    assert len(shown) == 3 and summary["more_proposals"] == summary["proposals_written"] - 3
    # A store names its price zone; the plan starts today by the world's clock.
    assert summary["zones"] == [CHAIN]
    assert summary["starts_on"] == today(engine, world.settings).isoformat() == START.isoformat()
    gains = [p["expected_gain"] for p in shown]
    assert gains == sorted(gains, reverse=True) and all(p["new"] for p in shown)
    with Session(engine) as session:
        stored = {p.id: p for p in session.scalars(select(Proposal))}
    assert len(stored) == summary["proposals_written"]
    assert all(p.status == "proposed" and p.kind == "price_change" for p in stored.values())
    # One proposal per product in the zone, pricing every size of the product.
    products = [p.content["product_id"] for p in stored.values()]
    assert len(products) == len(set(products))
    assert {p.location_id for p in stored.values()} == {CHAIN}
    with Session(engine) as session:
        for p in stored.values():
            sizes = session.scalars(
                select(Variant.id).where(Variant.product_id == p.content["product_id"])
            )
            assert sorted(v["sku"] for v in p.content["variants"]) == sorted(sizes)
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
    assert d["zone"]["id"] == CHAIN and STORE in d["zone"]["locations"]
    # Sizes at one list price share one price.
    by_list: dict[float, set[float]] = {}
    for size in d["sizes"]:
        by_list.setdefault(size["list_price"], set()).add(size["first_price"])
    assert all(len(prices) == 1 for prices in by_list.values())
    assert d["expected"]["gain"] == pytest.approx(shown[0]["expected_gain"])
    assert d["elasticity"]["lower"] <= d["elasticity"]["estimate"] <= d["elasticity"]["upper"]
    gone = _call(world, "pricing_manager:pat", "pricing_proposal_detail", proposal_id="prop-x")
    assert gone.status == "not_found"


def _markdown(
    session: Session, sku: str, fractions: tuple[float, ...], *, current: float | None = None
) -> Proposal:
    """A markdown proposal for `sku` from START, at these fractions of its price, as the
    planner writes them (only the fields applying it reads, and a few for people)."""
    content = _markdown_content(session, sku, fractions, current=current)
    return create_proposal(
        session, kind="price_change", content=content, proposer="agent:pricing", location_id=STORE
    )


def _markdown_content(
    session: Session, sku: str, fractions: tuple[float, ...], *, current: float | None = None
) -> dict[str, Any]:
    variant = session.get(Variant, sku)
    assert variant is not None and variant.unit_cost is not None
    price = float(variant.price) if current is None else current
    return {
        "type": "markdown",
        "sku": sku,
        "product": "test",
        "current_price": price,
        "list_price": price,
        "unit_cost": float(variant.unit_cost),
        "path": [
            {
                "week_starting": (START + dt.timedelta(weeks=w)).isoformat(),
                "price": ladder_price(price, f),
            }
            for w, f in enumerate(fractions)
        ],
        "guardrails": Guardrails().model_dump(mode="json"),
        "change_history": {"mean_log": 0.0, "sd_log": 0.0},
    }


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


def _costed_sku(session: Session) -> str:
    """The first SKU (by id) with a unit cost: a markdown is planned against its cost."""
    sku = session.scalars(
        select(Variant.id).where(Variant.unit_cost.is_not(None)).order_by(Variant.id)
    ).first()
    assert sku is not None
    return sku


def test_applying_writes_dated_prices_and_changes_only_what_is_due(world: Services) -> None:
    engine = world.engine
    with Session(engine) as session:
        sku = _costed_sku(session)
        price = float(session.get(Variant, sku).price)  # type: ignore[union-attr]
    pid = _approved(engine, sku, (0.9, 0.9, 0.7, 0.7))
    today = START + dt.timedelta(days=9)  # in the second week
    ref = _apply(engine, pid, today)
    assert ref == f"price_history/{pid}"
    # The first week's cut is due (it takes effect today, not in the past); the third week's
    # waits in the history for its day.
    assert _rows(engine, pid) == [
        (today, ladder_price(price, 0.9), "markdown"),
        (START + dt.timedelta(weeks=2), ladder_price(price, 0.7), "markdown"),
    ]
    assert _prices(engine)[1][sku] == ladder_price(price, 0.9)
    # Applying again finds the rows: nothing is written twice.
    assert _apply(engine, pid, today) == ref
    assert len(_rows(engine, pid)) == 2

    # Another plan for the same product and zone cannot overwrite the plan in force.
    other = _approved(engine, sku, (1.0, 0.8), current=ladder_price(price, 0.9))
    with pytest.raises(PricingError, match=f"conflicts with proposal {pid}, approved for"):
        _apply(engine, other, today)
    assert _rows(engine, other) == []


def test_a_markdown_of_a_sku_with_no_price_history_shows_as_on_sale(world: Services) -> None:
    # Imported catalogues (tau2's, DummyJSON's) come without a price history: the markdown has
    # to record the price it cuts from, or the product page cannot say it is on sale.
    engine = world.engine
    with transaction(engine) as session:
        sku = _costed_sku(session)
        session.execute(delete(PriceChange).where(PriceChange.variant_id == sku))
        variant = session.get(Variant, sku)
        assert variant is not None
        price, product_id = float(variant.price), variant.product_id
    pid = _approved(engine, sku, (0.8,))
    _apply(engine, pid, START)
    with Session(engine) as session:
        shown = {v.id: v for v in get_product(session, product_id).variants}
    assert shown[sku].price == ladder_price(price, 0.8)
    assert shown[sku].list_price == price
    # The other sizes were not cut: no list price is claimed for them.
    assert all(v.list_price is None for key, v in shown.items() if key != sku)


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
    # The explanation says the edited path and that its figures are the agent's proposal's
    # (walk 5: an edited path kept the agent's path and expected gain as if they were its own).
    agents = "Mark down from 100.00 to 90.00; path: 90.00 from 2026-11-16; 70.00 from 2026-11-30."
    again = edit_markdown(
        edit_markdown({**MARKDOWN_CONTENT, "explanation": agents}, {"2026-11-30": 80.0}),
        {"2026-11-30": 80.0, "2026-11-23": 90.0},
    )
    assert again["explanation"] == (
        "Edited by the pricing manager: the path is now $90.00 from 2026-11-16; $80.00 from "
        "2026-11-30; the expected units, value and gain, and what follows, are of the agent's "
        f"proposal, not of the edited path. {agents}"
    )
    with pytest.raises(PricingError, match="not on the price ladder"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-11-30": 77.0})
    with pytest.raises(PricingError, match="markdown-only"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-11-23": 100.0})
    with pytest.raises(PricingError, match="no week starting 2026-12-25"):
        edit_markdown(MARKDOWN_CONTENT, {"2026-12-25": 80.0})


def test_a_plan_made_under_the_old_rounding_is_judged_by_the_rule_it_was_made_under() -> None:
    """Rungs were rounded to the nearest cent (70% of 96.99 was 67.89) before they were rounded
    toward list (67.90). A proposal that does not record its rule kept the guardrails when it
    was made, and no line may call it broken (walk 5: "ladder broken" until re-planned); a plan
    made now records its rule and is judged by it alone."""
    made_before = {k: v for k, v in Guardrails().model_dump(mode="json").items() if k != "rounding"}
    old = {
        **MARKDOWN_CONTENT,
        "current_price": 96.99,
        "list_price": 96.99,
        "path": [{"week_starting": "2026-11-16", "price": 67.89}],
        "guardrails": made_before,
    }
    plan = MarkdownContent.of(old, "old")
    assert plan.guardrails.rounding == "not_recorded"
    assert price_path_violations(old, "old") == []
    lines = guardrail_checks(
        [67.89],
        current_price=96.99,
        list_price=96.99,
        unit_cost=40.0,
        guardrails=plan.guardrails,
        bindings={},
    )
    assert [c.guardrail for c in lines if c.verdict == BROKEN] == []
    ladder = next(c for c in lines if c.guardrail == "price ladder")
    assert "the plan does not record which rule it was made under" in ladder.setting
    # A size at another list price takes its rung by the rule the quoted one was rounded by.
    size = Size(sku="SKU-2", list_price=49.99, current_price=49.99)
    assert plan.for_size(size).path[0].price == 34.99
    # Made now, the plan records its rule: 67.89 is off its ladder and a step past 30%.
    now = {**old, "guardrails": Guardrails().model_dump(mode="json")}
    assert Guardrails().rounding == "toward_list"
    reasons = " | ".join(price_path_violations(now, "now"))
    assert "not on the price ladder" in reasons and "maximum step" in reasons
    rung = {**now, "path": [{"week_starting": "2026-11-16", "price": 67.9}]}
    assert MarkdownContent.of(rung, "now").for_size(size).path[0].price == 35.0


@pytest.mark.parametrize("elasticity_se", [0.0, 0.4])
def test_an_edited_plan_is_valued_by_the_demand_model_it_was_planned_with(
    elasticity_se: float,
) -> None:
    """Walk 5: after an edit the page showed the agent's expected units and gain as the edited
    path's. The plan records its demand model; the planner's figures are `outcome`'s (at the
    point estimate, and averaged over the elasticity's scenarios), and an edited path is valued
    by the same function and model."""
    item = MarkdownItem(
        "P1", 100.0, 100.0, 40.0, 60.0, (14.0, 12.0, 11.0), -2.5, 12.0, (), elasticity_se
    )
    plan = solve(item, Guardrails(), "margin")
    value, units, leftover = outcome(item, plan.prices, "margin")
    assert (value, *units, leftover) == pytest.approx((plan.value, *plan.units, plan.leftover))
    # The figures as the planner records them.
    figures = expected_figures(
        item,
        "margin",
        (plan.value, plan.units, plan.leftover),
        (plan.keep_value, [plan.keep_units], plan.keep_leftover),
    )
    weeks = [w["week_starting"] for w in MARKDOWN_CONTENT["path"]]
    content = {
        **MARKDOWN_CONTENT,
        "objective": "margin",
        "stock": item.stock,
        "path": [{"week_starting": w, "price": p} for w, p in zip(weeks, plan.prices, strict=True)],
        "demand": {
            "baseline": list(item.baseline),
            "elasticity": item.elasticity,
            "elasticity_se": elasticity_se,
            "salvage": item.salvage,
        },
        "expected": figures,
    }
    assert MarkdownContent.of(content, "planned").expected() == figures
    # The last week kept at the price before it: a path the guardrails allow, valued anew.
    edited = edit_markdown(content, {weeks[2]: plan.prices[1]})
    prices = [*plan.prices[:2], plan.prices[1]]
    value, units, leftover = outcome(item, prices, "margin")
    assert edited["expected"]["units"] == round(sum(units), 2)
    assert edited["expected"]["gain"] == round(value - plan.keep_value, 2)
    assert edited["expected"]["leftover"] == round(leftover, 2)
    assert edited["proposed_expected"] == figures
    assert "the expected units, value and gain are the edited path's" in edited["explanation"]
    # Edited again, the agent's own figures are still the ones kept as the agent's.
    again = edit_markdown(edited, {weeks[2]: plan.prices[2]})
    assert again["proposed_expected"] == figures and again["expected"] == figures


def test_price_steps_never_date_a_change_in_the_past() -> None:
    plan = MarkdownContent.model_validate(MARKDOWN_CONTENT)
    week = dt.timedelta(weeks=1)
    assert price_steps(plan, today=START) == [(START, 90.0), (START + 2 * week, 70.0)]
    # Both cuts are overdue: only the one in force today is written, dated today.
    late = START + 3 * week
    assert price_steps(plan, today=late) == [(late, 70.0)]


def _zone_proposal(
    engine: Engine, product_id: str, fractions: tuple[float, ...], **guardrails: Any
) -> Proposal:
    """A markdown of every size of `product_id` in the one price zone, quoted for its first
    size, as the planner writes it (under these guardrail settings, default ones else)."""
    with transaction(engine) as session:
        sizes = session.scalars(
            select(Variant).where(Variant.product_id == product_id).order_by(Variant.id)
        ).all()
        content = {
            **_markdown_content(session, sizes[0].id, fractions),
            "product_id": product_id,
            "zone": {"id": CHAIN, "name": "every store and online", "locations": [STORE]},
            "variants": [
                {"sku": v.id, "list_price": v.price, "current_price": v.price} for v in sizes
            ],
            "guardrails": Guardrails(**guardrails).model_dump(mode="json"),
        }
        return create_proposal(
            session,
            kind="price_change",
            content=content,
            proposer="agent:pricing",
            location_id=CHAIN,
        )


def test_an_approval_prices_every_size_and_refuses_a_conflicting_plan(world: Services) -> None:
    engine = world.engine
    with Session(engine) as session:
        # A product in several sizes, at two list prices where the world has one (a premium
        # size keeps its premium).
        sized = _list_prices_by_product(session)
        product_id = max(sized, key=lambda p: (len(set(sized[p])), len(sized[p]), p))
    first = _zone_proposal(engine, product_id, (0.8, 0.8))
    second = _zone_proposal(engine, product_id, (0.9, 0.7))
    pat = Principal.parse("pricing_manager:pat")

    def approve(proposal: Proposal) -> DecisionOutcome:
        request = DecisionRequest(
            proposal_id=proposal.id, decision="approve", content_hash=proposal.content_hash
        )
        return decide_and_apply(engine, pat, request, settings=world.settings).decision

    assert approve(first).accepted
    prices = _prices(engine)[1]
    for size in first.content["variants"]:
        assert prices[size["sku"]] == ladder_price(size["list_price"], 0.8)
    by_list: dict[float, set[float]] = {}
    for size in first.content["variants"]:
        by_list.setdefault(size["list_price"], set()).add(prices[size["sku"]])
    assert all(len(shared) == 1 for shared in by_list.values())

    # Another open plan for the same product and zone cannot be approved beside it.
    refused = approve(second)
    assert not refused.accepted and refused.status == "proposed"
    assert refused.message == (
        f"Proposal {second.id} conflicts with proposal {first.id}, approved for test in "
        f"{CHAIN} with prices in force until {(START + dt.timedelta(days=13)).isoformat()}; it "
        "was not applied (plan again after that day)."
    )
    assert _rows(engine, second.id) == [] and _prices(engine)[1] == prices
    # Nor is a newer plan for it proposed while the approved one is in force.
    newer = {
        **second.content,
        "path": [{**w, "price": w["price"] - 1} for w in second.content["path"]],
    }
    planned = PlannedMarkdown(
        newer, CHAIN, product_id, 1.0, {}, dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    )
    with transaction(engine) as session:
        again = record_plan(session, "price_change", [planned], proposer="agent:pricing")
    assert (again.written, again.already_decided) == (0, 1)
    assert [(r.id, r.status) for r in again.recorded] == [(first.id, "executed")]


def _list_prices_by_product(session: Session) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for product_id, price in session.execute(select(Variant.product_id, Variant.price)):
        out.setdefault(product_id, []).append(float(price))
    return out


def test_a_plan_costed_on_another_size_says_so_and_names_the_sizes_own_costs(
    world: Services,
) -> None:
    """The planner costs a product at the highest cost share among its sizes, so the margin
    floor holds for each; the detail must not call that the quoted size's unit cost."""
    engine = world.engine
    with Session(engine) as session:
        sized = _list_prices_by_product(session)
        product_id = max(sized, key=lambda p: (len(sized[p]), p))
    with transaction(engine) as session:
        sizes = session.scalars(
            select(Variant).where(Variant.product_id == product_id).order_by(Variant.id)
        ).all()
        for variant, share in zip(sizes, (0.30, 0.40), strict=False):
            variant.unit_cost = round(float(variant.price) * share, 2)
        for variant in sizes[2:]:
            variant.unit_cost = round(float(variant.price) * 0.35, 2)
        quoted, costliest = sizes[0], sizes[1]
        own, other = float(quoted.unit_cost), float(costliest.unit_cost)
    proposal = _zone_proposal(engine, product_id, (0.8, 0.8))
    with transaction(engine) as session:
        stored = session.get_one(Proposal, proposal.id)
        stored.content = {**stored.content, "unit_cost": round(float(quoted.price) * 0.40, 2)}
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=proposal.id).output
    assert d is not None
    assert {s["sku"]: s["unit_cost"] for s in d["sizes"]}[quoted.id] == own
    basis = d["cost_basis"]
    assert basis is not None
    assert f"{costliest.id}: ${other:.2f}" in basis and "cost is 40.0% of list" in basis
    assert basis.endswith(f"{quoted.id} itself costs ${own:.2f}.")
    assert "margin floor" in basis and "lowest margin of any size" in basis
    # Where its prices apply reads in words, in the queue and in full, not as a zone id.
    assert d["zone"]["in_words"] == "every store and online"
    with Session(engine) as session:
        listed = reader.summary(session.get_one(Proposal, proposal.id))
    assert listed.totals["prices_at"] == "every store and online"

    # A plan on the quoted size's own cost has nothing to explain: every size costs the same
    # share of its list price (the margins are on the costs as they are now, as approval
    # checks them, not on a cost recorded in the plan).
    with transaction(engine) as session:
        for variant in session.scalars(select(Variant).where(Variant.product_id == product_id)):
            variant.unit_cost = round(float(variant.price) * 0.30, 2)
        stored = session.get_one(Proposal, proposal.id)
        stored.content = {**stored.content, "unit_cost": own}
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=proposal.id).output
    assert d is not None and d["cost_basis"] is None and d["unit_cost"] == own


def test_a_plan_that_keeps_todays_price_for_weeks_dates_its_first_change(
    world: Services,
) -> None:
    """A markdown whose first weeks keep today's price must not read as starting today: the
    detail and the queue's totals both carry the day of the first new price."""
    with Session(world.engine) as session:
        sku = _costed_sku(session)
    with transaction(world.engine) as session:
        proposal = _markdown(session, sku, (1.0, 1.0, 0.9))
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=proposal.id).output
    assert d is not None
    later = (START + dt.timedelta(weeks=2)).isoformat()
    assert (d["starts_on"], d["first_change_on"]) == (START.isoformat(), later)
    assert d["first_price"] == ladder_price(d["current_price"], 0.9)
    with Session(world.engine) as session:
        listed = reader.summary(session.get_one(Proposal, proposal.id))
    assert listed.totals["first_change_on"] == later
    # A plan that changes no price has no first change.
    with transaction(world.engine) as session:
        kept = _markdown(session, sku, (1.0, 1.0))
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=kept.id).output
    assert d is not None and d["first_change_on"] is None
    assert d["first_price"] == d["current_price"]


def test_every_guardrail_shown_as_a_setting_has_a_checked_line(world: Services) -> None:
    """The cap of changes a day, the distance from past changes and no increase during a
    promotion are reported with the plan's numbers, as the other guardrails are."""
    with Session(world.engine) as session:
        sku = session.scalars(
            select(Variant.id).where(Variant.unit_cost.is_not(None)).order_by(Variant.id.desc())
        ).first()
    assert sku is not None
    with transaction(world.engine) as session:
        proposal = _markdown(session, sku, (0.9, 0.9))
        proposal.content = {
            **proposal.content,
            "change_history": {"mean_log": 0.0, "sd_log": 0.05, "n": 40},
        }
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=proposal.id).output
    assert d is not None
    checks = {c["guardrail"]: c for c in d["guardrails"]["checks"]}
    assert set(checks) == {
        "price ladder",
        "margin floor",
        "minimum price",
        "maximum step",
        "markdown-only",
        "price changes a day",
        "distance from past changes",
        "no increase during a promotion",
    }
    assert checks["distance from past changes"]["plan"].startswith(
        f"change -10.0% ({d['current_price']:.2f} to {ladder_price(d['current_price'], 0.9):.2f}) "
        "is -2.10 sd of past changes"
    )
    with Session(world.engine) as session:
        approved = session.scalars(
            select(Proposal).where(
                Proposal.kind == "price_change",
                Proposal.status.in_(("approved", "edited", "executed")),
            )
        ).all()
    # The cap counts the price changes that would happen on the day: this plan's and those of
    # the plans approved already (an open proposal may never be approved).
    same_day = 1 + sum(
        START.isoformat()
        in {
            day.isoformat()
            for day, _ in price_steps(
                MarkdownContent.of(p.content, p.id),
                today=dt.date.fromisoformat(p.content["path"][0]["week_starting"]),
            )
        }
        for p in approved
    )
    assert checks["price changes a day"]["plan"].startswith(
        f"busiest of its days {START.isoformat()}: {same_day} price "
        f"change{'' if same_day == 1 else 's'} across products"
    )
    assert checks["no increase during a promotion"]["verdict"] == "passed"
    assert all(c["text"].startswith(c["guardrail"].capitalize()) for c in checks.values())


def test_approval_rechecks_the_guardrails_that_changed_since_the_plan(world: Services) -> None:
    """A promotion begun since the plan, price changes that other approvals put on its days,
    and a unit cost raised since: the proposal's guardrail lines say so before anyone decides,
    and approval refuses it in one sentence, writing no price."""
    engine = world.engine
    with Session(engine) as session:
        sized = _list_prices_by_product(session)
        # Products whose sizes share one price, so a plan's fraction is every size's.
        products = sorted(p for p, prices in sized.items() if len(set(prices)) == 1)[:4]
    promoted, first, second, costly = products
    pat = Principal.parse("pricing_manager:pat")

    def approve(proposal: Proposal) -> DecisionOutcome:
        request = DecisionRequest(
            proposal_id=proposal.id, decision="approve", content_hash=proposal.content_hash
        )
        return decide_and_apply(engine, pat, request, settings=world.settings).decision

    def guardrails(proposal: Proposal) -> dict[str, Any]:
        out = _call(
            world, "pricing_manager:pat", "pricing_proposal_detail", proposal_id=proposal.id
        )
        assert out.output is not None, out.error
        return out.output["guardrails"]

    # Back up to list price in the second week: allowed without markdown-only, unless that
    # week is on promotion.
    back_up = _zone_proposal(engine, promoted, (0.9, 1.0), monotone=False)
    assert guardrails(back_up)["passes"]
    with transaction(engine) as session:
        session.add(
            Promotion(
                id="promo-new",
                name="Started after the plan",
                starts_on=START + dt.timedelta(weeks=1),
                ends_on=START + dt.timedelta(weeks=1, days=6),
                discount_pct=10.0,
                source="test",
            )
        )
        session.flush()
        session.add(PromotionItem(promotion_id="promo-new", product_id=promoted))
    report = guardrails(back_up)
    assert not report["passes"] and report["summary"].startswith("Broken: ")
    assert "no increase during a promotion" in report["summary"]
    refused = approve(back_up)
    assert not refused.accepted and "during a promotion" in refused.message
    assert refused.message.count(". ") == 0 and refused.message.endswith(".")

    # A cap of one price change a day: the first approval takes it.
    assert approve(_zone_proposal(engine, first, (0.9,), max_changes_per_day=1)).accepted
    over_cap = _zone_proposal(engine, second, (0.9,), max_changes_per_day=1)
    line = next(
        c for c in guardrails(over_cap)["checks"] if c["guardrail"] == "price changes a day"
    )
    assert line["verdict"] == "broken" and "2 price changes across products" in line["plan"]
    refused = approve(over_cap)
    assert not refused.accepted and "over the cap of 1 a day" in refused.message

    # The unit cost went up since the plan: its price no longer keeps the margin floor.
    dearer = _zone_proposal(engine, costly, (0.9,))
    with transaction(engine) as session:
        session.execute(
            update(Variant)
            .where(Variant.product_id == costly)
            .values(unit_cost=Variant.price * 0.95)
        )
    refused = approve(dearer)
    assert not refused.accepted and "breaks the margin floor of 0.0%" in refused.message
    with Session(engine) as session:
        written = session.scalars(
            select(PriceChange.proposal_id).where(
                PriceChange.proposal_id.in_([back_up.id, over_cap.id, dearer.id])
            )
        ).all()
    assert written == []


def test_a_step_a_hair_past_the_limit_is_broken_on_the_page_and_refused(world: Services) -> None:
    """70% of a list price rounded down to the cent (96.99 -> 67.89, a cut of 30.003%) breaks a
    30% maximum step: the page's line says broken, the report does not pass and names the
    violation, and approval refuses it in one sentence, writing no price (walk 5: such a
    plan was shown broken, passed with no violation, and was approved)."""
    engine = world.engine
    with Session(engine) as session:
        sized = _list_prices_by_product(session)
        product_id = next(
            p
            for p, prices in sorted(sized.items())
            if len(set(prices)) == 1 and round(prices[0] * 0.7, 2) < prices[0] * 0.7
        )
    proposal = _zone_proposal(engine, product_id, (0.7,))
    with transaction(engine) as session:
        stored = session.get(Proposal, proposal.id)
        assert stored is not None
        price = stored.content["current_price"]
        path = [{**stored.content["path"][0], "price": round(price * 0.7, 2)}]
        # As the planner wrote it before rungs were rounded toward the list price.
        stored.content = {**stored.content, "path": path}
        stored.content_hash = content_hash(stored.content)
        session.flush()
        proposal = stored
    out = _call(world, "pricing_manager:pat", "pricing_proposal_detail", proposal_id=proposal.id)
    assert out.output is not None, out.error
    report = out.output["guardrails"]
    step = next(c for c in report["checks"] if c["guardrail"] == "maximum step")
    assert step["verdict"] == "broken"
    assert not report["passes"] and report["violations"]
    assert any("exceeds the maximum step of 30.0%" in v for v in report["violations"])
    request = DecisionRequest(
        proposal_id=proposal.id, decision="approve", content_hash=proposal.content_hash
    )
    refused = decide_and_apply(
        engine, Principal.parse("pricing_manager:pat"), request, settings=world.settings
    ).decision
    assert not refused.accepted and refused.status == "proposed"
    assert "breaks the guardrails" in refused.message and refused.message.count(". ") == 0
    assert _rows(engine, proposal.id) == []


def test_an_edited_plan_is_checked_as_edited_and_says_whose_plan_was_held_back(
    world: Services,
) -> None:
    """After a pricing manager's edit the guardrail lines are the edited path's figures, and
    what a guardrail held back is said to be the agent's plan before the edit, not the prices
    now shown."""
    with Session(world.engine) as session:
        sku = _costed_sku(session)
        planned = {
            **_markdown_content(session, sku, (0.9, 0.9, 0.9)),
            "binding_guardrails": [
                {"guardrail": "maximum step", "held_back": "without it the plan would price less"}
            ],
        }
    week = planned["path"][2]["week_starting"]
    deeper = ladder_price(planned["current_price"], 0.8)
    with transaction(world.engine) as session:
        proposal = create_proposal(
            session,
            kind="price_change",
            content=edit_markdown(planned, {week: deeper}),
            proposer="agent:pricing",
            location_id=STORE,
        )
    d = _call(world, "evaluator", "pricing_proposal_detail", proposal_id=proposal.id).output
    assert d is not None and d["edited_weeks"] == [week]
    report = d["guardrails"]
    assert report["summary"] == (
        "No guardrail is broken (distance from past changes: not checked); 1 held the agent's "
        "plan back before the edit: maximum step."
    )
    checks = {c["guardrail"]: c for c in report["checks"]}
    assert checks["minimum price"]["plan"].startswith(f"lowest price {deeper:.2f}")
    assert (
        "Before the edit it held the agent's plan back: without it"
        in (checks["maximum step"]["text"])
    )
    assert checks["margin floor"]["text"].endswith(
        "It did not hold the agent's plan back before the edit."
    )
