"""The shopper's order tools: read their own orders, and cancel, modify, return or exchange them
under the store's customer-service policy (the tau2-bench retail policy).

The writes make exactly the state changes tau2-bench's own retail tools make, so an evaluation
that compares the database after a conversation with the expected one scores an Aisle agent as
tau2 scores its own. What tau2 records on an order beyond our columns lives in `orders.details`
under tau2's field names (`cancel_reason`, `return_items`, `return_payment_method_id`,
`exchange_items`, `exchange_new_items`, `exchange_payment_method_id`,
`exchange_price_difference`). tau2's status "pending (item modified)" is not one of our
`ORDER_STATUSES`: such an order keeps status `pending` with `details["items_modified"]` set, and
`tau2_status` names it as tau2 does (the reads show that name).

Every write first checks everything the policy requires, then asks the person to confirm the
exact change (`require_confirmation`, bound to the tool's arguments), and only then writes, in the
same transaction as the checks, so what was checked is what is changed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from retail.store.db import begin_writing
from retail.store.models import (
    ORDER_STATUSES,
    Address,
    Customer,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Variant,
)
from retail.world.policies import (
    FREE_RETURN_REASONS,
    ReturnReason,
    return_label_fee,
    return_terms,
)
from tools.base import (
    ToolContext,
    invalid,
    not_found,
    policy_denied,
    require_confirmation,
    tool,
)

ITEMS_MODIFIED = "pending (item modified)"
STATUSES = (*ORDER_STATUSES, ITEMS_MODIFIED)
# tau2's order fields that record what was asked for; kept in `orders.details`.
RECORDED_FIELDS = (
    "cancel_reason",
    "return_items",
    "return_payment_method_id",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
)

# The fields of an address, as the order's and the shopper's own address tools take them.
Street = Annotated[str, Field(min_length=1, description="Street line, e.g. '123 Main St'.")]
SecondLine = Annotated[str, Field(description="Second line, e.g. 'Apt 1', or ''.")]
City = Annotated[str, Field(min_length=1, description="City.")]
State = Annotated[str, Field(description="State, e.g. 'CA'.")]
Country = Annotated[str, Field(min_length=1, description="Country, e.g. 'USA'.")]
Zip = Annotated[str, Field(min_length=1, description="Zip code, e.g. '12345'.")]
OrderId = Annotated[
    str, Field(description="The order id, such as '#W0000000' (with the '#').", min_length=1)
]
PaymentMethodId = Annotated[
    str,
    Field(
        description="One of your payment method ids, such as 'gift_card_0000000' or "
        "'credit_card_0000000' (order_details shows the ones used on an order).",
        min_length=1,
    ),
]
ItemIds = Annotated[
    list[str],
    Field(
        description="Item ids of the order's items, such as '1008292230'; an item the order "
        "holds twice may be named twice. Name every item in one call.",
        min_length=1,
    ),
]
NewItemIds = Annotated[
    list[str],
    Field(
        description="For each item id at the same position, the item id of the available "
        "option of the same product it becomes.",
        min_length=1,
    ),
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderSummary(_Out):
    """One of the shopper's orders, in brief."""

    order_id: str
    status: str = Field(description="One of: " + ", ".join(STATUSES) + ".")
    created_at: dt.datetime | None = Field(description="When it was placed, if known.")
    item_count: int
    total: float = Field(description="Sum of the items' prices.")
    product_names: list[str] = Field(description="Names of the products ordered, once each.")


class MyOrders(_Out):
    orders: list[OrderSummary] = Field(description="Newest first.")
    total: int = Field(description="Number of your orders matching the filter, listed or not.")


class OrderItemPublic(_Out):
    item_id: str = Field(description="The item (variant) id: what return and exchange name.")
    product_id: str
    name: str
    options: dict[str, Any]
    price: float


class PaymentPublic(_Out):
    transaction_type: str = Field(description="payment or refund.")
    amount: float
    payment_method_id: str
    method: str = Field(
        description="The payment method as the shopper names it ('your Visa credit card ending "
        "1234', 'your PayPal account', 'your gift card (balance $40.00)'): what an answer says, "
        "never the id."
    )


class FulfillmentPublic(_Out):
    tracking_ids: list[str]
    item_ids: list[str]


