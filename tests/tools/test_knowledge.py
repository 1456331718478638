"""answer_from_documents through `invoke`: cited passages, filters by type and by product."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rag.documents import split_sections
from retail.store.models import Policy, Variant
from tests.tools.world import ToolWorld, ok, run
from tools.catalog import product_cards


def test_policy_questions_get_cited_policy_sections(tool_world: ToolWorld) -> None:
    ctx = tool_world.ctx("shopper:someone")
    out = ok(
        run(
            ctx, "answer_from_documents", question="can I return an opened item?", doc_type="policy"
        )
    )
    passages = out["passages"]
    assert len(passages) == 4
    assert all(p["doc_type"] == "policy" and p["policy_id"] and p["section"] for p in passages)
    assert passages[0]["doc_id"].startswith(f"policy:{passages[0]['policy_id']}#")
    assert any(p["policy_id"] == "returns" for p in passages)
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True)


def test_a_policy_section_comes_with_the_sections_it_must_be_read_with(
    tool_world: ToolWorld,
) -> None:
    ctx = tool_world.ctx("shopper:someone")
    out = ok(
        run(ctx, "answer_from_documents", question="what is final sale?", doc_type="policy", k=2)
    )
    top, *rest = out["passages"]
    assert top["doc_id"] == "policy:returns#final-sale-not-returnable"
    (condition,) = [p for p in rest if p["see_also_of"] == top["doc_id"]]
    assert condition["doc_id"] == "policy:returns#condition" and rest[0] == condition
    assert condition["score"] == top["score"] and condition["section"] == "Condition"
    assert "original packaging" in condition["text"]
    assert [p["doc_id"] for p in rest].count("policy:returns#condition") == 1
    # Each carries its place in the page, to be quoted in: the conditions come first there.
    assert condition["position"] < top["position"]


def test_a_product_filter_keeps_to_that_products_documents(tool_world: ToolWorld) -> None:
    w = tool_world
    out = ok(
        run(
            w.ctx(w.associate), "answer_from_documents", question="how do I wash these?",
            product_id=w.product_id, k=6,
        )
    )  # fmt: skip
    passages = out["passages"]
    assert passages and all(p["product_id"] == w.product_id for p in passages)
    assert {p["doc_type"] for p in passages} >= {"product", "size_guide"}
    sizing = ok(
        run(
            w.ctx(w.associate), "answer_from_documents", question="what size should I get?",
            product_id=w.product_id, doc_type="size_guide",
        )
    )  # fmt: skip
    assert [p["doc_id"] for p in sizing["passages"]] == [f"size_guide:{w.product_id}"]


@pytest.mark.parametrize("role", ["shopper:x", "associate:a", "planner:p", "pricing_manager:m"])
def test_every_role_may_ask(tool_world: ToolWorld, role: str) -> None:
    out = ok(run(tool_world.ctx(role), "answer_from_documents", question="shipping times", k=1))
    assert len(out["passages"]) == 1


def test_bad_questions_are_typed_errors(tool_world: ToolWorld) -> None:
    ctx = tool_world.ctx("shopper:someone")
    assert run(ctx, "answer_from_documents", question="").status == "invalid"
    assert run(ctx, "answer_from_documents", question="   ").status == "invalid"
    assert run(ctx, "answer_from_documents", question="x", doc_type="memo").status == "invalid"
    assert run(ctx, "answer_from_documents", question="x", k=11).status == "invalid"
    missing = run(ctx, "answer_from_documents", question="care", product_id="nope")
    assert missing.status == "not_found"


def test_a_quoted_product_page_has_the_prices_and_skus_its_card_has(
    tool_world: ToolWorld,
) -> None:
    """A markdown approved and a SKU withdrawn after the index was built: the page quoted is the
    page as it reads now, priced by the same rule as the product's card."""
    w = tool_world
    with Session(w.engine) as session:
        first, second, *_ = session.scalars(
            select(Variant).where(Variant.product_id == w.product_id).order_by(Variant.id)
        )
        was = (first.available, second.price)
        first.available, second.price = False, Decimal("1.23")
        session.commit()
        withdrawn, marked_down = first.id, second.id
    try:
        out = ok(
            run(
                w.ctx("shopper:someone"), "answer_from_documents", question="what does it cost?",
                product_id=w.product_id, doc_type="product",
            )
        )  # fmt: skip
        (card,) = product_cards(w.engine, [w.product_id])
        page = out["passages"][0]["text"]
        low, high = card.price_min, card.price_max
        assert low == 1.23 and f"Price: ${low:.2f} to ${high:.2f}" in page
        assert f"SKU {marked_down}" in page and f"SKU {withdrawn}" not in page
    finally:
        with Session(w.engine) as session:
            restored = session.get_one(Variant, withdrawn), session.get_one(Variant, marked_down)
            restored[0].available, restored[1].price = was
            session.commit()


@pytest.mark.parametrize(
    ("question", "policy_id", "sections"),
    [
        # "Opened" is answered by what is final sale once opened, read with the conditions.
        ("may I send back an item whose box I've opened?", "returns", {"Condition", "Final sale"}),
        # A marketplace competitor: the rule, and the list of what is never matched.
        ("will you match the price on amazon?", "price-match", {"Competitor", "do not match"}),
    ],
)
def test_a_policy_answer_places_every_section_that_answers_the_question(
    tool_world: ToolWorld, question: str, policy_id: str, sections: set[str]
) -> None:
    out = ok(
        run(
            tool_world.ctx("shopper:someone"), "answer_from_documents", question=question,
            doc_type="policy",
        )
    )  # fmt: skip
    placed = [p for p in out["passages"] if p["position"] is not None]
    assert {p["policy_id"] for p in placed} == {policy_id}
    for words in sections:
        assert any(words in p["section"] for p in placed), words
    # Each placed where its policy page has it, as stored in the database.
    with Session(tool_world.engine) as session:
        body = session.get_one(Policy, policy_id).body
    order = [name for name, _ in split_sections(body)]
    assert all(order[p["position"]] == p["section"] for p in placed)
