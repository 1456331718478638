"""Order service through the assistant on tau2's data, on SQLite and PostgreSQL (checkpoints
included): a write happens only after the shopper's explicit yes, exactly once, and survives a
restart between the question and the yes.

The shopper is tau2's `olivia_ito_3591`: #W5866402 is delivered (espresso machine, sneakers),
#W5442520 is pending.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agents.assistant import Assistant, TurnResult, confirmation_states
from agents.checkpoint import open_checkpointer
from agents.state import Message
from retail.audit import verify_chain
from retail.importers.common import PreparedImport, write_import
from retail.importers.tau2 import prepare_tau2
from retail.settings import Settings
from retail.store.models import (
    Address,
    AuditEvent,
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    Variant,
)
from tools.base import Principal, Services

SHOPPER = Principal.parse("shopper:olivia_ito_3591")
DELIVERED = "#W5866402"
PENDING = "#W5442520"


@pytest.fixture(scope="module")
def tau2_rows(shared_data: Path) -> PreparedImport:
    return prepare_tau2(shared_data / "tau2_retail")


@pytest.fixture
def settings(engine: Engine, db_url: str, tmp_path: Path, tau2_rows: PreparedImport) -> Settings:
    write_import(engine, tau2_rows)
    return Settings(environment="test", database_url=db_url, var_dir=tmp_path / "var")


@pytest.fixture
def services(engine: Engine, settings: Settings) -> Iterator[Services]:
    services = Services(engine, settings)
    yield services
    services.close()


def _status(engine: Engine, order_id: str) -> tuple[str, dict[str, object]]:
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status, dict(order.details)


def test_a_return_waits_for_yes_and_survives_a_restart(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        asked = Assistant(services, checkpointer).ask(
            SHOPPER, f"I want to return the sneakers from order {DELIVERED}"
        )
    # The shopper's orders, account and the order are read first; then the return waits.
    assert {c.status for c in asked.tool_calls[:-1]} == {"ok"}
    assert (asked.tool_calls[-1].name, asked.tool_calls[-1].status) == (
        "return_order_items",
        "needs_confirmation",
    )
    assert "Please confirm" in asked.answer and "Sneakers" in asked.answer
    assert asked.quick_replies == ["Yes", "No"]
    assert _status(engine, DELIVERED)[0] == "delivered"
    # Its source is the order it is about, not every order read to find it.
    with Session(engine) as session:
        orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == SHOPPER.customer_id)
        )
    assert orders is not None and orders > 1
    assert [(c.kind, c.id) for c in asked.citations] == [("order", DELIVERED)]

    # A new process: a new checkpointer and assistant resume the thread from its checkpoint.
    with open_checkpointer(settings) as checkpointer:
        done = Assistant(services, checkpointer).ask(SHOPPER, "yes", thread_id=asked.thread_id)
    assert [(c.name, c.status) for c in done.tool_calls] == [("return_order_items", "ok")]
    assert done.tool_calls[0].args == asked.tool_calls[-1].args
    status, details = _status(engine, DELIVERED)
    assert status == "return requested"
    assert details["return_items"] == asked.tool_calls[-1].args["item_ids"]

    with Session(engine) as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.conversation_id == asked.thread_id)
                .order_by(AuditEvent.seq)
            )
        )
    calls = [(e.tool_name, e.status) for e in events if e.event_type == "tool_call"]
    assert [c for c in calls if c[0] == "return_order_items"] == [
        ("return_order_items", "needs_confirmation"),
        ("return_order_items", "ok"),
    ]
    assert verify_chain(engine, settings=settings).ok


def test_anything_but_yes_drops_the_pending_write(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        asked = assistant.ask(SHOPPER, f"please cancel order {PENDING}, I ordered by mistake")
        assert (asked.tool_calls[-1].name, asked.tool_calls[-1].status) == (
            "cancel_order",
            "needs_confirmation",
        )
        assert asked.tool_calls[-1].args["reason"] == "ordered by mistake"
        hedged = assistant.ask(SHOPPER, "yes but cancel the other one", thread_id=asked.thread_id)
        assert all(c.name != "cancel_order" or c.status != "ok" for c in hedged.tool_calls)
        assert hedged.answer.startswith("Nothing was changed.")
        late = assistant.ask(SHOPPER, "yes", thread_id=asked.thread_id)
    assert late.tool_calls == [] and "nothing waiting" in late.answer
    assert _status(engine, PENDING)[0] == "pending"


def _thread(assistant: Assistant, thread_id: str) -> list[Message]:
    snapshot = assistant.graph.get_state({"configurable": {"thread_id": thread_id}})
    return [Message.model_validate(m) for m in snapshot.values["messages"]]


def test_a_thread_read_back_says_what_became_of_each_confirmation(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        request = f"please cancel order {PENDING}, I ordered by mistake"
        asked = assistant.ask(SHOPPER, request)
        waiting = _thread(assistant, asked.thread_id)
        declined = assistant.ask(SHOPPER, "no thanks", thread_id=asked.thread_id)
        asked_again = assistant.ask(SHOPPER, request, thread_id=asked.thread_id)
        confirmed = assistant.ask(SHOPPER, "yes", thread_id=asked.thread_id)
        messages = _thread(assistant, asked.thread_id)
    assert confirmation_states(waiting) == [None, "pending"]
    assert waiting[-1].asks_confirmation and waiting[-1].quick_replies == ["Yes", "No"]
    assert all(c.status != "ok" or c.name != "cancel_order" for c in declined.tool_calls)
    assert asked_again.quick_replies == ["Yes", "No"]
    assert [c.status for c in confirmed.tool_calls] == ["ok"]
    assert confirmation_states(messages) == [
        None, "declined", None, None, None, "confirmed", None, None
    ]  # fmt: skip
    assert [m.answers_confirmation for m in messages if m.role == "assistant"] == [
        None, "declined", None, "confirmed"
    ]  # fmt: skip
    assert _status(engine, PENDING)[0] == "cancelled"


def test_a_new_request_is_not_taken_for_the_answer_to_an_order_question(
    settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        asked = assistant.ask(SHOPPER, f"I want to return something from order {DELIVERED}")
        assert "Which items" in asked.answer, asked.answer
        listed = assistant.ask(SHOPPER, "show me my orders", thread_id=asked.thread_id)
    assert [c.name for c in listed.tool_calls] == ["my_orders"]
    assert "Which items" not in listed.answer
    assert DELIVERED in listed.answer and PENDING in listed.answer


def test_a_reply_to_which_order_is_its_answer_only_when_it_names_what_was_listed(
    settings: Settings, services: Services
) -> None:
    """After "which order do you mean?", the product of a listed order answers it; a product
    nobody ordered, or "actually ...", is a request of its own, not glued onto the old one."""
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        for reply, answers in (
            ("the espresso machine", True),
            ("laptops please", False),
            ("actually, show me t-shirts", False),
            # A thing this store sells none of is no item of an order either.
            ("hammocks please", False),
        ):
            asked = assistant.ask(SHOPPER, "I want to exchange something")
            assert "Which order do you mean?" in asked.answer, asked.answer
            assert DELIVERED in asked.answer and PENDING in asked.answer, asked.answer
            then = assistant.ask(SHOPPER, reply, thread_id=asked.thread_id)
            assert "Which order do you mean?" not in then.answer, (reply, then.answer)
            searched = "search_products" in {c.name for c in then.tool_calls}
            assert searched is not answers, (reply, then.tool_calls, then.answer)
            if answers:
                assert "Espresso Machine" in then.answer, then.answer


def test_another_customers_order_cannot_be_cancelled(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        result = Assistant(services, checkpointer).ask(
            SHOPPER, "cancel order #W2564042, it is mine now"
        )
    assert ("order_details", "not_found") in [(c.name, c.status) for c in result.tool_calls]
    assert all(c.name != "cancel_order" for c in result.tool_calls)
    assert _status(engine, "#W2564042")[0] != "cancelled"


def test_an_address_spelled_out_in_full_changes_after_yes(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        asked = assistant.ask(
            SHOPPER, f"Please ship order {PENDING} to 77 Elm Road, Apt 4, Boulder, CO 80301 instead"
        )
        # The order is read first (the state a change must start from), then the change waits.
        assert ("order_details", "ok") in [(c.name, c.status) for c in asked.tool_calls]
        change = asked.tool_calls[-1]
        assert (change.name, change.status) == ("modify_order_address", "needs_confirmation")
        assert change.args["city"] == "Boulder"
        assert change.args["address2"] == "Apt 4"
        done = assistant.ask(SHOPPER, "yes", thread_id=asked.thread_id)
    assert [(c.name, c.status) for c in done.tool_calls] == [("modify_order_address", "ok")]
    with Session(engine) as session:
        order = session.get(Order, PENDING)
        assert order is not None and order.shipping_address["city"] == "Boulder"


WRITES = {
    "cancel_order",
    "return_order_items",
    "exchange_order_items",
    "modify_order_items",
    "modify_order_address",
    "modify_order_payment",
    "modify_user_address",
}


def _wrote(result: TurnResult) -> list[str]:
    return [c.name for c in result.tool_calls if c.name in WRITES]


def test_questions_about_an_order_answer_from_it_and_change_nothing(
    engine: Engine, settings: Settings, services: Services
) -> None:
    processed = "#W5353646"
    with Session(engine) as session:
        # The facts the answers must state, read apart from the tools.
        statuses = dict(
            session.execute(
                select(Order.id, Order.status).where(Order.customer_id == "olivia_ito_3591")
            ).all()
        )
    assert statuses[DELIVERED] == "delivered" and statuses[PENDING] == "pending"
    assert statuses[processed] == "processed"
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        by_when = assistant.ask(
            SHOPPER, f"what's the deadline to send back stuff from {DELIVERED}?"
        )
        gone = assistant.ask(SHOPPER, f"has {processed} been dispatched?")
        status = assistant.ask(SHOPPER, f"what's going on with {PENDING}")
        later = assistant.ask(SHOPPER, "is it on its way yet?", thread_id=status.thread_id)
        mine = assistant.ask(SHOPPER, "have my orders shipped?")
    assert [c.name for c in by_when.tool_calls] == ["order_details"], by_when.answer
    assert by_when.answer.startswith(
        f"Order {DELIVERED} was delivered. Returns are accepted within"
    )
    assert "Which items" not in by_when.answer
    assert gone.answer.startswith(f"Order {processed} has shipped."), gone.answer
    # "it" is the order the conversation is about (their orders are read first: an item named
    # would have picked its own order).
    assert later.tool_calls[-1].args == {"order_id": PENDING}
    assert later.answer.startswith(f"Order {PENDING} has not shipped yet"), later.answer
    assert [c.name for c in mine.tool_calls] == ["my_orders"]
    assert f"{PENDING} (" in mine.answer and "has not shipped yet" in mine.answer
    assert not any(_wrote(r) for r in (by_when, gone, status, later, mine))
    with Session(engine) as session:
        after = dict(
            session.execute(
                select(Order.id, Order.status).where(Order.customer_id == "olivia_ito_3591")
            ).all()
        )
    assert after == statuses


def _line(engine: Engine, product: str) -> tuple[str, str, str, list[str]]:
    """The shopper's order holding `product`, read by SQL: order id, status, price paid, and
    the tracking ids of the shipments that carry it."""
    with Session(engine) as session:
        order_id, status, price, variant = session.execute(
            select(Order.id, Order.status, OrderItem.price, OrderItem.variant_id)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.customer_id == "olivia_ito_3591", OrderItem.name == product)
        ).one()
        shipments = session.scalars(select(Fulfillment).where(Fulfillment.order_id == order_id))
        tracking = [t for f in shipments if variant in f.variant_ids for t in f.tracking_ids]
    return order_id, status, f"${price:,.2f}", tracking


def test_a_question_naming_an_item_answers_from_the_order_that_holds_it(
    engine: Engine, settings: Settings, services: Services
) -> None:
    skateboard = _line(engine, "Skateboard")
    camera = _line(engine, "Action Camera")
    boots = _line(engine, "Hiking Boots")
    sneakers = _line(engine, "Sneakers")
    assert skateboard[3], "the tau2 data ships the skateboard with a tracking id"
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        parcel = assistant.ask(SHOPPER, "where's the parcel with my skateboard in it?")
        paid = assistant.ask(SHOPPER, "how much did I pay for the action camera")
        other = assistant.ask(
            SHOPPER, "and the one with the hiking boots?", thread_id=paid.thread_id
        )
        again = assistant.ask(SHOPPER, "what did I pay for it?", thread_id=other.thread_id)
        # A thread about one order: an item named in the message picks its own order.
        about = assistant.ask(SHOPPER, f"what's going on with {PENDING}")
        named = assistant.ask(SHOPPER, "tracking for my sneakers order", thread_id=about.thread_id)
    turns = [parcel, paid, other, again, named]
    for turn, (order_id, _, price, tracking) in zip(
        turns, [skateboard, camera, boots, boots, sneakers], strict=True
    ):
        assert "search_products" not in [c.name for c in turn.tool_calls], turn.answer
        assert order_id in turn.answer and f"You paid {price}" in turn.answer, turn.answer
        assert all(t in turn.answer for t in tracking), turn.answer
    assert "has shipped" in parcel.answer and skateboard[1] == "processed"
    assert PENDING not in named.answer
    assert not any(_wrote(r) for r in turns)


def test_cancel_that_order_takes_the_order_talked_about_and_waits_for_a_plain_yes(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        shown = assistant.ask(SHOPPER, f"what did I get in {PENDING}?")
        thread = shown.thread_id
        why = assistant.ask(SHOPPER, "please cancel that entire order", thread_id=thread)
        # The policy's question, about the order talked about, and no write yet.
        assert f"Why do you want to cancel {PENDING}" in why.answer, why.answer
        assert not _wrote(why)
        asked = assistant.ask(SHOPPER, "don't need it any more", thread_id=thread)
        assert (asked.tool_calls[-1].name, asked.tool_calls[-1].status) == (
            "cancel_order",
            "needs_confirmation",
        )
        assert asked.tool_calls[-1].args == {"order_id": PENDING, "reason": "no longer needed"}
        hedged = assistant.ask(SHOPPER, "ok hmm, actually no", thread_id=thread)
        assert not _wrote(hedged) and _status(engine, PENDING)[0] == "pending"
        again = assistant.ask(
            SHOPPER, "cancel that order, I bought it by mistake", thread_id=thread
        )
        assert again.tool_calls[-1].args == {"order_id": PENDING, "reason": "ordered by mistake"}
        assert _status(engine, PENDING)[0] == "pending"
        done = assistant.ask(SHOPPER, "yes", thread_id=thread)
    assert [(c.name, c.status) for c in done.tool_calls] == [("cancel_order", "ok")]
    assert _status(engine, PENDING)[0] == "cancelled"


# A payment method's id as the tools name it: never something a shopper reads.
RAW_PAYMENT_ID = re.compile(r"\b(?:credit_card|gift_card|paypal)_\d+\b")
GIFT_CARD_ORDER = "#W3657213"  # pending, paid with the shopper's gift card


def _paid_with(engine: Engine, order_id: str) -> PaymentMethod:
    """The method the order's first payment used, read by SQL."""
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None and order.payments
        method = session.get(PaymentMethod, order.payments[0].payment_method_id)
        assert method is not None
        session.expunge(method)
        return method