class OrderDetails(_Out):
    """An order of the shopper's, in full except the street address."""

    order_id: str
    status: str = Field(description="One of: " + ", ".join(STATUSES) + ".")
    created_at: dt.datetime | None
    ship_to_city: str | None
    ship_to_state: str | None
    items: list[OrderItemPublic]
    total: float = Field(description="Sum of the items' prices.")
    payments: list[PaymentPublic] = Field(description="Payment history, oldest first.")
    fulfillments: list[FulfillmentPublic] = Field(description="Shipments with tracking ids.")
    cancel_reason: str | None = None
    return_items: list[str] | None = Field(default=None, description="Item ids to return.")
    return_payment_method_id: str | None = None
    exchange_items: list[str] | None = Field(default=None, description="Item ids exchanged.")
    exchange_new_items: list[str] | None = Field(default=None, description="Their new item ids.")
    exchange_payment_method_id: str | None = None
    exchange_price_difference: float | None = Field(
        default=None, description="New items' price less old items' (negative: a refund)."
    )
    return_terms: str | None = Field(
        default=None,
        description="For a delivered order: how long the shopper has to return it and what a "
        "return by mail costs them, under the store policy.",
    )


class OrderUpdate(_Out):
    """What a confirmed write changed, and the order after it."""

    order_id: str
    changes: list[str] = Field(description="What was changed, one sentence each.")
    transactions: list[PaymentPublic] = Field(
        description="Payments and refunds this change added to the order's history."
    )
    gift_card_balances: dict[str, float] = Field(
        description="The new balance of each gift card this change credited or debited."
    )
    order: OrderDetails


def tau2_status(order: Order) -> str:
    """The order's status as tau2 names it (`pending (item modified)` included)."""
    if order.status == "pending" and order.details.get("items_modified"):
        return ITEMS_MODIFIED
    return order.status


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _total(order: Order) -> float:
    return round(sum(item.price * item.quantity for item in order.items), 2)


def _summary(order: Order) -> OrderSummary:
    return OrderSummary(
        order_id=order.id,
        status=tau2_status(order),
        created_at=order.created_at,
        item_count=sum(item.quantity for item in order.items),
        total=_total(order),
        product_names=list(dict.fromkeys(item.name for item in order.items)),
    )


def _details(order: Order) -> OrderDetails:
    recorded = {name: order.details.get(name) for name in RECORDED_FIELDS}
    terms = None
    if order.status == "delivered" and (session := Session.object_session(order)) is not None:
        customer = session.get(Customer, order.customer_id)
        terms = return_terms(customer.loyalty_tier if customer else None)
    return OrderDetails(
        return_terms=terms,
        order_id=order.id,
        status=tau2_status(order),
        created_at=order.created_at,
        ship_to_city=order.shipping_address.get("city"),
        ship_to_state=order.shipping_address.get("state") or None,
        items=[
            OrderItemPublic(
                item_id=item.variant_id,
                product_id=item.product_id,
                name=item.name,
                options=dict(item.options),
                price=item.price,
            )
            for item in order.items
        ],
        total=_total(order),
        payments=_payments(order, order.payments),
        fulfillments=[
            FulfillmentPublic(
                tracking_ids=[str(t) for t in f.tracking_ids],
                item_ids=[str(i) for i in f.variant_ids],
            )
            for f in order.fulfillments
        ],
        **recorded,
    )


def _payments(order: Order, payments: Sequence[Payment]) -> list[PaymentPublic]:
    """The payments, each with its method in words (the customer's methods read once)."""
    session = Session.object_session(order)
    ids = {p.payment_method_id for p in payments}
    methods = (
        {
            m.id: m
            for m in session.scalars(
                select(PaymentMethod).where(
                    PaymentMethod.id.in_(ids), PaymentMethod.customer_id == order.customer_id
                )
            )
        }
        if session is not None and ids
        else {}
    )
    return [
        PaymentPublic(
            transaction_type=p.transaction_type,
            amount=p.amount,
            payment_method_id=p.payment_method_id,
            method=payment_method_words(methods[p.payment_method_id])
            if p.payment_method_id in methods
            else "a payment method no longer on your account",
        )
        for p in payments
    ]


