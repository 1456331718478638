"""How the local brain reads a whole order request (agents/brains/orders.py) against what the
order tools returned: which actions, which orders and items, which options and payment method."""

from __future__ import annotations

from typing import Any

from agents.brains.orders import answers_question, plan, read_actions
from tools.base import ToolOutcome

ACCOUNT = {
    "payment_methods": [
        {"payment_method_id": "gift_card_1", "kind": "gift_card"},
        {"payment_method_id": "paypal_2", "kind": "paypal"},
        {"payment_method_id": "credit_card_3", "kind": "credit_card", "brand": "visa"},
    ]
}


def _item(item_id: str, name: str, product: str, **options: str) -> dict[str, Any]:
    return {"item_id": item_id, "product_id": product, "name": name, "options": options}


def _order(order_id: str, status: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "status": status,
        "items": list(items),
        "payments": [{"transaction_type": "payment", "payment_method_id": "gift_card_1"}],
    }


def _outcome(name: str, output: dict[str, Any], **arguments: Any) -> ToolOutcome:
    return ToolOutcome(
        call_id=f"c-{name}", name=name, arguments=arguments, status="ok", output=output,
        latency_ms=0.0,
    )  # fmt: skip


def _looked_up(*orders: dict[str, Any], products: tuple[dict[str, Any], ...] = ()) -> list:
    listing = {
        "orders": [
            {
                "order_id": o["order_id"],
                "status": o["status"],
                "product_names": sorted({i["name"] for i in o["items"]}),
            }
            for o in orders
        ]
    }
    return (
        [_outcome("my_orders", listing), _outcome("my_account", ACCOUNT)]
        + [_outcome("order_details", o, order_id=o["order_id"]) for o in orders]
        + [_outcome("product_details", p, product_id=p["id"]) for p in products]
    )


def _writes(text: str, outcomes: list[ToolOutcome]) -> list[tuple[str, dict[str, Any]]]:
    step = plan(text, outcomes)
    assert step.question is None, step.question
    return [(c.name, c.arguments) for c in step.calls]


SPEAKERS = _order(
    "#W1000001",
    "delivered",
    _item("11", "Bluetooth Speaker", "p1", color="red", **{"water resistance": "yes"}),
    _item("12", "Bluetooth Speaker", "p1", color="red", **{"water resistance": "no"}),
    _item("13", "Desk Lamp", "p2", color="white"),
    _item("14", "Hiking Boots", "p3", size="8"),
)


def test_a_return_keeps_what_the_shopper_keeps_and_tells_twins_apart() -> None:
    outcomes = _looked_up(SPEAKERS)
    kept = _writes("Please return the lamp and the boots, but keep the speakers.", outcomes)
    assert kept[0][1]["item_ids"] == ["13", "14"]
    twin = _writes("I'd like to send back the speaker that is not water resistant.", outcomes)
    assert twin[0][1]["item_ids"] == ["12"]
    assert twin[0][1]["payment_method_id"] == "gift_card_1"  # refunded the way it was paid


def test_a_return_that_names_no_item_of_several_asks_which() -> None:
    step = plan("I want to return my delivered order, please.", _looked_up(SPEAKERS))
    assert step.calls == []
    assert step.question is not None and "Desk Lamp" in step.question


def test_a_return_says_a_defect_or_a_wrong_item_and_asks_with_the_terms() -> None:
    """A defective or wrong item ships back free: the return says why only when the words do
    (the tool charges the label otherwise); and the question before a return states the
    window and the label fee that the order's details give."""
    outcomes = _looked_up(SPEAKERS)
    reasons = {
        "the desk lamp arrived broken, I want to return it": "defective",
        "return the lamp, it stopped working after a day": "defective",
        "you sent me the wrong boots, I want to return them": "wrong item",
        "I'd like to return the lamp, I don't need it": None,
        "return the boots, I ordered the wrong size": None,
    }
    for text, reason in reasons.items():
        (write,) = _writes(text, outcomes)
        assert write[1].get("reason") == reason, text
    terms = "Returns are accepted within 30 days of delivery for guests; by mail $6.95 ..."
    with_terms = _looked_up({**SPEAKERS, "return_terms": terms})
    step = plan("I want to return my delivered order, please.", with_terms)
    assert step.question is not None and step.question.endswith(terms)


def test_an_option_the_product_does_not_come_in_is_answered_with_those_it_does() -> None:
    """Walk 2026-12-07: "exchange the sneakers … for size 12", of sneakers made in sizes 6 and
    10 only, asked "Which option of the Sneakers would you like instead?" and named none."""
    delivered = _order("#W4000004", "delivered", _item("41", "Sneakers", "p6", size="11"))
    sneakers = {
        "id": "p6",
        "variants": [
            {"id": "41", "options": {"size": "11", "color": "black"}, "available": False},
            {"id": "42", "options": {"size": "10", "color": "gray"}},
            {"id": "43", "options": {"size": "6", "color": "black"}},
            {"id": "44", "options": {"size": "8", "color": "gray"}, "available": False},
        ],
    }
    step = plan(
        "exchange the sneakers in order #W4000004 for size 12",
        _looked_up(delivered, products=(sneakers,)),
    )
    assert step.calls == []
    assert step.question == (
        "Which option of the Sneakers would you like instead? "
        "Available now: size 10, color gray; size 6, color black."
    )


