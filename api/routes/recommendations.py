"""GET /v1/recommendations: a storefront placement's recommendations for the visitor.

The visitor is the API key's shopper or an anonymous session (`api.visitors`); the placement's
logic is `ml_core.recommend.placements`. Each answer gets a new `recommendation_id`, names the
model version and the experiment arm, and is logged as a `recommendations_served` row (the
exposure log, written in batches by `Live.exposures`) so later clicks and purchases that name it
can be attributed. A recommender version in shadow answers it too, after the response
(`ml_core.recommend.shadow`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SERVICE, InvalidRequest
from api.schemas import error_responses
from api.visitors import VisitorDep
from ml_core.recommend.live import Live
from ml_core.recommend.placements import (
    Context,
    PlacementName,
    Placements,
    Visitor,
    rules_for,
)
from ml_core.recommend.ranking import CatalogItem, RankedItem
from ml_core.recommend.serving import RecommendationService
from ml_core.recommend.shadow import ShadowRunner
from retail.catalog_queries import product_images
from retail.store.db import session_factory
from tools.base import Services, ToolContext
from tools.recommendations import recommender

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


class RecommendedItemPublic(BaseModel):
    product_id: str
    name: str
    price: float | None = Field(
        description="The lowest price of the product's variants on sale (price_min)."
    )
    price_min: float | None = Field(description="The lowest price of its variants on sale now.")
    price_max: float | None = Field(description="The highest price of its variants on sale now.")
    image: str | None = Field(description="A picture's URL, if the product has one.")
    reason: str = Field(description="Why it is shown, in a few words.")
    source: str = Field(
        description="What proposed it: vector, item_item, popular or bought_together."
    )


class RecommendationsPublic(BaseModel):
    recommendation_id: str = Field(
        description="This answer's id: send it with the click, cart add or purchase it led to."
    )
    placement: PlacementName
    items: list[RecommendedItemPublic]
    model_version: str = Field(description="The recommender version that answered.")
    experiment_id: str | None = Field(description="The experiment the visitor is in, if any.")
    arm: str | None = Field(description="The experiment's arm the visitor sees, if any.")


def recommendation_service(request: Request) -> RecommendationService | None:
    """The process's recommender (loaded on first use); None while none has been trained."""
    services: Services = request.app.state.services
    return recommender(ToolContext(principal=SERVICE, services=services, agent_name="api"))


def placements(request: Request) -> Placements:
    """The process's placements over its recommender; 503 while none has been trained."""
    services: Services = request.app.state.services
    service = recommendation_service(request)
    if service is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="No recommender has been trained yet; run `aisle recommend train`.",
        )
    live: Live = request.app.state.live
    built: Placements = services.cached(
        "api.placements", lambda: Placements(service, live.store, services.engine)
    )
    return built


def images(request: Request) -> dict[str, str]:
    """Product pictures, read once per process (a product's images do not change)."""
    services: Services = request.app.state.services

    def read() -> dict[str, str]:
        with session_factory(services.engine)() as session:
            return product_images(session)

    found: dict[str, str] = services.cached("api.product_images", read)
    return found


def _card(ranked: RankedItem, item: CatalogItem, image: str | None) -> RecommendedItemPublic:
    low, high = item.price_range or (None, None)
    return RecommendedItemPublic(
        product_id=ranked.item_id,
        name=item.name,
        price=low,
        price_min=low,
        price_max=high,
        image=image,
        reason=ranked.reason,
        source=ranked.source,
    )


@router.get(
    "",
    operation_id="getRecommendations",
    response_model=RecommendationsPublic,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_recommendations(
    request: Request,
    visitor: VisitorDep,
    background: BackgroundTasks,
    placement: Annotated[
        PlacementName,
        Query(description="The storefront slot: home, product, cart or post_purchase."),
    ],
    product_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="The product on the page: required for `product`; for `home`, what "
            "the visitor is looking at.",
        ),
    ] = None,
    k: Annotated[int, Query(ge=1, le=50, description="How many items at most.")] = 10,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> RecommendationsPublic:
    """The placement's recommendations for the signed-in shopper or the anonymous visitor."""
    if placement == "product" and product_id is None:
        raise InvalidRequest(
            "The product placement needs the product: add product_id=...",
            loc=("query", "product_id"),
            kind="missing",
        )
    # Answering may read the live store (Redis), the stage ledger and now and then the database:
    # one worker thread for all of it. A sync route would hop to a thread again to validate the
    # response (a hop costs the process about 0.06 ms of CPU, more under load).
    return await run_in_threadpool(
        _answer, request, visitor, background, placement, product_id, k, user_agent
    )


def _answer(
    request: Request,
    visitor: Visitor,
    background: BackgroundTasks,
    placement: PlacementName,
    product_id: str | None,
    k: int,
    user_agent: str | None,
) -> RecommendationsPublic:
    answering = placements(request)
    now = dt.datetime.now(dt.UTC)
    context = Context.of(user_agent, now)
    arm = answering.experiments.assign(visitor.unit_id)
    rules = rules_for(arm)
    ranked = answering.recommend(
        visitor, placement, context, product_id=product_id, k=k, rules=rules
    )
    # The cards show the snapshot the list was ranked from: it follows every price and stock
    # write (`RecommendationService.follow_catalog`), so no query is needed here.
    catalog = answering.service.catalog
    pictures = images(request)
    items = [_card(r, catalog[r.item_id], pictures.get(r.item_id)) for r in ranked]
    served = RecommendationsPublic(
        recommendation_id=str(uuid.uuid4()),
        placement=placement,
        items=items,
        model_version=answering.service.model_version,
        experiment_id=arm.experiment_id if arm else None,
        arm=arm.arm if arm else None,
    )
    live: Live = request.app.state.live
    live.exposures.add(
        {
            "id": served.recommendation_id,
            "served_at": now,
            "placement": placement,
            "unit_id": visitor.unit_id,
            "customer_id": visitor.customer_id,
            "session_id": visitor.session_id,
            "model_version": served.model_version,
            "experiment_id": served.experiment_id,
            "arm": served.arm,
            "propensity": arm.propensity if arm else None,
            "items": [i.product_id for i in items],
            "context": {
                "device": context.device,
                "daypart": context.daypart,
                "product_id": product_id,
                "k": k,
            },
        }
    )
    # A shadow version answers the same request after the response has gone out: logged, never
    # served, and the visitor waits for none of it.
    shadow: ShadowRunner = request.app.state.shadow
    if shadow.wanted(served.recommendation_id):
        background.add_task(
            shadow.run,
            served.recommendation_id,
            visitor,
            placement,
            context,
            product_id=product_id,
            k=k,
            rules=rules,
        )
    return served
