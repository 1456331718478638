"""The associate console's JSON: the stores, stock here and nearby, in-stock substitutes, a
search for customers by name or e-mail, and a loyalty customer's profile and recommendations.

Each route calls one tool as the request's principal (`ToolRunner`), so the tool's role grant,
its consent rules and the audit apply exactly as they do in a conversation. A tool's typed error
becomes its HTTP status (`api.deps.TOOL_ERROR_STATUS`): not_found 404, forbidden 403, invalid
422, policy_denied 403 (e.g. a customer without marketing consent), needs_confirmation 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from api.auth import RoleGuard
from api.deps import SessionDep, ToolRunner
from api.schemas import AUTH_ERRORS, StorePublic, error_responses
from retail.store.models import Location
from tools.base import Principal
from tools.customers import MIN_SEARCH_CHARS, CustomerProfile, CustomerSearch
from tools.inventory import StockNearby, Substitutes, stores_by_name
from tools.recommendations import Recommendations

router = APIRouter(prefix="/v1", tags=["associate"])

Associate = Annotated[Principal, Depends(RoleGuard(["associate"]))]
Id = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
CustomerId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]

ERRORS = error_responses(*AUTH_ERRORS, 404, 409)


def _tools(request: Request, principal: Associate) -> ToolRunner:
    return ToolRunner(request, principal)


Tools = Annotated[ToolRunner, Depends(_tools)]


@router.get(
    "/stores",
    operation_id="listStores",
    response_model=list[StorePublic],
    responses=error_responses(*AUTH_ERRORS),
)
def list_stores(session: SessionDep, principal: Associate) -> list[Location]:
    """Every store by name, with the id `store_id` takes: where stock can be looked up."""
    return stores_by_name(session)


@router.get("/stock", operation_id="getStock", response_model=StockNearby, responses=ERRORS)
def get_stock(
    tools: Tools,
    product_id: Id = None,
    variant_id: Id = None,
    store_id: Id = None,
    limit: Annotated[int, Query(ge=1, le=10, description="Nearby stores per SKU.")] = 5,
) -> dict[str, Any]:
    """Stock of a product's SKUs (or one SKU) at a store (default: yours), online, and at the
    nearest other stores that have it, with distances."""
    return tools(
        "stock_nearby",
        product_id=product_id,
        variant_id=variant_id,
        store_id=store_id,
        limit=limit,
    )


@router.get(
    "/substitutes", operation_id="getSubstitutes", response_model=Substitutes, responses=ERRORS
)
def get_substitutes(
    tools: Tools,
    variant_id: Id = None,
    product_id: Id = None,
    store_id: Id = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 5,
) -> dict[str, Any]:
    """Items in stock at a store (default: yours) that can replace a sold-out SKU or product,
    best match first, each with its reason."""
    return tools(
        "in_stock_substitutes",
        variant_id=variant_id,
        product_id=product_id,
        store_id=store_id,
        limit=limit,
    )


@router.get(
    "/customers",
    operation_id="findCustomers",
    response_model=CustomerSearch,
    responses=error_responses(*AUTH_ERRORS),
)
def find_customers(
    tools: Tools,
    q: Annotated[
        str,
        Query(
            min_length=MIN_SEARCH_CHARS,
            max_length=200,
            pattern=r"^[^\x00]+$",
            description="Part of a name, an e-mail address or a customer id, any case.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    """Customers whose id, name or e-mail address contains `q`, ignoring case, by name."""
    return tools("find_customers", query=q, limit=limit)


@router.get(
    "/customers/{customer_id}",
    operation_id="getCustomer",
    response_model=CustomerProfile,
    responses=ERRORS,
)
def get_customer(tools: Tools, customer_id: CustomerId) -> dict[str, Any]:
    """A loyalty customer's profile: tier, home store and, with their marketing consent, their
    order count, spend and favourite categories. No contact details."""
    return tools("customer_profile", customer_id=customer_id)


@router.get(
    "/customers/{customer_id}/recommendations",
    operation_id="getCustomerRecommendations",
    response_model=Recommendations,
    responses=ERRORS,
)
def get_customer_recommendations(
    tools: Tools,
    customer_id: CustomerId,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Recommendations for a customer you are serving, in stock at your store or online;
    refused (403) without the customer's marketing consent."""
    return tools("customer_recommendations", customer_id=customer_id, limit=limit)