def test_a_change_of_payment_takes_the_method_asked_for_not_the_one_left() -> None:
    pending = _order("#W2000002", "pending", _item("21", "Tea Kettle", "p4", color="black"))
    writes = _writes(
        "could I pay for the kettle with paypal instead of the gift card?", _looked_up(pending)
    )
    assert writes == [
        ("modify_order_payment", {"order_id": "#W2000002", "payment_method_id": "paypal_2"})
    ]  # fmt: skip


def test_an_item_change_without_a_verb_changes_only_the_items_whose_options_change() -> None:
    pending = _order(
        "#W3000003",
        "pending",
        _item("31", "Hiking Boots", "p3", size="8", material="leather"),
        _item("32", "Gaming Mouse", "p5", color="RGB", connectivity="wired"),
        _item("33", "Sneakers", "p6", size="10"),
    )
    boots = {
        "id": "p3",
        "variants": [
            {"id": "31", "options": {"size": "8", "material": "leather"}},
            {"id": "34", "options": {"size": "9", "material": "leather"}},
            {"id": "35", "options": {"size": "9", "material": "synthetic"}},
        ],
    }
    mouse = {
        "id": "p5",
        "variants": [
            {"id": "32", "options": {"color": "RGB", "connectivity": "wired"}},
            {"id": "36", "options": {"color": "black", "connectivity": "wired"}},
        ],
    }
    text = (
        "My order with the boots, the mouse and the sneakers: the boots in a 9 instead of an 8 "
        "and the mouse in black rather than RGB. My visa for the difference."
    )
    assert [a.kind for a in read_actions(text)] == ["swap"]
    writes = _writes(text, _looked_up(pending, products=(boots, mouse)))
    assert writes == [
        (
            "modify_order_items",
            {
                "order_id": "#W3000003",
                "item_ids": ["31", "32"],
                "new_item_ids": ["34", "36"],
                "payment_method_id": "credit_card_3",
            },
        )
    ]


def test_a_default_address_on_several_lines_changes_the_profile() -> None:
    text = "Please update the address on my profile:\n9 Elm Road, Unit 4\nAustin TX 78701"
    assert _writes(text, []) == [
        (
            "modify_user_address",
            {
                "address1": "9 Elm Road",
                "address2": "Unit 4",
                "city": "Austin",
                "state": "TX",
                "country": "USA",
                "zip": "78701",
            },
        )
    ]


def test_a_reason_answers_why_but_a_refusal_does_not() -> None:
    assert answers_question("I don't need it anymore.")
    assert answers_question("no longer needed")
    assert not answers_question("no, I don't want to cancel it")
    assert not answers_question("never mind, forget it")


def test_instead_is_no_order_request_without_an_order() -> None:
    assert read_actions("show me the blue one instead") == []
    assert read_actions("I'd like to order the green one instead") == []


def test_the_wrong_size_beside_a_cancellation_is_its_reason_not_a_return() -> None:
    actions = read_actions(
        "hi can u cancel my sneakers order? i clicked the wrong size by accident"
    )
    assert [(a.kind, a.fit) for a in actions] == [("cancel", False)]
    assert "wrong size" in actions[0].text
    # Beside a return, the same words still say the items do not fit.
    assert [(a.kind, a.fit) for a in read_actions("my boots are the wrong size, return them")] == [
        ("ret", True)
    ]


def test_which_order_names_the_statuses_in_words() -> None:
    first = _order("#W1000002", "pending", _item("21", "Desk Lamp", "p2", color="white"))
    second = _order("#W1000003", "pending (item modified)", _item("31", "Tent", "p4"))
    step = plan("change the shipping address of my order", _looked_up(first, second))
    assert step.question is not None and not step.calls
    # Statuses said as a person says them, never "pending/pending (item modified)".
    assert "/" not in step.question, step.question
    assert "orders that are pending: #W1000002" in step.question


def test_an_order_id_of_the_generated_world_is_read_as_tau2_s_are() -> None:
    """The generated world's orders are "#A..." where tau2's are "#W...": both name the order,
    with or without "#" (a shopper answering "which order?" with the id it listed)."""
    for said in ("return the lamp from order #A2758073", "return the lamp from a2758073"):
        assert [a.order_ids for a in read_actions(said)] == [["#A2758073"]], said


def test_no_order_that_allows_the_change_ends_the_request_without_a_question() -> None:
    delivered = _order("#W1000004", "delivered", _item("41", "Desk Lamp", "p2", color="white"))
    step = plan("please cancel my order", _looked_up(delivered))
    assert not step.calls and step.question is not None
    # Not "which order? ... pending: none", which only a request to stop could answer.
    assert step.question == (
        "Nothing was changed: you have no pending order, and only a pending order can be cancelled."
    )