def _find_order(session: Session, ctx: ToolContext, order_id: str, *, lock: bool = False) -> Order:
    """The order, if the principal may see it: a shopper sees only their own, and another
    customer's order is as absent as one that does not exist."""
    if lock:
        # A no-op UPDATE takes the order's row lock on PostgreSQL and the write lock on SQLite
        # before anything is read: two confirmations of one change cannot both pass the checks.
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(status=Order.status)
            .execution_options(synchronize_session=False)
        )
    order = session.get(Order, order_id)
    owner = ctx.principal.customer_id
    if order is None or (
        (owner is not None or ctx.principal.role != "admin") and order.customer_id != owner
    ):
        raise not_found(f"You have no order {order_id}.")
    return order


def _require_status(order: Order, allowed: Sequence[str], action: str) -> None:
    status = tau2_status(order)
    if status not in allowed:
        raise policy_denied(
            f"Order {order.id} is {status}; only a {' or '.join(allowed)} order can {action}."
        )


def _options_text(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in options.items())


def _item_text(name: str, options: Mapping[str, Any], price: float) -> str:
    """An item as the shopper knows it: its name, options and price (the id is the
    arguments', not a thing a person reads)."""
    return f"{name} ({_options_text(options)}, {_money(price)})"


def _pick_items(order: Order, item_ids: list[str]) -> list[OrderItem]:
    """The order's items that `item_ids` name, in that order; an id named twice takes two copies."""
    held = Counter(item.variant_id for item in order.items)
    for item_id, wanted in Counter(item_ids).items():
        if wanted > held[item_id]:
            if held[item_id] == 0:
                raise invalid(f"Item {item_id} is not in order {order.id}.")
            raise invalid(
                f"Order {order.id} holds item {item_id} {held[item_id]} time(s), not {wanted}."
            )
    copies: dict[str, list[OrderItem]] = {}
    for item in order.items:
        copies.setdefault(item.variant_id, []).append(item)
    return [copies[item_id].pop(0) for item_id in item_ids]


def _replacements(
    session: Session, items: list[OrderItem], new_item_ids: list[str]
) -> list[Variant]:
    """The variant each item becomes: another available option of the same product."""
    if len(new_item_ids) != len(items):
        raise invalid(
            f"Give one new item id for each item id ({len(items)} item ids, "
            f"{len(new_item_ids)} new item ids)."
        )
    found = {
        v.id: v for v in session.scalars(select(Variant).where(Variant.id.in_(set(new_item_ids))))
    }
    variants = []
    for item, new_id in zip(items, new_item_ids, strict=True):
        variant = found.get(new_id)
        if variant is None:
            raise invalid(f"There is no item {new_id}.")
        if variant.product_id != item.product_id:
            raise policy_denied(
                f"Item {new_id} is an option of {variant.product.name}, not of {item.name}: an "
                "item can only be changed to another option of the same product."
            )
        if new_id == item.variant_id:
            raise policy_denied(
                f"Item {new_id} is the option already ordered; choose a different option."
            )
        if not variant.available:
            raise policy_denied(
                f"Item {new_id} ({_options_text(variant.options)}) is not available."
            )
        variants.append(variant)
    return variants


def _changes_text(items: list[OrderItem], variants: list[Variant]) -> str:
    return "; ".join(
        f"{_item_text(i.name, i.options, i.price)} to {_item_text(i.name, v.options, v.price)}"
        for i, v in zip(items, variants, strict=True)
    )


def _price_difference(items: list[OrderItem], variants: list[Variant]) -> float:
    return round(sum(v.price - i.price for i, v in zip(items, variants, strict=True)), 2)


# Card brands as their owners write them; any other brand is title-cased.
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}


def payment_method_words(
    method: PaymentMethod | PaymentMethodPublic, *, balance: bool = True
) -> str:
    """A payment method as a person names it: "your Visa credit card ending 1234", "your PayPal
    account", "your gift card (balance $40.00)". The one place a method is put in words: an id
    such as credit_card_1234567 is the tools' handle, never something a shopper reads.
    `balance=False` leaves a gift card's balance out where it is about to change."""
    kind = method.kind
    if kind == "gift_card":
        held = method.balance if balance else None
        return "your gift card" + (f" (balance {_money(held)})" if held is not None else "")
    if kind == "credit_card":
        brand = str(method.brand or "").strip()
        named = _BRANDS.get(brand.lower(), brand.title()) if brand else ""
        ending = f" ending {method.last_four}" if method.last_four else ""
        return f"your {named + ' ' if named else ''}credit card{ending}"
    if kind == "paypal":
        return "your PayPal account"
    return f"your {kind.replace('_', ' ')}"


