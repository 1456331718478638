"""Build the order-task dev set from tau2's retail db.json: real users, orders, items, variants.

Each task is one shopper's whole request written as a customer writes it (the order named by id
or by what it holds, options and payment methods in words), the answers they give to the
questions the policy needs (a cancellation's reason), and the gold actions: the tool calls with
their exact arguments. A user appears in one task only, so the tasks can run one after another on
one copy of the world. The same db.json always gives the same file:

    .venv/bin/python evals/devsets/orders/build.py ../shared/data/tau2_retail/db.json
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
Task = dict[str, Any]
NEW_ADDRESSES = [
    {
        "address1": "77 Elm Road",
        "address2": "Apt 4",
        "city": "Boulder",
        "state": "CO",
        "country": "USA",
        "zip": "80301",
    },
    {
        "address1": "1200 Lakeview Drive",
        "address2": "",
        "city": "Madison",
        "state": "WI",
        "country": "USA",
        "zip": "53703",
    },
    {
        "address1": "5 Harbor Street",
        "address2": "Suite 12",
        "city": "Portland",
        "state": "ME",
        "country": "USA",
        "zip": "04101",
    },
    {
        "address1": "348 Maple Avenue",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78704",
    },
]


def _address_text(a: dict[str, str]) -> str:
    parts = [a["address1"], a["address2"], a["city"], f"{a['state']} {a['zip']}"]
    return ", ".join(p for p in parts if p)


def _method_words(method: dict[str, Any]) -> str:
    if method["source"] == "gift_card":
        return "my gift card"
    if method["source"] == "paypal":
        return "my paypal"
    return f"the {method['brand']} ending in {method['last_four']}"


class Builder:
    def __init__(self, db: dict[str, Any], seed: int = 17) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.used: set[str] = set()
        self.tasks: list[Task] = []

    def _orders(self, status: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(user, order) pairs of unused users, in a seeded order."""
        orders = [o for o in self.db["orders"].values() if o["status"] == status]
        self.rng.shuffle(orders)
        for order in orders:
            if order["user_id"] not in self.used:
                yield self.db["users"][order["user_id"]], order

    def _unique_names(self, user: dict[str, Any], order: dict[str, Any]) -> bool:
        """The order's product names are unique among the user's orders of its status, so the
        order can be named by what it holds."""
        mine = [self.db["orders"][o] for o in user["orders"]]
        same = [o for o in mine if o["status"] == order["status"] and o is not order]
        names = {i["name"] for o in same for i in o["items"]}
        return not names & {i["name"] for i in order["items"]}

    def add(self, task: Task) -> None:
        task["id"] = (
            f"{task['kind']}-{len([t for t in self.tasks if t['kind'] == task['kind']]):02d}"
        )
        self.used.add(task["user"])
        self.tasks.append(task)

    def take(self, count: int, status: str, make: Callable[[dict, dict, int], Task | None]) -> None:
        made = 0
        for user, order in self._orders(status):
            if made == count:
                return
            task = make(user, order, made)
            if task is not None:
                self.add(task)
                made += 1

    def _variant_change(self, item: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
        """Another available variant of the item's product differing in one or two options, and
        the changed option values: what a shopper asks for ("the same one in XL")."""
        product = self.db["products"][item["product_id"]]
        choices = []
        for variant in product["variants"].values():
            if not variant["available"] or variant["item_id"] == item["item_id"]:
                continue
            changed = [k for k, v in variant["options"].items() if item["options"].get(k) != v]
            if 1 <= len(changed) <= 2:
                choices.append((variant, changed))
        if not choices:
            return None
        variant, changed = self.rng.choice(sorted(choices, key=lambda c: c[0]["item_id"]))
        return variant, [str(variant["options"][k]) for k in changed]

    # -- single writes -------------------------------------------------------------------------

    def cancel(self, user: dict, order: dict, n: int) -> Task | None:
        reason = "ordered by mistake" if n % 3 == 1 else "no longer needed"
        by_name = n % 2 == 1 and self._unique_names(user, order)
        item = order["items"][0]["name"].lower()
        which = f"the order with the {item}" if by_name else f"order {order['order_id']}"
        said = {
            "no longer needed": "I don't need it anymore",
            "ordered by mistake": "I ordered it by mistake",
        }[reason]
        answers: list[str] = []
        if n % 4 == 3:
            message = f"Hi, can you cancel {which} for me?"
            answers = [said]
        else:
            message = [
                f"Please cancel {which}, {said}.",
                f"I want to cancel {which} - {said}",
                f"hey, {said}, so cancel {which} please",
            ][n % 3]
        return {
            "kind": "cancel",
            "user": user["user_id"],
            "message": message,
            "answers": answers,
            "gold": [
                {"tool": "cancel_order", "args": {"order_id": order["order_id"], "reason": reason}}
            ],
        }

    def _refund_method(self, user: dict, order: dict, n: int) -> tuple[str, str]:
        original = order["payment_history"][0]["payment_method_id"]
        cards = [m for m in user["payment_methods"].values() if m["source"] == "gift_card"]
        if n % 2 == 1 and cards and cards[0]["id"] != original:
            return cards[0]["id"], ", refund to my gift card please"
        return original, ""

    def ret(self, user: dict, order: dict, n: int) -> Task | None:
        names = [i["name"] for i in order["items"]]
        unique = [i for i in order["items"] if names.count(i["name"]) == 1]
        if not unique:
            return None
        method, refund = self._refund_method(user, order, n)
        if n % 4 == 3 and len(unique) >= 2:
            kept = unique[0]
            items = [i for i in order["items"] if i is not kept]
            what = f"everything except the {kept['name'].lower()}"
        else:
            items = [unique[0]]
            what = f"the {unique[0]['name'].lower()}"
        by_name = n % 3 == 2 and self._unique_names(user, order)
        where = "" if by_name else f" from order {order['order_id']}"
        message = [
            f"I'd like to return {what}{where}{refund}.",
            f"hi, i want to send back {what}{where}{refund}",
            f"Can I return {what}{where}? It's not what I expected{refund}.",
        ][n % 3]
        return {
            "kind": "return",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [
                {
                    "tool": "return_order_items",
                    "args": {
                        "order_id": order["order_id"],
                        "item_ids": [i["item_id"] for i in items],
                        "payment_method_id": method,
                    },
                }
            ],
        }

    def _swap(self, tool: str, kind: str, user: dict, order: dict, n: int) -> Task | None:
        names = [i["name"] for i in order["items"]]
        for item in order["items"]:
            if names.count(item["name"]) != 1:
                continue
            change = self._variant_change(item)
            if change is None:
                continue
            variant, values = change
            method = order["payment_history"][0]["payment_method_id"]
            if (
                self.db["users"][user["user_id"]]["payment_methods"][method]["source"]
                == "gift_card"
            ):
                balance = self.db["users"][user["user_id"]]["payment_methods"][method]["balance"]
                if balance < variant["price"] - item["price"]:
                    continue
            wanted = " and ".join(values)
            name = item["name"].lower()
            verb = "exchange" if kind == "exchange" else "change"
            message = [
                f"Could I {verb} the {name} in order {order['order_id']} for the same one "
                f"in {wanted}?",
                f"I want to {verb} my {name} from {order['order_id']} to {wanted}, "
                "same everything else.",
                f"please {verb} the {name} ({order['order_id']}) - I'd like it in {wanted} instead",
            ][n % 3]
            return {
                "kind": kind,
                "user": user["user_id"],
                "message": message,
                "answers": [],
                "gold": [
                    {
                        "tool": tool,
                        "args": {
                            "order_id": order["order_id"],
                            "item_ids": [item["item_id"]],
                            "new_item_ids": [variant["item_id"]],
                            "payment_method_id": method,
                        },
                    }
                ],
            }
        return None

    def exchange(self, user: dict, order: dict, n: int) -> Task | None:
        return self._swap("exchange_order_items", "exchange", user, order, n)

    def modify_items(self, user: dict, order: dict, n: int) -> Task | None:
        return self._swap("modify_order_items", "modify_items", user, order, n)

    def address(self, user: dict, order: dict, n: int) -> Task | None:
        new = NEW_ADDRESSES[n % len(NEW_ADDRESSES)]
        message = [
            f"Please ship order {order['order_id']} to {_address_text(new)} instead.",
            f"I moved! can you change the shipping address of {order['order_id']} to "
            f"{_address_text(new)}",
            f"Change the delivery address for order {order['order_id']}: "
            f"{_address_text(new)}, {new['country']}",
        ][n % 3]
        return {
            "kind": "address",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [
                {"tool": "modify_order_address", "args": {"order_id": order["order_id"], **new}}
            ],
        }

    def payment(self, user: dict, order: dict, n: int) -> Task | None:
        paid = order["payment_history"][0]
        words = {_method_words(m) for m in user["payment_methods"].values()}
        for method in user["payment_methods"].values():
            if method["id"] == paid["payment_method_id"] or len(words) < len(
                user["payment_methods"]
            ):
                continue
            if method["source"] == "gift_card" and method["balance"] < paid["amount"]:
                continue
            message = [
                f"Can I pay for order {order['order_id']} with {_method_words(method)} instead?",
                f"please switch the payment on {order['order_id']} to {_method_words(method)}",
                f"I'd rather use {_method_words(method)} for order {order['order_id']}.",
            ][n % 3]
            return {
                "kind": "payment",
                "user": user["user_id"],
                "message": message,
                "answers": [],
                "gold": [
                    {
                        "tool": "modify_order_payment",
                        "args": {"order_id": order["order_id"], "payment_method_id": method["id"]},
                    }
                ],
            }
        return None

    def user_address(self, user: dict, order: dict, n: int) -> Task | None:
        new = NEW_ADDRESSES[(n + 1) % len(NEW_ADDRESSES)]
        message = [
            f"Please update my default address to {_address_text(new)}.",
            f"i moved, my address is now {_address_text(new)} - can you update my account?",
        ][n % 2]
        return {
            "kind": "user_address",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [{"tool": "modify_user_address", "args": dict(new)}],
        }

    # -- no write ------------------------------------------------------------------------------

    def status(self, user: dict, order: dict, n: int) -> Task | None:
        message = [
            f"What's the status of my order {order['order_id']}?",
            f"where is my order {order['order_id']}? has it shipped yet",
            "hi, what are my recent orders?",
        ][n % 3]
        return {
            "kind": "read_only",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [],
        }

    def denied(self, user: dict, order: dict, n: int) -> Task | None:
        """A delivered order cannot be cancelled; a processed one can be neither cancelled nor
        returned: the right end state is no change."""
        item = order["items"][0]["name"].lower()
        cancels = [
            f"Please cancel order {order['order_id']}, I don't need it anymore.",
            f"cancel {order['order_id']} please, ordered it by mistake",
        ]
        if order["status"] == "processed":
            cancels.append(f"I want to return the {item} from order {order['order_id']}.")
        message = cancels[n % len(cancels)]
        return {
            "kind": "denied",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [],
        }

    # -- several writes ------------------------------------------------------------------------

    def multi(self, user: dict, order: dict, n: int) -> Task | None:
        mine = [self.db["orders"][o] for o in user["orders"]]
        delivered = [o for o in mine if o["status"] == "delivered"]
        if not delivered:
            return None
        other = delivered[0]
        names = [i["name"] for i in other["items"]]
        item = next((i for i in other["items"] if names.count(i["name"]) == 1), None)
        if item is None:
            return None
        message = (
            f"Two things: please cancel order {order['order_id']} because I don't need it "
            f"anymore, and I want to return the {item['name'].lower()} from {other['order_id']}."
        )
        return {
            "kind": "multi",
            "user": user["user_id"],
            "message": message,
            "answers": [],
            "gold": [
                {
                    "tool": "cancel_order",
                    "args": {"order_id": order["order_id"], "reason": "no longer needed"},
                },
                {
                    "tool": "return_order_items",
                    "args": {
                        "order_id": other["order_id"],
                        "item_ids": [item["item_id"]],
                        "payment_method_id": other["payment_history"][0]["payment_method_id"],
                    },
                },
            ],
        }

    def build(self) -> list[Task]:
        self.take(12, "pending", self.cancel)
        self.take(10, "delivered", self.ret)
        self.take(9, "delivered", self.exchange)
        self.take(8, "pending", self.modify_items)
        self.take(7, "pending", self.address)
        self.take(7, "pending", self.payment)
        self.take(4, "pending", self.user_address)
        self.take(3, "processed", self.status)
        self.take(2, "delivered", self.status)
        self.take(2, "delivered", self.denied)
        self.take(3, "processed", self.denied)
        self.take(4, "pending", self.multi)
        return self.tasks


def main() -> None:
    db = json.loads(Path(sys.argv[1]).read_text())
    tasks = Builder(db).build()
    with (HERE / "tasks.jsonl").open("w") as out:
        for task in tasks:
            out.write(json.dumps(task, sort_keys=True) + "\n")
    sys.stderr.write(f"{len(tasks)} tasks\n")


if __name__ == "__main__":
    main()
