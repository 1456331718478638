"""Order tasks scored as tau2-bench scores them: by the database state the conversation left.

A case's expected writes are replayed through the tools on a fresh copy of the world, as the
shopper (each confirmed, as the dialogue confirms a write), and the customer's orders and payment
methods after the conversation are compared with theirs after the replay. A case expecting no
write expects the state it started from. Anything else that changed among all the orders is
collateral damage, counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from evals.suites import Action, SuiteError
from retail.audit import digest
from retail.store.models import Order, PaymentMethod
from tools.base import Principal, Services, ToolContext, action_digest, invoke_confirmed


def customer_state(engine: Engine, customer_id: str) -> dict[str, Any]:
    """What a write to this customer's orders can change: every order (status, recorded
    details, address, items and payments) and every payment method's balance."""
    return _states(engine, [customer_id]).get(customer_id, _empty())


def _empty() -> dict[str, Any]:
    return {"orders": {}, "payment_methods": {}}


def _states(engine: Engine, customer_ids: list[str] | None) -> dict[str, dict[str, Any]]:
    """Customer states of `customer_ids` (all customers with orders or payment methods: None)."""
    orders = select(Order).options(selectinload(Order.items), selectinload(Order.payments))
    methods = select(PaymentMethod)
    if customer_ids is not None:
        orders = orders.where(Order.customer_id.in_(customer_ids))
        methods = methods.where(PaymentMethod.customer_id.in_(customer_ids))
    states: dict[str, dict[str, Any]] = {}
    with Session(engine) as session:
        for order in session.scalars(orders.order_by(Order.id)):
            states.setdefault(order.customer_id, _empty())["orders"][order.id] = _order(order)
        for method in session.scalars(methods.order_by(PaymentMethod.id)):
            state = states.setdefault(method.customer_id, _empty())
            state["payment_methods"][method.id] = method.balance
    return states


def _order(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "details": dict(order.details),
        "address": dict(order.shipping_address),
        "items": [
            [i.variant_id, round(i.price, 2), i.quantity, dict(i.options)] for i in order.items
        ],
        "payments": [
            [p.transaction_type, round(p.amount, 2), p.payment_method_id] for p in order.payments
        ],
    }


def differences(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between two customer states, one short line per order or payment method."""
    out: list[str] = []
    for kind in ("orders", "payment_methods"):
        mine, theirs = actual.get(kind, {}), expected.get(kind, {})
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                out.append(f"{kind[:-1].replace('_', ' ')} {key}")
    return out


def replay(services: Services, customer_id: str, actions: Iterable[Action]) -> None:
    """Make the expected writes as the customer, each one confirmed; a write the tools refuse
    means the suite is wrong, not the agent."""
    ctx = ToolContext(
        principal=Principal.parse(f"shopper:{customer_id}"),
        services=services,
        agent_name="eval-reference",
    )
    for action in actions:
        outcome = invoke_confirmed(
            ctx, action.tool, action.args, action_digest(action.tool, action.args)
        )
        if not outcome.ok:
            message = outcome.error.message if outcome.error else outcome.status
            raise SuiteError(
                f"The expected action {action.tool} for {customer_id} does not apply: {message}"
            )


def orders_digest(engine: Engine, *, excluding: Iterable[str] = ()) -> str:
    """One digest of every order and payment method outside `excluding` customers."""
    skip = set(excluding)
    states = _states(engine, None)
    return digest({c: states[c] for c in sorted(states) if c not in skip})