def _method_text(method: PaymentMethod) -> str:
    """A method in a change's words: a gift card's balance is about to move, so it is left out
    (the change's result states the new balance)."""
    return payment_method_words(method, balance=False)


def _refund_text(amount: float, method: PaymentMethod) -> str:
    when = "immediately" if method.kind == "gift_card" else "within 5 to 7 business days"
    return f"{_money(amount)} refunded to {_method_text(method)} {when}"


def _return_refund_text(
    amount: float, label_fee: float, method: PaymentMethod, reason: str | None
) -> str:
    """The refund a return by mail brings: the items' price less the return label's fee, when
    the store policy charges one (`retail.world.policies.return_label_fee`)."""
    if label_fee <= 0:
        free = (
            f" (returned as {reason}: the label is free)" if reason in FREE_RETURN_REASONS else ""
        )
        return f"a refund of {_money(amount)} to {_method_text(method)}{free}"
    net = max(round(amount - label_fee, 2), 0.0)
    return (
        f"a refund of {_money(net)} to {_method_text(method)} ({_money(amount)} for the items "
        f"less the {_money(label_fee)} return-label fee; defective or wrong items ship back free)"
    )


def _difference_text(difference: float, method: PaymentMethod) -> str:
    if difference > 0:
        return f"a price difference of {_money(difference)} paid with {_method_text(method)}"
    if difference < 0:
        return f"a price difference of {_money(-difference)} refunded to {_method_text(method)}"
    return "no price difference"


def _require_cover(method: PaymentMethod, amount: float) -> None:
    balance = method.balance or 0.0
    if method.kind == "gift_card" and balance < amount:
        raise policy_denied(
            f"Your gift card has {_money(balance)}, less than the {_money(amount)} to pay."
        )


@dataclass(slots=True)
class _Swap:
    """Items of an order to be replaced by other variants, and the price difference settled."""

    items: list[OrderItem]
    variants: list[Variant]
    method: PaymentMethod
    difference: float
    changed: str = field(init=False)
    settled: str = field(init=False)

    def __post_init__(self) -> None:
        self.changed = _changes_text(self.items, self.variants)
        self.settled = _difference_text(self.difference, self.method)