def test_how_an_order_was_paid_is_answered_in_words_and_changes_nothing(
    engine: Engine, settings: Settings, services: Services
) -> None:
    paypal = _paid_with(engine, DELIVERED)
    card = _paid_with(engine, PENDING)
    gift = _paid_with(engine, GIFT_CARD_ORDER)
    assert (paypal.kind, card.kind, gift.kind) == ("paypal", "credit_card", "gift_card")
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        how = assistant.ask(SHOPPER, f"how did I pay for order {DELIVERED}?")
        which = assistant.ask(SHOPPER, f"which card did I use for {PENDING}")
        gift_card = assistant.ask(SHOPPER, f"how was {GIFT_CARD_ORDER} paid?")
        # The same words about an item, not an order id: its order is found first.
        item = assistant.ask(SHOPPER, "how did I pay for the sneakers?")
        # A cancellation's confirmation names the gift card the refund goes to in words too.
        cancel = assistant.ask(SHOPPER, f"cancel {GIFT_CARD_ORDER}, I ordered it by mistake")
        declined = assistant.ask(SHOPPER, "no thanks", thread_id=cancel.thread_id)
    for turn in (how, which, gift_card, item):
        assert not _wrote(turn), turn.tool_calls
        assert "order_details" in [c.name for c in turn.tool_calls]
    assert "your PayPal account" in how.answer and "$3,203.78" in how.answer, how.answer
    assert f"your {card.brand.title()} credit card ending {card.last_four}" in which.answer
    assert f"your gift card (balance ${gift.balance:,.2f})" in gift_card.answer, gift_card.answer
    assert DELIVERED in item.answer and "your PayPal account" in item.answer, item.answer
    assert (cancel.tool_calls[-1].name, cancel.tool_calls[-1].status) == (
        "cancel_order",
        "needs_confirmation",
    )
    assert "refunded to your gift card" in cancel.answer, cancel.answer
    for turn in (how, which, gift_card, item, cancel, declined):
        assert not RAW_PAYMENT_ID.search(turn.answer), turn.answer
    assert _status(engine, GIFT_CARD_ORDER)[0] == "pending"
    assert _status(engine, PENDING)[0] == "pending"


