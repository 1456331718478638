"""POST /v1/events: a shopper's view, click, cart add or purchase, applied at once.

The event goes to the live store (`Live.store`: this process's, or Redis shared by every
process) before the response, so the visitor's next recommendation already reflects it; the
store's log reaches the `shopper_events` table in batches (`EventFlusher`). A click, cart add or
purchase may name the `recommendation_id` it came from (attribution); a purchase says its value.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from api.routes.recommendations import recommendation_service
from api.schemas import error_responses
from api.visitors import VisitorDep
from ml_core.recommend.live import Live, LiveEvent
from ml_core.recommend.placements import Context
from retail.errors import NotFoundError
from retail.store.models import Product
from tools.base import Services

router = APIRouter(prefix="/v1/events", tags=["events"])

ATTRIBUTED = ("click", "add_to_cart", "purchase")


class EventCreate(BaseModel):
    """One shopper action on a product."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["view", "click", "add_to_cart", "purchase"]
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    recommendation_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=40,
            description="The recommendation the click, cart add or purchase came from.",
        ),
    ] = None
    value: Annotated[
        float | None,
        Field(gt=0, allow_inf_nan=False, description="A purchase's revenue (required for one)."),
    ] = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> Self:
        if self.type == "purchase" and self.value is None:
            raise ValueError("a purchase needs its value")
        if self.type != "purchase" and self.value is not None:
            raise ValueError(f"only a purchase has a value, not a {self.type}")
        if self.type == "view" and self.recommendation_id is not None:
            raise ValueError(
                "a view names no recommendation_id: a click, add_to_cart or purchase does"
            )
        return self


class EventAccepted(BaseModel):
    type: str
    product_id: str
    recommendation_id: str | None
    occurred_at: dt.datetime


@router.post(
    "",
    operation_id="createEvent",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventAccepted,
    responses=error_responses(401, 403, 404, 422),
)
def create_event(
    request: Request,
    visitor: VisitorDep,
    event: EventCreate,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> EventAccepted:
    """Record a view, click, add_to_cart or purchase for the shopper or anonymous visitor."""
    _require_product(request, event.product_id)
    now = dt.datetime.now(dt.UTC)
    live: Live = request.app.state.live
    live.store.append(
        LiveEvent(
            unit_id=visitor.unit_id,
            session_id=visitor.session_id,
            customer_id=visitor.customer_id,
            kind=event.type,
            product_id=event.product_id,
            at=now.timestamp(),
            segment=Context.of(user_agent, now).segment,
            recommendation_id=event.recommendation_id,
            value=event.value,
        )
    )
    return EventAccepted(
        type=event.type,
        product_id=event.product_id,
        recommendation_id=event.recommendation_id,
        occurred_at=now,
    )


def _require_product(request: Request, product_id: str) -> None:
    """404 for a product the store does not have (the recommender's catalogue when it is
    loaded, else the database)."""
    service = recommendation_service(request)
    if service is not None:
        service.item(product_id)
        return
    services: Services = request.app.state.services
    with Session(services.engine) as session:
        if session.get(Product, product_id) is None:
            raise NotFoundError(f"No product with id {product_id!r}.")