def _priced_swap(
    write: _OrderWrite, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> _Swap:
    """Check an item change or exchange (the items, their replacements, a method that covers
    the difference) and price it: what modify and exchange share before they differ."""
    items = _pick_items(write.order, item_ids)
    variants = _replacements(write.session, items, new_item_ids)
    method = write.method(payment_method_id)
    difference = _price_difference(items, variants)
    _require_cover(method, difference)
    return _Swap(items, variants, method, difference)


class _OrderWrite:
    """One write to one order inside its transaction: the checks read through it, and nothing it
    changes is committed unless the person confirmed this exact call."""

    def __init__(
        self,
        ctx: ToolContext,
        tool_name: str,
        arguments: dict[str, Any],
        session: Session,
        order: Order,
    ) -> None:
        self.ctx = ctx
        self.tool_name = tool_name
        self.arguments = arguments
        self.session = session
        self.order = order
        self.confirmed = False
        self.added: list[Payment] = []
        self.balances: dict[str, float] = {}
        self.cards: dict[str, PaymentMethod] = {}

    def method(self, payment_method_id: str) -> PaymentMethod:
        """One of the order's customer's payment methods, locked: a gift card's balance is read
        and changed in this transaction only."""
        method = self.session.scalars(
            select(PaymentMethod)
            .where(
                PaymentMethod.id == payment_method_id,
                PaymentMethod.customer_id == self.order.customer_id,
            )
            .with_for_update()
        ).one_or_none()
        if method is None:
            raise policy_denied("That payment method is not one of yours.")
        return method

    def confirm(self, summary: str) -> None:
        require_confirmation(
            self.ctx, self.tool_name, self.arguments, summary, session=self.session
        )
        self.confirmed = True

    def transaction(
        self, kind: Literal["payment", "refund"], amount: float, method_id: str
    ) -> None:
        position = len(self.order.payments)
        payment = Payment(
            id=f"{self.order.id}:pay:{position}",
            order_id=self.order.id,
            position=position,
            transaction_type=kind,
            amount=round(amount, 2),
            payment_method_id=method_id,
        )
        self.order.payments.append(payment)
        self.added.append(payment)

    def credit_gift_card(self, method: PaymentMethod, amount: float) -> None:
        """Add `amount` (negative: take it) to a gift card's balance; other methods settle
        outside the store."""
        if method.kind == "gift_card":
            method.balance = round((method.balance or 0.0) + amount, 2)
            self.balances[method.id] = method.balance
            self.cards[method.id] = method

    def result(self, *changes: str) -> OrderUpdate:
        self.session.flush()
        # A gift card's new balance, said once the change has moved it.
        balances = [
            f"The balance of {_method_text(card)} is now {_money(card.balance or 0.0)}."
            for card in self.cards.values()
        ]
        return OrderUpdate(
            order_id=self.order.id,
            changes=[*changes, *balances],
            transactions=_payments(self.order, self.added),
            gift_card_balances=dict(self.balances),
            order=_details(self.order),
        )


@contextmanager
def _order_write(
    ctx: ToolContext, tool_name: str, arguments: dict[str, Any]
) -> Iterator[_OrderWrite]:
    with Session(ctx.engine, expire_on_commit=False) as session, session.begin():
        # The write lock first (SQLite): two confirmations of one write racing from two
        # processes run one after the other, the second seeing what the first did.
        begin_writing(session)
        order = _find_order(session, ctx, arguments["order_id"], lock=True)
        write = _OrderWrite(ctx, tool_name, arguments, session, order)
        yield write
        if not write.confirmed:
            # Leaving the block by an exception rolls the transaction back.
            raise RuntimeError(f"{tool_name} tried to write without the person's confirmation")


@tool(roles=["shopper"])
def my_orders(
    ctx: ToolContext,
    *,
    status: Annotated[
        str | None,
        Field(description="Only orders with this status: " + ", ".join(STATUSES) + "."),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="At most this many orders.")] = 10,
) -> MyOrders:
    """List your own orders, newest first, with status, items and total; use it to find the
    order a shopper means before looking at or changing it."""
    customer_id = ctx.principal.customer_id
    if customer_id is None:
        raise invalid("my_orders lists a shopper's own orders; act as a shopper to use it.")
    if status is not None and status not in STATUSES:
        raise invalid(f"Unknown order status {status!r}; use one of {', '.join(STATUSES)}.")
    query = select(Order).where(Order.customer_id == customer_id)
    if status is not None:
        query = query.where(Order.status == ("pending" if status == ITEMS_MODIFIED else status))
    with Session(ctx.engine) as session:
        orders = session.scalars(
            query.options(selectinload(Order.items)).order_by(
                Order.created_at.desc().nulls_last(), Order.id
            )
        ).all()
        # `pending` and `pending (item modified)` share a column value; one customer's orders
        # are few, so telling them apart here costs nothing.
        matching = [o for o in orders if status is None or tau2_status(o) == status]
        return MyOrders(orders=[_summary(o) for o in matching[:limit]], total=len(matching))


@tool(roles=["shopper"])
def order_details(ctx: ToolContext, *, order_id: OrderId) -> OrderDetails:
    """Show one of your orders: status, items with their options and prices, payments and
    refunds, shipment tracking, and the city it ships to."""
    with Session(ctx.engine) as session:
        return _details(_find_order(session, ctx, order_id))