def test_an_order_question_states_the_status_once(settings: Settings, services: Services) -> None:
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        shipped = assistant.ask(SHOPPER, f"has {DELIVERED} shipped?")
        paid = assistant.ask(SHOPPER, f"how did I pay for {PENDING}?")
        window = assistant.ask(SHOPPER, f"until when can I send back stuff from {DELIVERED}?")
    for turn, order_id, status in (
        (shipped, DELIVERED, "delivered"),
        (paid, PENDING, "pending"),
        (window, DELIVERED, "delivered"),
    ):
        assert turn.answer.count(order_id) == 1, turn.answer
        assert turn.answer.count(status) == 1, turn.answer


def test_items_that_do_not_fit_ask_for_a_return_or_an_exchange_and_write_only_on_yes(
    engine: Engine, settings: Settings, services: Services
) -> None:
    with Session(engine) as session:
        sneakers = session.execute(
            select(OrderItem.variant_id, OrderItem.product_id, OrderItem.options).where(
                OrderItem.order_id == DELIVERED, OrderItem.name == "Sneakers"
            )
        ).one()
        # Another available size of the same sneakers, everything else as they are.
        other = next(
            v
            for v in session.scalars(
                select(Variant)
                .where(Variant.product_id == sneakers.product_id)
                .order_by(Variant.id)
            )
            if v.available
            and v.options.get("size") != sneakers.options["size"]
            and {k: x for k, x in v.options.items() if k != "size"}
            == {k: x for k, x in sneakers.options.items() if k != "size"}
        )
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        shown = assistant.ask(SHOPPER, f"what did I get in {DELIVERED}?")
        thread = shown.thread_id
        fit = assistant.ask(SHOPPER, "they do not fit", thread_id=thread)
        size = other.options["size"]
        swap = assistant.ask(SHOPPER, f"exchange them for a size {size} please", thread_id=thread)
        # A reply that says they do not fit is no yes to the exchange waiting for one.
        again = assistant.ask(SHOPPER, "they don't fit though", thread_id=thread)
        swap_again = assistant.ask(SHOPPER, f"exchange them for a size {size}", thread_id=thread)
        declined = assistant.ask(SHOPPER, "no thanks", thread_id=thread)
        # Said on its own, about the shopper's own item.
        fresh = assistant.ask(SHOPPER, "the sneakers I ordered don't fit")
    # Not a refusal: the wish is heard, and which of a return or an exchange is asked.
    assert not _wrote(fit) and "won't" not in fit.answer and "Nothing was changed" not in fit.answer
    assert "Sneakers" in fit.answer and "return" in fit.answer and "exchange" in fit.answer
    assert "Espresso Machine" not in fit.answer, "only what comes in sizes can fit or not"
    assert (swap.tool_calls[-1].name, swap.tool_calls[-1].status) == (
        "exchange_order_items",
        "needs_confirmation",
    )
    assert swap.tool_calls[-1].args["item_ids"] == [sneakers.variant_id]
    assert swap.tool_calls[-1].args["new_item_ids"] == [other.id]
    assert not any(c.status == "ok" and c.name in WRITES for c in again.tool_calls)
    assert swap_again.tool_calls[-1].status == "needs_confirmation"
    assert not any(c.status == "ok" and c.name in WRITES for c in declined.tool_calls)
    assert "Sneakers" in fresh.answer and "exchange" in fresh.answer and not _wrote(fresh)
    assert _status(engine, DELIVERED)[0] == "delivered"


