"""The order tools on the tau2 retail data, on SQLite and PostgreSQL: a shopper sees only their own
orders, and each write asks for confirmation, then makes exactly tau2's state change, or nothing.

The shopper is tau2's `olivia_ito_3591` (gift card balance $56.00):
- #W5866402 delivered, paid $3,203.78 with paypal_8049766: espresso machine 6242772310, sneakers
  9727387530;
- #W5353646 processed;
- #W5442520 pending, paid $663.85 with credit_card_9753331;
- #W7941031 pending, paid with credit_card_9753331: wristwatch 1355937109, backpack 5917587651;
- #W3657213 pending, paid $3,570.34 with gift_card_7794233.
`yusuf_garcia_3055` is another customer (order #W2564042, paypal_7503218).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.audit import REDACTED, verify_chain
from retail.importers.common import PreparedImport, write_import
from retail.importers.tau2 import prepare_tau2
from retail.settings import Settings
from retail.store.models import AuditEvent, Customer, Order, OrderItem, PaymentMethod
from tools.base import Principal, Services, ToolContext, ToolOutcome, action_digest, invoke

SHOPPER = "olivia_ito_3591"
GIFT_CARD = "gift_card_7794233"
PAYPAL = "paypal_8049766"
CREDIT_CARD = "credit_card_9753331"
OTHERS_ORDER = "#W2564042"
OTHERS_PAYPAL = "paypal_7503218"


@pytest.fixture(scope="module")
def tau2_rows(shared_data: Path) -> PreparedImport:
    """db.json read and validated once; each test writes it into its own database."""
    return prepare_tau2(shared_data / "tau2_retail")


@pytest.fixture
def services(engine: Engine, tau2_rows: PreparedImport) -> Iterator[Services]:
    write_import(engine, tau2_rows)
    services = Services(engine, Settings(environment="test"))
    yield services
    services.close()


def _ctx(services: Services, who: str = f"shopper:{SHOPPER}") -> ToolContext:
    return ToolContext(principal=Principal.parse(who), services=services)


def _call(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    return invoke(ctx, name, arguments)


def _confirmed(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    """Call, then call again with the confirmation the first call asked for."""
    asked = _call(ctx, name, **arguments)
    assert asked.status == "needs_confirmation", asked.error
    assert asked.error is not None
    ctx.confirmed_action = asked.error.details["digest"]
    return _call(ctx, name, **arguments)


def _state(engine: Engine, order_id: str) -> dict[str, Any]:
    """What an order write may change: the order, its items and payments, the gift cards."""
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        cards = session.execute(
            select(PaymentMethod.id, PaymentMethod.balance).where(
                PaymentMethod.customer_id == order.customer_id,
                PaymentMethod.kind == "gift_card",
            )
        ).all()
        return {
            "status": order.status,
            "details": dict(order.details),
            "address": dict(order.shipping_address),
            "items": [(i.variant_id, i.price, dict(i.options)) for i in order.items],
            "payments": [
                (p.id, p.transaction_type, p.amount, p.payment_method_id) for p in order.payments
            ],
            "gift_cards": dict(cards),
        }


def _events(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_my_orders_lists_only_the_shoppers_own(services: Services) -> None:
    mine = _call(_ctx(services), "my_orders")
    assert mine.ok and mine.output is not None
    ids = {o["order_id"] for o in mine.output["orders"]}
    assert ids == {"#W5866402", "#W5353646", "#W5442520", "#W7941031", "#W3657213"}
    assert mine.output["total"] == 5
    pending = _call(_ctx(services), "my_orders", status="pending", limit=2)
    assert pending.output is not None
    assert pending.output["total"] == 3 and len(pending.output["orders"]) == 2
    assert {o["status"] for o in pending.output["orders"]} == {"pending"}
    unknown = _call(_ctx(services), "my_orders", status="lost")
    assert unknown.status == "invalid"
    # Associates have no order tools: the grant, not the tool, refuses.
    assert _call(_ctx(services, "associate:ann"), "my_orders").status == "forbidden"


def test_order_details_show_items_payments_and_city_but_no_street(services: Services) -> None:
    outcome = _call(_ctx(services), "order_details", order_id="#W5866402")
    assert outcome.ok and outcome.output is not None
    details = outcome.output
    assert details["status"] == "delivered"
    assert [(i["item_id"], i["name"], i["price"]) for i in details["items"]] == [
        ("6242772310", "Espresso Machine", 2996.03),
        ("9727387530", "Sneakers", 207.75),
    ]
    assert details["items"][1]["options"] == {
        "size": "11",
        "color": "black",
        "material": "synthetic",
    }
    # The method in words beside its id: the id is for the tools, the words for the shopper.
    assert details["payments"] == [
        {
            "transaction_type": "payment",
            "amount": 3203.78,
            "payment_method_id": PAYPAL,
            "method": "your PayPal account",
        }
    ]
    assert details["fulfillments"] and details["fulfillments"][0]["tracking_ids"]
    assert (details["ship_to_city"], details["ship_to_state"]) == ("Denver", "CO")
    with Session(services.engine) as session:
        order = session.get(Order, "#W5866402")
        assert order is not None
        street = order.shipping_address["address1"]
    assert street not in str(details)


def test_another_customers_order_is_not_found_for_reads_and_writes(services: Services) -> None:
    ctx = _ctx(services)
    before = _state(services.engine, OTHERS_ORDER)
    absent = _call(ctx, "order_details", order_id="#W0000000")
    others = _call(ctx, "order_details", order_id=OTHERS_ORDER)
    assert absent.status == others.status == "not_found"
    # The message is the same as for an order that does not exist: nothing is revealed.
    assert others.error is not None and absent.error is not None
    assert others.error.message.replace(OTHERS_ORDER, "#W0000000") == absent.error.message
    # Even a confirmation of exactly this call does not reach someone else's order.
    arguments = {"order_id": OTHERS_ORDER, "reason": "no longer needed"}
    ctx.confirmed_action = action_digest("cancel_order", arguments)
    assert _call(ctx, "cancel_order", **arguments).status == "not_found"
    assert _state(services.engine, OTHERS_ORDER) == before
    theirs = _call(_ctx(services, "shopper:yusuf_garcia_3055"), "my_orders")
    assert theirs.output is not None
    assert OTHERS_ORDER in {o["order_id"] for o in theirs.output["orders"]}


def test_cancel_waits_for_confirmation_then_refunds_the_gift_card_at_once(
    services: Services,
) -> None:
    ctx = _ctx(services)
    engine = services.engine
    before = _state(engine, "#W3657213")
    asked = _call(ctx, "cancel_order", order_id="#W3657213", reason="no longer needed")
    assert asked.status == "needs_confirmation" and asked.error is not None
    digest = asked.error.details["digest"]
    assert digest == action_digest(
        "cancel_order", {"order_id": "#W3657213", "reason": "no longer needed"}
    )
    summary = asked.error.details["summary"]
    assert "#W3657213" in summary and "$3,570.34" in summary
    # The gift card in words, never by its id.
    assert "refunded to your gift card" in summary and GIFT_CARD not in summary
    assert _state(engine, "#W3657213") == before

    # A confirmation binds to the exact arguments: another reason or order is not confirmed.
    ctx.confirmed_action = digest
    other_reason = _call(ctx, "cancel_order", order_id="#W3657213", reason="ordered by mistake")
    other_order = _call(ctx, "cancel_order", order_id="#W5442520", reason="no longer needed")
    assert other_reason.status == other_order.status == "needs_confirmation"
    assert _state(engine, "#W3657213") == before
    assert _state(engine, "#W5442520")["status"] == "pending"

    done = _call(ctx, "cancel_order", order_id="#W3657213", reason="no longer needed")
    assert done.ok and done.output is not None
    after = _state(engine, "#W3657213")
    assert after["status"] == "cancelled"
    assert after["details"] == {"cancel_reason": "no longer needed"}
    assert after["payments"] == [
        ("#W3657213:pay:0", "payment", 3570.34, GIFT_CARD),
        ("#W3657213:pay:1", "refund", 3570.34, GIFT_CARD),
    ]
    assert after["gift_cards"] == {GIFT_CARD: 56.0 + 3570.34}
    assert after["items"] == before["items"] and after["address"] == before["address"]
    assert done.output["gift_card_balances"] == {GIFT_CARD: 3626.34}
    assert "The balance of your gift card is now $3,626.34." in done.output["changes"]
    assert done.output["order"]["status"] == "cancelled"
    assert done.output["order"]["cancel_reason"] == "no longer needed"

    again = _call(ctx, "cancel_order", order_id="#W3657213", reason="no longer needed")
    assert again.status == "policy_denied"
    assert _state(engine, "#W3657213") == after


def test_cancel_by_card_records_the_refund_and_leaves_gift_cards_alone(
    services: Services,
) -> None:
    reason = _call(_ctx(services), "cancel_order", order_id="#W5442520", reason="too slow")
    assert reason.status == "invalid"
    done = _confirmed(
        _ctx(services), "cancel_order", order_id="#W5442520", reason="ordered by mistake"
    )
    assert done.ok and done.output is not None
    after = _state(services.engine, "#W5442520")
    assert after["status"] == "cancelled"
    assert after["payments"][1:] == [("#W5442520:pay:1", "refund", 663.85, CREDIT_CARD)]
    assert after["gift_cards"] == {GIFT_CARD: 56.0}
    assert done.output["gift_card_balances"] == {}


def test_concurrent_confirmations_of_one_cancel_refund_once(services: Services) -> None:
    arguments = {"order_id": "#W3657213", "reason": "no longer needed"}
    digest = action_digest("cancel_order", arguments)

    def confirm(_: int) -> str:
        ctx = _ctx(services)
        ctx.confirmed_action = digest
        return invoke(ctx, "cancel_order", arguments).status

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(confirm, range(4)))
    assert statuses == ["ok", "policy_denied", "policy_denied", "policy_denied"]
    after = _state(services.engine, "#W3657213")
    assert [p[1] for p in after["payments"]] == ["payment", "refund"]
    assert after["gift_cards"] == {GIFT_CARD: 3626.34}
    assert verify_chain(services.engine, settings=services.settings).ok


def test_only_a_pending_order_can_be_cancelled(services: Services) -> None:
    for order_id in ("#W5353646", "#W5866402"):  # processed, delivered
        before = _state(services.engine, order_id)
        outcome = _call(
            _ctx(services), "cancel_order", order_id=order_id, reason="no longer needed"
        )
        assert outcome.status == "policy_denied"
        assert _state(services.engine, order_id) == before


def test_modify_items_charges_the_difference_once_and_locks_the_order(services: Services) -> None:
    ctx = _ctx(services)
    engine = services.engine
    before = _state(engine, "#W7941031")
    # Wristwatch $1,985.30 -> $2,009.03 and backpack $212.79 -> $198.00: $8.94 more.
    arguments = {
        "order_id": "#W7941031",
        "item_ids": ["1355937109", "5917587651"],
        "new_item_ids": ["2226219750", "3928046918"],
        "payment_method_id": GIFT_CARD,
    }
    done = _confirmed(ctx, "modify_order_items", **arguments)
    assert done.ok and done.output is not None
    after = _state(engine, "#W7941031")
    assert after["items"] == [
        ("2226219750", 2009.03, {"strap material": "silicone", "dial color": "white"}),
        (
            "3928046918",
            198.0,
            {"color": "black", "size": "large", "material": "nylon", "compartment": "camera"},
        ),
    ]
    assert after["payments"] == [
        *before["payments"],
        ("#W7941031:pay:1", "payment", 8.94, GIFT_CARD),
    ]
    assert after["gift_cards"] == {GIFT_CARD: 47.06}
    # tau2's "pending (item modified)" is not one of our statuses: the flag says it.
    assert after["status"] == "pending" and after["details"] == {"items_modified": True}
    assert done.output["order"]["status"] == "pending (item modified)"
    modified = _call(ctx, "my_orders", status="pending (item modified)")
    assert modified.output is not None
    assert [o["order_id"] for o in modified.output["orders"]] == ["#W7941031"]

    ctx.confirmed_action = None
    assert _call(ctx, "cancel_order", order_id="#W7941031", reason="no longer needed").status == (
        "policy_denied"
    )
    again = dict(arguments, item_ids=["2226219750"], new_item_ids=["9949163720"])
    assert _call(ctx, "modify_order_items", **again).status == "policy_denied"
    assert _state(engine, "#W7941031") == after


def test_modify_items_refuses_what_the_policy_refuses(services: Services) -> None:
    ctx = _ctx(services)
    engine = services.engine
    before = _state(engine, "#W7941031")
    base = {"order_id": "#W7941031", "payment_method_id": CREDIT_CARD}
    refused = {
        # $142.32 more than the gift card's $56.00.
        "policy_denied": [
            dict(
                base,
                item_ids=["1355937109"],
                new_item_ids=["4510078629"],
                payment_method_id=GIFT_CARD,
            ),
            dict(base, item_ids=["1355937109"], new_item_ids=["3928046918"]),  # a backpack
            dict(base, item_ids=["5917587651"], new_item_ids=["8030558068"]),  # unavailable
            dict(base, item_ids=["5917587651"], new_item_ids=["5917587651"]),  # same option
            dict(
                base,
                item_ids=["5917587651"],
                new_item_ids=["3928046918"],
                payment_method_id=OTHERS_PAYPAL,
            ),
        ],
        "invalid": [
            dict(base, item_ids=["6242772310"], new_item_ids=["3709608322"]),  # not in it
            dict(base, item_ids=["5917587651", "5917587651"], new_item_ids=["3928046918"] * 2),
            dict(base, item_ids=["5917587651"], new_item_ids=[]),
            dict(base, item_ids=["5917587651"], new_item_ids=["3928046918", "7251508981"]),
        ],
    }
    for status, calls in refused.items():
        for arguments in calls:
            ctx.confirmed_action = action_digest("modify_order_items", arguments)
            outcome = _call(ctx, "modify_order_items", **arguments)
            assert outcome.status == status, (arguments, outcome.error)
    assert _state(engine, "#W7941031") == before


def test_modify_address_replaces_it_and_the_audit_keeps_no_street(services: Services) -> None:
    ctx = _ctx(services)
    address = {
        "address1": "101 Elm Street",
        "address2": "Apt 4",
        "city": "Boulder",
        "state": "CO",
        "country": "USA",
        "zip": "80301",
    }
    done = _confirmed(ctx, "modify_order_address", order_id="#W5442520", **address)
    assert done.ok and done.output is not None
    after = _state(services.engine, "#W5442520")
    assert after["address"] == address
    assert after["status"] == "pending" and len(after["payments"]) == 1
    assert done.output["order"]["ship_to_city"] == "Boulder"
    events = _events(services.engine)
    assert [e.status for e in events] == ["needs_confirmation", "ok"]
    for event in events:
        assert event.tool_name == "modify_order_address"
        assert event.arguments["address1"] == event.arguments["zip"] == REDACTED
        assert event.arguments["address2"] == REDACTED
        assert event.arguments["order_id"] == "#W5442520"
        assert "Elm" not in str(event.arguments) and "80301" not in str(event.arguments)
    delivered = _call(ctx, "modify_order_address", order_id="#W5866402", **address)
    assert delivered.status == "policy_denied"


def test_modify_payment_moves_the_charge_and_refunds_the_gift_card(services: Services) -> None:
    ctx = _ctx(services)
    engine = services.engine
    short = _call(ctx, "modify_order_payment", order_id="#W5442520", payment_method_id=GIFT_CARD)
    assert short.status == "policy_denied"  # $56.00 does not cover $663.85
    same = _call(ctx, "modify_order_payment", order_id="#W3657213", payment_method_id=GIFT_CARD)
    assert same.status == "policy_denied"
    theirs = _call(
        ctx, "modify_order_payment", order_id="#W3657213", payment_method_id=OTHERS_PAYPAL
    )
    assert theirs.status == "policy_denied"
    assert _state(engine, "#W3657213")["gift_cards"] == {GIFT_CARD: 56.0}

    done = _confirmed(ctx, "modify_order_payment", order_id="#W3657213", payment_method_id=PAYPAL)
    assert done.ok and done.output is not None
    after = _state(engine, "#W3657213")
    assert after["status"] == "pending"
    assert after["payments"] == [
        ("#W3657213:pay:0", "payment", 3570.34, GIFT_CARD),
        ("#W3657213:pay:1", "payment", 3570.34, PAYPAL),
        ("#W3657213:pay:2", "refund", 3570.34, GIFT_CARD),
    ]
    assert after["gift_cards"] == {GIFT_CARD: 3626.34}
    # Two payments on record: tau2 allows no second change.
    ctx.confirmed_action = None
    again = _call(ctx, "modify_order_payment", order_id="#W3657213", payment_method_id=CREDIT_CARD)
    assert again.status == "policy_denied"


def test_return_records_items_and_refund_method(services: Services) -> None:
    ctx = _ctx(services)
    engine = services.engine
    before = _state(engine, "#W5866402")
    pending = _call(
        ctx,
        "return_order_items",
        order_id="#W7941031",
        item_ids=["1355937109"],
        payment_method_id=CREDIT_CARD,
    )
    assert pending.status == "policy_denied"
    not_original = _call(
        ctx,
        "return_order_items",
        order_id="#W5866402",
        item_ids=["9727387530"],
        payment_method_id=CREDIT_CARD,
    )
    assert not_original.status == "policy_denied"
    assert _state(engine, "#W5866402") == before

    done = _confirmed(
        ctx,
        "return_order_items",
        order_id="#W5866402",
        item_ids=["9727387530", "6242772310"],
        payment_method_id=GIFT_CARD,
    )
    assert done.ok and done.output is not None
    after = _state(engine, "#W5866402")
    assert after["status"] == "return requested"
    assert after["details"] == {
        "return_items": ["6242772310", "9727387530"],
        "return_payment_method_id": GIFT_CARD,
    }
    # Nothing is refunded until the items come back: payments and balances are as they were.
    assert after["payments"] == before["payments"]
    assert after["gift_cards"] == before["gift_cards"] and after["items"] == before["items"]
    assert done.output["order"]["return_items"] == ["6242772310", "9727387530"]


@pytest.mark.parametrize(
    ("tier", "reason", "fee", "days"),
    [
        (None, None, 6.95, 30),
        ("member", None, 6.95, 30),
        ("silver", None, 0.0, 45),
        (None, "defective", 0.0, 30),
        ("member", "wrong item", 0.0, 30),
    ],
)
def test_a_return_by_mail_states_the_window_the_label_fee_and_the_refund_net_of_it(
    services: Services, tier: str | None, reason: str | None, fee: float, days: int
) -> None:
    """The Returns policy: "Silver and Gold members get a free prepaid label; for Members and
    guests, $6.95 is deducted from the refund for the label. [...] Defective or wrong items
    always ship back free", within the tier's window. What the shopper is told before the
    return (the order's details), what they say yes to, and what they are told after, state
    the window and the refund they will get."""
    engine = services.engine
    with Session(engine) as session, session.begin():
        session.get_one(Customer, SHOPPER).loyalty_tier = tier
        price = session.scalar(
            select(OrderItem.price).where(
                OrderItem.order_id == "#W5866402", OrderItem.variant_id == "9727387530"
            )
        )
    assert price is not None
    ctx = _ctx(services)
    window = f"Returns are accepted within {days} days of delivery"
    terms = _call(ctx, "order_details", order_id="#W5866402").output
    assert terms is not None and terms["return_terms"].startswith(window)
    assert ("$6.95 is deducted from the refund" in terms["return_terms"]) == (tier != "silver")
    arguments = {"order_id": "#W5866402", "item_ids": ["9727387530"], "payment_method_id": PAYPAL}
    if reason is not None:
        arguments["reason"] = reason
    asked = _call(ctx, "return_order_items", **arguments)
    assert asked.status == "needs_confirmation" and asked.error is not None
    summary = asked.error.details["summary"]
    assert f"a refund of ${price - fee:,.2f} to your PayPal account" in summary
    assert window in summary and ("$6.95 return-label fee" in summary) == (fee > 0)
    # The item by the name the shopper bought it under; no id a person never sees.
    with Session(engine) as session:
        name = session.scalar(
            select(OrderItem.name).where(
                OrderItem.order_id == "#W5866402", OrderItem.variant_id == "9727387530"
            )
        )
    assert name and name in summary and "9727387530" not in summary and PAYPAL not in summary
    done = _confirmed(ctx, "return_order_items", **arguments)
    assert done.ok and done.output is not None
    assert f"a refund of ${price - fee:,.2f} to" in " ".join(done.output["changes"])


def test_exchange_records_new_items_and_the_price_difference(services: Services) -> None:
    ctx = _ctx(services)
    engine = services.engine
    before = _state(engine, "#W5866402")
    base = {"order_id": "#W5866402", "payment_method_id": PAYPAL}
    for arguments in (
        dict(base, item_ids=["9727387530"], new_item_ids=["3709608322"]),  # to an espresso
        dict(base, item_ids=["9727387530"], new_item_ids=["3631875806"]),  # unavailable
        dict(
            base,
            item_ids=["9727387530"],
            new_item_ids=["6477915553"],
            payment_method_id=OTHERS_PAYPAL,
        ),
        dict(base, order_id="#W5442520", item_ids=["3330317167"], new_item_ids=["8896479688"]),
    ):
        outcome = _call(ctx, "exchange_order_items", **arguments)
        assert outcome.status == "policy_denied", (arguments, outcome.error)
    assert _state(engine, "#W5866402") == before

    # Espresso $2,996.03 -> $2,744.70 and sneakers $207.75 -> $186.45: $272.63 back.
    done = _confirmed(
        ctx,
        "exchange_order_items",
        order_id="#W5866402",
        item_ids=["9727387530", "6242772310"],
        new_item_ids=["6477915553", "3709608322"],
        payment_method_id=PAYPAL,
    )
    assert done.ok and done.output is not None
    after = _state(engine, "#W5866402")
    assert after["status"] == "exchange requested"
    assert after["details"] == {
        "exchange_items": ["6242772310", "9727387530"],
        "exchange_new_items": ["3709608322", "6477915553"],
        "exchange_payment_method_id": PAYPAL,
        "exchange_price_difference": -272.63,
    }
    assert after["items"] == before["items"] and after["payments"] == before["payments"]
    assert "$272.63" in done.output["changes"][0]
    ctx.confirmed_action = None
    returned = _call(
        ctx,
        "return_order_items",
        order_id="#W5866402",
        item_ids=["9727387530"],
        payment_method_id=PAYPAL,
    )
    assert returned.status == "policy_denied"


def test_every_call_is_audited_once_and_the_chain_verifies(services: Services) -> None:
    ctx = _ctx(services)
    calls = [
        ("my_orders", {}),
        ("order_details", {"order_id": OTHERS_ORDER}),
        ("cancel_order", {"order_id": "#W5353646", "reason": "no longer needed"}),
        ("cancel_order", {"order_id": "#W5442520", "reason": "no longer needed"}),
    ]
    outcomes = [invoke(ctx, name, arguments) for name, arguments in calls]
    ctx.confirmed_action = outcomes[-1].error.details["digest"] if outcomes[-1].error else None
    outcomes.append(invoke(ctx, *calls[-1]))
    events = _events(services.engine)
    assert [(e.tool_name, e.status, e.tool_call_id) for e in events] == [
        (o.name, o.status, o.call_id) for o in outcomes
    ]
    assert [o.status for o in outcomes] == [
        "ok",
        "not_found",
        "policy_denied",
        "needs_confirmation",
        "ok",
    ]
    assert all(e.detail == {"writes": e.tool_name == "cancel_order"} for e in events)
    assert all(e.principal_id == SHOPPER and e.role == "shopper" for e in events)
    report = verify_chain(services.engine, settings=services.settings)
    assert report.ok and report.events == len(calls) + 1
    with Session(services.engine) as session:
        cancelled = session.scalar(
            select(func.count()).select_from(Order).where(Order.status == "cancelled")
        )
    assert cancelled == 102 + 1  # tau2's cancelled orders and this one