@tool(roles=["shopper"], writes=True)
def cancel_order(
    ctx: ToolContext,
    *,
    order_id: OrderId,
    reason: Annotated[
        Literal["no longer needed", "ordered by mistake"],
        Field(description="Why the shopper cancels; no other reason is accepted."),
    ],
) -> OrderUpdate:
    """Cancel a pending order and refund its payments (a gift card at once, other methods in
    5 to 7 business days); asks the shopper to confirm first."""
    arguments = {"order_id": order_id, "reason": reason}
    with _order_write(ctx, "cancel_order", arguments) as write:
        order = write.order
        _require_status(order, ["pending"], "be cancelled")
        refunds = [(p.amount, write.method(p.payment_method_id)) for p in order.payments]
        refunded = "; ".join(_refund_text(amount, method) for amount, method in refunds)
        write.confirm(f"cancel order {order_id} (reason: {reason}), with {refunded}.")
        for amount, method in refunds:
            write.transaction("refund", amount, method.id)
            write.credit_gift_card(method, amount)
        order.status = "cancelled"
        order.details = {**order.details, "cancel_reason": reason}
        return write.result(f"Order {order_id} is cancelled ({reason}); {refunded}.")


@tool(roles=["shopper"], writes=True)
def modify_order_address(
    ctx: ToolContext,
    *,
    order_id: OrderId,
    address1: Street,
    address2: SecondLine = "",
    city: City,
    state: State,
    country: Country,
    zip: Zip,
) -> OrderUpdate:
    """Change the shipping address of a pending order; asks the shopper to confirm first."""
    address = {
        "address1": address1,
        "address2": address2,
        "city": city,
        "country": country,
        "state": state,
        "zip": zip,
    }
    with _order_write(ctx, "modify_order_address", address | {"order_id": order_id}) as write:
        # As tau2's tool: an order whose items were modified may still get a new address.
        _require_status(write.order, ["pending", ITEMS_MODIFIED], "have its address changed")
        lines = ", ".join(part for part in (address1, address2, city) if part)
        write.confirm(f"ship order {order_id} to {lines}, {state} {zip}, {country}.")
        write.order.shipping_address = address
        return write.result(f"Order {order_id} now ships to the new address in {city}, {state}.")


@tool(roles=["shopper"], writes=True)
def modify_order_payment(
    ctx: ToolContext, *, order_id: OrderId, payment_method_id: PaymentMethodId
) -> OrderUpdate:
    """Pay a pending order with another of your payment methods (a gift card must cover the
    whole total) and refund the original one; asks the shopper to confirm first."""
    arguments = {"order_id": order_id, "payment_method_id": payment_method_id}
    with _order_write(ctx, "modify_order_payment", arguments) as write:
        order = write.order
        _require_status(order, ["pending", ITEMS_MODIFIED], "change its payment method")
        new = write.method(payment_method_id)
        if len(order.payments) != 1 or order.payments[0].transaction_type != "payment":
            raise policy_denied(
                f"Order {order_id} has more than one payment on record, so its payment method "
                "cannot be changed."
            )
        original = order.payments[0]
        if original.payment_method_id == payment_method_id:
            raise policy_denied(
                f"Order {order_id} is already paid with {_method_text(new)}; choose another "
                "payment method."
            )
        amount = original.amount
        _require_cover(new, amount)
        old = write.method(original.payment_method_id)
        refunded = _refund_text(amount, old)
        write.confirm(
            f"pay the {_money(amount)} of order {order_id} with {_method_text(new)} instead of "
            f"{_method_text(old)}, with {refunded}."
        )
        write.transaction("payment", amount, new.id)
        write.transaction("refund", amount, old.id)
        write.credit_gift_card(new, -amount)
        write.credit_gift_card(old, amount)
        return write.result(f"Order {order_id} is now paid with {_method_text(new)}; {refunded}.")


@tool(roles=["shopper"], writes=True)
def modify_order_items(
    ctx: ToolContext,
    *,
    order_id: OrderId,
    item_ids: ItemIds,
    new_item_ids: NewItemIds,
    payment_method_id: Annotated[
        str,
        Field(
            min_length=1,
            description="Your payment method that pays or receives the price difference.",
        ),
    ],
) -> OrderUpdate:
    """Change items of a pending order to other available options of the same products, paying
    or refunding the price difference; allowed once per order, after which it can no longer be
    cancelled or have its items changed; asks the shopper to confirm first."""
    arguments = {
        "order_id": order_id,
        "item_ids": item_ids,
        "new_item_ids": new_item_ids,
        "payment_method_id": payment_method_id,
    }
    with _order_write(ctx, "modify_order_items", arguments) as write:
        order = write.order
        _require_status(order, ["pending"], "have its items changed")
        swap = _priced_swap(write, item_ids, new_item_ids, payment_method_id)
        write.confirm(
            f"in order {order_id}, change {swap.changed}; {swap.settled}. "
            f"After this, order {order_id} can no longer be cancelled or have its items changed."
        )
        # tau2 records the difference even when it is zero (as a refund of $0.00).
        write.transaction(
            "payment" if swap.difference > 0 else "refund", abs(swap.difference), swap.method.id
        )
        write.credit_gift_card(swap.method, -swap.difference)
        for item, variant in zip(swap.items, swap.variants, strict=True):
            item.variant_id = variant.id
            item.price = variant.price
            item.options = dict(variant.options)
        order.details = {**order.details, "items_modified": True}
        return write.result(f"In order {order_id}, changed {swap.changed}; {swap.settled}.")


