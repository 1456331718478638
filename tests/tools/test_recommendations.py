"""Recommendation tools through `invoke`: for the signed-in shopper, similar, complete the look,
and the honest fallbacks when no recommender has been trained."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rag.graph import ARTIFACT as GRAPH_ARTIFACT
from retail.store.db import transaction
from retail.store.models import InventoryPosition, Order, OrderItem, Product, Variant
from tests.tools.world import ToolWorld, ok, run
from tools.base import Principal, Services, ToolContext


def _buy_now(w: ToolWorld, customer_id: str, product_id: str, order_id: str) -> None:
    with transaction(w.engine) as session:
        variant = session.scalars(
            select(Variant).where(Variant.product_id == product_id).order_by(Variant.id)
        ).first()
        assert variant is not None
        session.add(
            Order(
                id=order_id,
                customer_id=customer_id,
                status="delivered",
                created_at=dt.datetime.now(dt.UTC),
                source="generated",
            )
        )
        session.flush()
        session.add(
            OrderItem(
                id=f"{order_id}:0",
                order_id=order_id,
                position=0,
                variant_id=variant.id,
                product_id=product_id,
                name="bought in a test",
                price=variant.price,
            )
        )


def test_the_recommendation_service_answers_every_tool(tool_world: ToolWorld) -> None:
    """One test, because a service that fails to start keeps its index locked for the process."""
    w = tool_world
    ctx = w.ctx(f"shopper:{w.no_consent_customer_id}")
    before = ok(run(ctx, "recommend_for_me", limit=5))
    assert before["source"] == "recommender" and before["model_version"]
    assert len(before["items"]) == 5 and all(i["reason"] for i in before["items"])
    top = before["items"][0]["product_id"]
    order_id = "test-order-just-bought"
    _buy_now(w, w.no_consent_customer_id, top, order_id)
    try:
        after = ok(run(ctx, "recommend_for_me", limit=5))
    finally:
        with transaction(w.engine) as session:
            session.execute(delete(OrderItem).where(OrderItem.order_id == order_id))
            session.execute(delete(Order).where(Order.id == order_id))
    assert top not in [i["product_id"] for i in after["items"]], "just bought: left out"
    assert after["store_id"] == before["store_id"]

    similar = ok(run(ctx, "similar_products", product_id=w.product_id, limit=4))
    assert similar["source"] == "recommender" and similar["product_id"] == w.product_id
    ids = [i["product_id"] for i in similar["items"]]
    assert ids and w.product_id not in ids and len(ids) == len(set(ids))

    look = ok(run(ctx, "complete_the_look", product_id=w.product_id, limit=4))
    with Session(w.engine) as session:
        category = session.get_one(Product, w.product_id).category_id
        categories = dict(
            session.execute(
                select(Product.id, Product.category_id).where(
                    Product.id.in_([i["product_id"] for i in look["items"]])
                )
            ).all()
        )
    assert look["items"] and category not in categories.values()

    served = ok(run(w.ctx(w.associate), "customer_recommendations", customer_id=w.shopper_id))
    assert served["source"] == "recommender" and served["store_id"] == w.store_id
    assert served["items"]
    assert all(i["stock_status"] == "in_stock" for i in served["items"])

    # Sold out at the store after the service read its stock: never recommended.
    first = served["items"][0]["product_id"]
    sold_out = (
        select(InventoryPosition)
        .join(Variant, Variant.id == InventoryPosition.variant_id)
        .where(Variant.product_id == first, InventoryPosition.location_id == w.store_id)
    )
    with transaction(w.engine) as session:
        kept = {p.variant_id: p.on_hand for p in session.scalars(sold_out)}
        for position in session.scalars(sold_out):
            position.on_hand = position.reserved
    try:
        again = ok(
            run(w.ctx(w.associate), "customer_recommendations", customer_id=w.shopper_id, limit=5)
        )
    finally:
        with transaction(w.engine) as session:
            for position in session.scalars(sold_out):
                position.on_hand = kept[position.variant_id]
    assert first not in [i["product_id"] for i in again["items"]]
    assert again["items"] and all(i["stock_status"] == "in_stock" for i in again["items"])


def _without_recommender(w: ToolWorld, tmp_path: Path, spec: str) -> ToolContext:
    """A context whose var dir holds the knowledge graph but no trained recommender."""
    artifacts = w.settings.var_dir / "artifacts"
    shutil.copytree(artifacts / GRAPH_ARTIFACT, tmp_path / "artifacts" / GRAPH_ARTIFACT)
    shutil.copytree(w.settings.var_dir / "keys", tmp_path / "keys")  # its signatures' key
    bare = Services(w.engine, w.settings.model_copy(update={"var_dir": tmp_path}))
    return ToolContext(principal=Principal.parse(spec), services=bare)


def test_without_a_recommender_best_sellers_and_the_graph_say_so(
    tool_world: ToolWorld, tmp_path: Path
) -> None:
    w = tool_world
    ctx = _without_recommender(w, tmp_path, f"shopper:{w.tau2_customer_id}")
    out = ok(run(ctx, "recommend_for_me", limit=5))
    assert out["source"] == "popularity_fallback" and out["model_version"] is None
    assert out["note"] and len(out["items"]) == 5
    ids = [i["product_id"] for i in out["items"]]
    with Session(w.engine) as session:
        bought = set(
            session.scalars(
                select(OrderItem.product_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.customer_id == w.tau2_customer_id)
            )
        )
        buyers = dict(
            session.execute(
                select(OrderItem.product_id, func.count(func.distinct(Order.customer_id)))
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.status != "cancelled", OrderItem.product_id.in_(ids))
                .group_by(OrderItem.product_id)
            ).all()
        )
    assert not bought & set(ids)
    assert [buyers[i] for i in ids] == sorted((buyers[i] for i in ids), reverse=True)
    assert all(i["in_stock"] and i["source"] == "best_seller" for i in out["items"])

    similar = ok(run(ctx, "similar_products", product_id=w.product_id))
    assert similar["source"] == "knowledge_graph" and similar["note"]
    assert [i["product_id"] for i in similar["items"]] == [w.sibling_product_id]

    look = ok(run(ctx, "complete_the_look", product_id=w.product_id))
    assert look["source"] == "knowledge_graph" and look["model_version"] is None
    assert all(i["source"] != "bought_together" for i in look["items"])


def test_recommendation_grants_and_bad_input(tool_world: ToolWorld) -> None:
    w = tool_world
    assert run(w.ctx(w.associate), "recommend_for_me").status == "invalid"
    assert run(w.ctx("planner:pat"), "similar_products", product_id=w.product_id).status == (
        "forbidden"
    )
    shopper = w.ctx(f"shopper:{w.shopper_id}")
    assert run(shopper, "similar_products", product_id="nope").status == "not_found"
    assert run(shopper, "complete_the_look", product_id="nope").status == "not_found"
    assert run(shopper, "recommend_for_me", store_id="S999").status == "not_found"
    assert run(shopper, "recommend_for_me", customer_id="someone_else").status == "invalid"
