"""Product catalogue routes: the filtered listing and one product in full.

Routes stay thin: they read and check parameters, call `retail.catalog_queries`, and return its
read models; the rules of the catalogue live there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from api.deps import SessionDep, known_query_parameters
from api.schemas import ErrorPublic, ValidationErrorPublic
from retail import catalog_queries
from retail.schemas import Page, ProductPublic, ProductSummary

router = APIRouter(
    prefix="/v1/products", tags=["products"], dependencies=[Depends(known_query_parameters)]
)


def _reject_nul(value: str | None) -> str | None:
    # PostgreSQL refuses NUL characters in text; refused here, they are a 422 rather than a 500.
    if value is not None and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


NoNul = AfterValidator(_reject_nul)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorPublic},
    status.HTTP_422_UNPROCESSABLE_CONTENT: {"model": ValidationErrorPublic},
}


@router.get(
    "",
    operation_id="listProducts",
    response_model=Page[ProductSummary],
    responses=_ERRORS,
)
def list_products(
    session: SessionDep,
    category_id: Annotated[
        str | None,
        Query(min_length=1, description="A category id; categories below it match too."),
        NoNul,
    ] = None,
    brand_id: Annotated[str | None, Query(min_length=1), NoNul] = None,
    min_price: Annotated[
        float | None,
        Query(ge=0, allow_inf_nan=False, description="Inclusive; a variant costs this or more."),
    ] = None,
    max_price: Annotated[
        float | None,
        Query(ge=0, allow_inf_nan=False, description="Inclusive; a variant costs this or less."),
    ] = None,
    in_stock: Annotated[
        bool | None,
        Query(description="true: some variant is in stock; false: none is; absent: either."),
    ] = None,
    store_id: Annotated[
        str | None,
        Query(min_length=1, description="A location id; stock then means stock there."),
        NoNul,
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words each in the name or the category name, any case (a word of one "
            "or two characters must begin a word of the name); or a product's or SKU's id.",
        ),
        NoNul,
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[ProductSummary]:
    """List products matching every given filter, ordered by name, one page at a time."""
    if min_price is not None and max_price is not None and min_price > max_price:
        # Reported like any other bad parameter, so clients handle one shape of 422.
        msg = f"min_price ({min_price:.12g}) must not exceed max_price ({max_price:.12g})"
        raise RequestValidationError(
            [{"type": "price_range", "loc": ("query", "min_price"), "msg": msg, "input": min_price}]
        )
    items, total = catalog_queries.list_products(
        session,
        category_id=category_id,
        brand_id=brand_id,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        store_id=store_id,
        q=q,
        limit=limit,
        offset=offset,
    )
    return Page[ProductSummary].of(items, total=total, limit=limit, offset=offset)


@router.get(
    "/{product_id}",
    operation_id="getProduct",
    response_model=ProductPublic,
    responses=_ERRORS,
)
def get_product(
    session: SessionDep,
    product_id: Annotated[str, Path(), NoNul],
) -> ProductPublic:
    """One product with its details, variants, stock per location and a summary of its reviews."""
    return catalog_queries.get_product(session, product_id)