@tool(roles=["shopper"], writes=True)
def return_order_items(
    ctx: ToolContext,
    *,
    order_id: OrderId,
    item_ids: ItemIds,
    payment_method_id: Annotated[
        str,
        Field(
            min_length=1,
            description="Where the refund goes: the order's original payment method or one of "
            "your gift cards.",
        ),
    ],
    reason: Annotated[
        ReturnReason | None,
        Field(
            description="Why the items go back, when the shopper says: defective or wrong items "
            "ship back free (no return-label fee)."
        ),
    ] = None,
) -> OrderUpdate:
    """Request the return of items of a delivered order, refunded to the original payment
    method or a gift card; the shopper then gets an e-mail on how to send them back; asks the
    shopper to confirm first, stating the return window and any return-label fee."""
    arguments = {"order_id": order_id, "item_ids": item_ids, "payment_method_id": payment_method_id}
    if reason is not None:
        arguments["reason"] = reason
    with _order_write(ctx, "return_order_items", arguments) as write:
        order = write.order
        _require_status(order, ["delivered"], "be returned")
        method = write.method(payment_method_id)
        original = order.payments[0].payment_method_id if order.payments else None
        if method.kind != "gift_card" and payment_method_id != original:
            paid = _payments(order, order.payments[:1])
            raise policy_denied(
                "A refund goes to the order's original payment method"
                + (f" ({paid[0].method})" if paid else "")
                + " or to one of your gift cards."
            )
        items = _pick_items(order, item_ids)
        listed = "; ".join(_item_text(i.name, i.options, i.price) for i in items)
        amount = round(sum(i.price for i in items), 2)
        customer = write.session.get(Customer, order.customer_id)
        tier = customer.loyalty_tier if customer else None
        refund = _return_refund_text(
            amount, return_label_fee(tier, reason or "unwanted"), method, reason
        )
        write.confirm(
            f"request the return of {listed} from order {order_id}, with {refund}. "
            f"{return_terms(tier, label=False)}"
        )
        order.status = "return requested"
        order.details = {
            **order.details,
            "return_items": sorted(item_ids),
            "return_payment_method_id": payment_method_id,
        }
        return write.result(
            f"Return requested for {listed} from order {order_id}, with {refund}; "
            "an e-mail will explain how to send the items back."
        )


@tool(roles=["shopper"], writes=True)
def exchange_order_items(
    ctx: ToolContext,
    *,
    order_id: OrderId,
    item_ids: ItemIds,
    new_item_ids: NewItemIds,
    payment_method_id: Annotated[
        str,
        Field(
            min_length=1,
            description="Your payment method that pays or receives the price difference.",
        ),
    ],
) -> OrderUpdate:
    """Request the exchange of items of a delivered order for other available options of the
    same products, with the price difference paid or refunded; allowed once per order; asks the
    shopper to confirm first."""
    arguments = {
        "order_id": order_id,
        "item_ids": item_ids,
        "new_item_ids": new_item_ids,
        "payment_method_id": payment_method_id,
    }
    with _order_write(ctx, "exchange_order_items", arguments) as write:
        order = write.order
        _require_status(order, ["delivered"], "be exchanged")
        swap = _priced_swap(write, item_ids, new_item_ids, payment_method_id)
        write.confirm(f"in order {order_id}, exchange {swap.changed}; {swap.settled}.")
        # As tau2's tool: the request and its price difference are recorded; no payment yet.
        order.status = "exchange requested"
        order.details = {
            **order.details,
            "exchange_items": sorted(item_ids),
            "exchange_new_items": sorted(new_item_ids),
            "exchange_payment_method_id": payment_method_id,
            "exchange_price_difference": swap.difference,
        }
        return write.result(
            f"Exchange requested in order {order_id}: {swap.changed}; {swap.settled}; "
            "an e-mail will explain how to send the items back."
        )


