"""Clienteling tools for associates: a loyalty customer's profile and recommendations for them.

Consent rules what may be said: without the customer's marketing consent, nothing derived from
their purchase history is shown (no order count, spend or favourite categories) and no
recommendations are made from it. A profile never holds contact details: names and e-mail
addresses appear only in a search's matches, so the associate can tell which customer is in
front of them; street addresses and payment details never appear.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from retail.store.models import Category, Customer, Location, Order, OrderItem, Product
from tools.base import Role, ToolContext, not_found, policy_denied, tool
from tools.recommendations import Recommendations, recommend_for_customer

CLIENTELING_ROLES: list[Role] = ["associate"]
FAVOURITES = 3
# A search asks for a few letters at least: one letter would list half the customer base.
MIN_SEARCH_CHARS = 2
WITHHELD = (
    "The customer has not given marketing consent: order history, spend and favourite "
    "categories are withheld."
)


class CustomerProfile(BaseModel):
    """What an associate may know about a customer; history only with marketing consent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    loyalty_tier: str | None = Field(description="member, silver or gold; null if not enrolled.")
    home_store_id: str | None
    home_store_name: str | None
    member_since: dt.date | None
    marketing_consent: bool
    order_count: int | None = Field(description="Orders not cancelled; null without consent.")
    total_spend: float | None = Field(description="Spent on those orders; null without consent.")
    last_order_on: dt.date | None = Field(description="Latest order's date; null without consent.")
    favourite_categories: list[str] | None = Field(
        description="Categories bought most (by units), most first: the top three and any "
        "tied with the third; null without consent."
    )
    withheld: str | None = Field(description="What was left out and why, if anything.")


class CustomerMatch(BaseModel):
    """A customer a search found: enough to tell them apart, then look up their profile."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    name: str
    email: str | None
    loyalty_tier: str | None
    home_store_id: str | None


class CustomerSearch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    total: int = Field(description="How many customers match, across all pages.")
    customers: list[CustomerMatch] = Field(description="The first matches, by name then id.")


@tool(roles=CLIENTELING_ROLES)
def find_customers(
    ctx: ToolContext,
    *,
    query: Annotated[
        str,
        Field(
            min_length=MIN_SEARCH_CHARS,
            max_length=200,
            description="Part of a name, an e-mail address or a customer id, any case.",
        ),
    ],
    limit: Annotated[int, Field(ge=1, le=50, description="How many matches.")] = 10,
) -> CustomerSearch:
    """Customers whose id, full name or e-mail address contains the query (any case), for an
    associate looking up the customer they serve: "Olivia Ito", "ito", "olivia.ito@"."""
    text = " ".join(query.split())
    full_name = Customer.first_name + " " + Customer.last_name
    found = or_(
        *(
            column.icontains(text, autoescape=True)
            for column in (Customer.id, full_name, Customer.email)
        )
    )
    with Session(ctx.engine) as session:
        total = session.scalar(select(func.count()).select_from(Customer).where(found)) or 0
        rows = session.execute(
            select(Customer)
            .where(found)
            .order_by(Customer.last_name, Customer.first_name, Customer.id)
            .limit(limit)
        ).scalars()
        customers = [
            CustomerMatch(
                customer_id=c.id,
                name=f"{c.first_name} {c.last_name}",
                email=c.email,
                loyalty_tier=c.loyalty_tier,
                home_store_id=c.home_store_id,
            )
            for c in rows
        ]
    return CustomerSearch(query=text, total=total, customers=customers)


def _customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise not_found(f"No customer with id {customer_id!r}.")
    return customer


@tool(roles=CLIENTELING_ROLES)
def customer_profile(
    ctx: ToolContext,
    *,
    customer_id: Annotated[str, Field(min_length=1, description="The customer's id.")],
) -> CustomerProfile:
    """A loyalty customer's profile for clienteling: tier, home store, and (only with their
    marketing consent) order count, spend and favourite categories. No contact details."""
    with Session(ctx.engine) as session:
        customer = _customer(session, customer_id)
        home = session.get(Location, customer.home_store_id) if customer.home_store_id else None
        profile: dict[str, Any] = {
            "customer_id": customer.id,
            "loyalty_tier": customer.loyalty_tier,
            "home_store_id": customer.home_store_id,
            "home_store_name": home.name if home else None,
            "member_since": customer.created_at.date() if customer.created_at else None,
            "marketing_consent": customer.marketing_consent,
        }
        if not customer.marketing_consent:
            return CustomerProfile(
                **profile,
                order_count=None,
                total_spend=None,
                last_order_on=None,
                favourite_categories=None,
                withheld=WITHHELD,
            )
        kept = Order.status != "cancelled"
        count, spend, last = session.execute(
            select(
                func.count(func.distinct(Order.id)),
                func.coalesce(func.sum(OrderItem.price * OrderItem.quantity), 0),
                func.max(Order.created_at),
            )
            .select_from(Order)
            .outerjoin(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.customer_id == customer_id, kept)
        ).one()
        units = func.sum(OrderItem.quantity)
        # By name, as the associate reads them: two catalogues' "Headphones" are one favourite.
        bought = session.execute(
            select(Category.name, units)
            .select_from(OrderItem)
            .join(Order, Order.id == OrderItem.order_id)
            .join(Product, Product.id == OrderItem.product_id)
            .join(Category, Category.id == Product.category_id)
            .where(Order.customer_id == customer_id, kept)
            .group_by(Category.name)
            .order_by(units.desc(), Category.name)
        ).all()
    return CustomerProfile(
        **profile,
        order_count=int(count),
        total_spend=round(float(spend), 2),
        last_order_on=last.date() if last else None,
        favourite_categories=_favourites([(name, int(n)) for name, n in bought]),
        withheld=None,
    )


def _favourites(bought: list[tuple[str, int]]) -> list[str]:
    """The categories bought most, from (name, units) most first: the first `FAVOURITES`, and
    every category tied with the last of them, since cutting a tie would drop one the customer
    bought as much of as one shown, for no reason but its name."""
    if len(bought) <= FAVOURITES:
        return [name for name, _ in bought]
    cut = bought[FAVOURITES - 1][1]
    return [name for name, n in bought if n >= cut]


@tool(roles=CLIENTELING_ROLES)
def customer_recommendations(
    ctx: ToolContext,
    *,
    customer_id: Annotated[str, Field(min_length=1, description="The customer's id.")],
    limit: Annotated[int, Field(ge=1, le=20, description="How many products.")] = 5,
) -> Recommendations:
    """Personal recommendations for a customer you are serving, in stock at your store or
    online, each with a reason; refused unless the customer gave marketing consent."""
    with Session(ctx.engine) as session:
        if not _customer(session, customer_id).marketing_consent:
            raise policy_denied(
                f"Customer {customer_id} has not given marketing consent, so no recommendations "
                "may be drawn from their history."
            )
    return recommend_for_customer(ctx, customer_id, ctx.principal.store_id, limit, about=True)