@pytest.mark.parametrize(
    ("said", "asked"),
    [
        # The walk's two (docs/WALK-2026-12-07.md, N2), then other ways of asking the same.
        ("what is in my account?", {"email", "address", "payment"}),
        ("what address do you have for me?", {"address"}),
        ("which address is on file?", {"address"}),
        ("do you have my email?", {"email"}),
        ("what is my e-mail address?", {"email"}),
        ("show me my details", {"email", "address", "payment"}),
        ("what do you have on file for me?", {"email", "address", "payment"}),
        ("what payment methods do I have saved?", {"payment"}),
    ],
)
def test_a_question_about_what_is_on_file_reads_the_account_and_changes_nothing(
    engine: Engine, settings: Settings, services: Services, said: str, asked: set[str]
) -> None:
    """The part asked about is answered, and only it ("do you have my email?" gets the e-mail,
    not the whole account); a question about the whole account gets all of it."""
    with Session(engine) as session:
        # What the answer must state, read apart from the tools.
        customer = session.get(Customer, "olivia_ito_3591")
        address = session.scalars(
            select(Address).where(Address.customer_id == "olivia_ito_3591", Address.is_default)
        ).one()
        before = (address.address1, address.city, address.zip)
    assert customer is not None and customer.email
    with open_checkpointer(settings) as checkpointer:
        reply = Assistant(services, checkpointer).ask(SHOPPER, said)
    assert [c.name for c in reply.tool_calls] == ["my_account"], reply.answer
    stated = {
        "email": customer.email in reply.answer,
        "address": f"{address.address1}, " in reply.answer and address.zip in reply.answer,
        "payment": "Payment methods" in reply.answer,
    }
    assert {part for part, there in stated.items() if there} == asked, reply.answer
    assert "Which order" not in reply.answer and not reply.quick_replies
    with Session(engine) as session:
        now = session.get(Address, address.id)
        assert now is not None and (now.address1, now.city, now.zip) == before