class PaymentMethodPublic(_Out):
    payment_method_id: str
    kind: str = Field(description="credit_card, paypal or gift_card.")
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = Field(default=None, description="A gift card's balance.")
    description: str = Field(
        default="",
        description="The method as the shopper names it ('your Visa credit card ending 1234'): "
        "what an answer says, never the id.",
    )


class AddressPublic(_Out):
    address1: str
    address2: str
    city: str
    state: str
    country: str
    zip: str


class MyAccount(_Out):
    """What the shop keeps on the shopper: name, e-mail, default address and payment methods."""

    name: str
    email: str | None
    default_address: AddressPublic | None
    payment_methods: list[PaymentMethodPublic]


def _customer_id(ctx: ToolContext, tool_name: str) -> str:
    customer_id = ctx.principal.customer_id
    if customer_id is None:
        raise invalid(f"{tool_name} acts on a shopper's own account; act as a shopper to use it.")
    return customer_id


def _address_public(address: Address) -> AddressPublic:
    return AddressPublic(
        address1=address.address1,
        address2=address.address2 or "",
        city=address.city,
        state=address.state or "",
        country=address.country,
        zip=address.zip,
    )


@tool(roles=["shopper"])
def my_account(ctx: ToolContext) -> MyAccount:
    """What the shop has on file for you: your name, e-mail, default address and payment
    methods (ids, card brand and last four digits, gift card balances), which a payment or
    address change names."""
    customer_id = _customer_id(ctx, "my_account")
    with Session(ctx.engine) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise not_found(f"No customer {customer_id}.")
        address = session.scalars(
            select(Address).where(Address.customer_id == customer_id, Address.is_default)
        ).first()
        methods = session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer_id)
            .order_by(PaymentMethod.id)
        ).all()
        return MyAccount(
            name=f"{customer.first_name} {customer.last_name}".strip(),
            email=customer.email,
            default_address=_address_public(address) if address else None,
            payment_methods=[
                PaymentMethodPublic(
                    payment_method_id=m.id,
                    kind=m.kind,
                    brand=m.brand,
                    last_four=m.last_four,
                    balance=m.balance if m.kind == "gift_card" else None,
                    description=payment_method_words(m),
                )
                for m in methods
            ],
        )


class AccountUpdate(_Out):
    changes: list[str]
    default_address: AddressPublic


@tool(roles=["shopper"], writes=True)
def modify_user_address(
    ctx: ToolContext,
    *,
    address1: Street,
    address2: SecondLine = "",
    city: City,
    state: State,
    country: Country,
    zip: Zip,
) -> AccountUpdate:
    """Change your own default address (orders already placed keep theirs); asks the shopper to
    confirm first."""
    customer_id = _customer_id(ctx, "modify_user_address")
    arguments = {
        "address1": address1,
        "address2": address2,
        "city": city,
        "state": state,
        "country": country,
        "zip": zip,
    }
    lines = ", ".join(part for part in (address1, address2, city) if part)
    with Session(ctx.engine, expire_on_commit=False) as session, session.begin():
        begin_writing(session)
        require_confirmation(
            ctx,
            "modify_user_address",
            arguments,
            f"change your default address to {lines}, {state} {zip}, {country}.",
            session=session,
        )
        address = session.scalars(
            select(Address)
            .where(Address.customer_id == customer_id, Address.is_default)
            .with_for_update()
        ).first()
        if address is None:
            address = Address(id=f"{customer_id}:address", customer_id=customer_id)
            session.add(address)
        address.is_default = True
        address.address1, address.address2, address.city = address1, address2 or None, city
        address.state, address.country, address.zip = state or None, country, zip
        session.flush()
        return AccountUpdate(
            changes=[f"Your default address is now {lines}, {state} {zip}, {country}."],
            default_address=_address_public(address),
        )