def test_a_phone_number_asked_about_is_said_not_to_be_kept(
    settings: Settings, services: Services
) -> None:
    with open_checkpointer(settings) as checkpointer:
        reply = Assistant(services, checkpointer).ask(
            SHOPPER, "what phone number do you have for me?"
        )
    assert [c.name for c in reply.tool_calls] == ["my_account"], reply.answer
    assert reply.answer.startswith("We keep no phone number"), reply.answer


def test_a_change_no_tool_makes_is_said_and_a_cancellation_waiting_is_not_made(
    engine: Engine, settings: Settings, services: Services
) -> None:
    """ "update my email please" while a cancellation waits for a yes: no write, the
    cancellation stays unmade, and the answer says what can and cannot be changed here (it
    used to say "There is nothing waiting for your confirmation"; "change my email address"
    asked which order's address)."""
    with open_checkpointer(settings) as checkpointer:
        assistant = Assistant(services, checkpointer)
        asked = assistant.ask(SHOPPER, f"cancel order {PENDING}, I ordered it by mistake")
        email = assistant.ask(SHOPPER, "update my email please", thread_id=asked.thread_id)
        again = assistant.ask(SHOPPER, "please change my email address")
    assert asked.tool_calls[-1].status == "needs_confirmation"
    for reply in (email, again):
        assert not _wrote(reply), reply.answer
        assert "can't change your name, e-mail address" in reply.answer
        assert "Which order" not in reply.answer and "nothing waiting" not in reply.answer
        assert reply.answer.count("Nothing was changed") == 1
    assert _status(engine, PENDING)[0] == "pending"
