"""The order-task dev set (evals/devsets/orders), scored as tau2-bench scores its retail tasks.

Independent of the assistant and of the order tools: the gold actions are applied to the
customer's records in tau2's own db.json, with tau2's own rules for each write, and the result is
compared with what the conversation left in Aisle's database, read back into the same shape. A
task passes when the two are equal. The conversation driver sends the request, answers each
question from the task's scripted answers, says "yes" to a confirmation that states exactly gold
actions and "no" to any other.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from retail.store.models import Address, Order, PaymentMethod

DEVSET = Path(__file__).parent / "devsets" / "orders" / "tasks.jsonl"
RECORDED = (
    "cancel_reason",
    "return_items",
    "return_payment_method_id",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
)
WRITE_TOOLS = frozenset(
    {
        "cancel_order",
        "modify_order_address",
        "modify_order_payment",
        "modify_order_items",
        "return_order_items",
        "exchange_order_items",
        "modify_user_address",
    }
)
MAX_TURNS = 6


@dataclass(frozen=True, slots=True)
class OrderTask:
    id: str
    kind: str
    user: str
    message: str
    answers: tuple[str, ...]
    gold: tuple[tuple[str, Mapping[str, Any]], ...]

    @property
    def single_write(self) -> bool:
        return len(self.gold) == 1

    @property
    def half(self) -> str:
        """A hash split fixed by the id alone: tuning never moves a task between halves."""
        return "test" if hashlib.sha256(self.id.encode()).digest()[0] % 2 else "dev"


def load_tasks(path: Path = DEVSET) -> list[OrderTask]:
    tasks = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        tasks.append(
            OrderTask(
                id=raw["id"],
                kind=raw["kind"],
                user=raw["user"],
                message=raw["message"],
                answers=tuple(raw["answers"]),
                gold=tuple((g["tool"], g["args"]) for g in raw["gold"]),
            )
        )
    return tasks


def half_digest(tasks: Iterable[OrderTask], half: str) -> str:
    """SHA-256 of one half's tasks: a test pins the frozen test half with it."""
    chosen = sorted((t for t in tasks if t.half == half), key=lambda t: t.id)
    text = json.dumps(
        [[t.id, t.user, t.message, list(t.answers), [list(g) for g in t.gold]] for t in chosen],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def normal_call(tool: str, args: Mapping[str, Any]) -> str:
    """A write call in a canonical form: item lists compared as sets of (old, new) pairs."""
    args = dict(args)
    if "new_item_ids" in args:
        pairs = sorted(zip(args.pop("item_ids"), args.pop("new_item_ids"), strict=False))
        args["pairs"] = pairs
    elif "item_ids" in args:
        args["item_ids"] = sorted(args["item_ids"])
    return json.dumps([tool, args], sort_keys=True)


# -- tau2's rules, applied to db.json ------------------------------------------------------------


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _order_state(order: Mapping[str, Any]) -> dict[str, Any]:
    address = {k: order["address"].get(k) or "" for k in _ADDRESS_FIELDS}
    return {
        "status": order["status"],
        "address": address,
        "items": sorted(
            [i["item_id"], _money(i["price"]), json.dumps(i["options"], sort_keys=True)]
            for i in order["items"]
        ),
        "payments": [
            [p["transaction_type"], _money(p["amount"]), p["payment_method_id"]]
            for p in order["payment_history"]
        ],
        **{k: order.get(k) for k in RECORDED if order.get(k) is not None},
    }


_ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def _variant(db: Mapping[str, Any], item_id: str) -> dict[str, Any]:
    for product in db["products"].values():
        if item_id in product["variants"]:
            return dict(product["variants"][item_id])
    raise KeyError(item_id)


def _apply(db: dict[str, Any], user: dict[str, Any], tool: str, args: Mapping[str, Any]) -> None:
    methods = user["payment_methods"]

    def credit(method_id: str, amount: float) -> None:
        if methods[method_id]["source"] == "gift_card":
            methods[method_id]["balance"] = _money(methods[method_id]["balance"] + amount)

    if tool == "modify_user_address":
        user["address"] = {k: args.get(k, "") for k in _ADDRESS_FIELDS}
        return
    order = db["orders"][args["order_id"]]
    if tool == "cancel_order":
        for payment in list(order["payment_history"]):
            order["payment_history"].append(
                {
                    "transaction_type": "refund",
                    "amount": payment["amount"],
                    "payment_method_id": payment["payment_method_id"],
                }
            )
            credit(payment["payment_method_id"], payment["amount"])
        order["status"] = "cancelled"
        order["cancel_reason"] = args["reason"]
    elif tool == "modify_order_address":
        order["address"] = {k: args.get(k, "") for k in _ADDRESS_FIELDS}
    elif tool == "modify_order_payment":
        old = order["payment_history"][0]
        amount, new_id = old["amount"], args["payment_method_id"]
        order["payment_history"] += [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": new_id},
            {
                "transaction_type": "refund",
                "amount": amount,
                "payment_method_id": old["payment_method_id"],
            },
        ]
        credit(new_id, -amount)
        credit(old["payment_method_id"], amount)
    elif tool in ("modify_order_items", "exchange_order_items"):
        new = [_variant(db, i) for i in args["new_item_ids"]]
        olds = []
        for item_id, variant in zip(args["item_ids"], new, strict=True):
            item = next(i for i in order["items"] if i["item_id"] == item_id and i not in olds)
            olds.append(item)
            item["_new"] = variant
        diff = _money(sum(i["_new"]["price"] - i["price"] for i in olds))
        if tool == "exchange_order_items":
            order["status"] = "exchange requested"
            order["exchange_items"] = sorted(args["item_ids"])
            order["exchange_new_items"] = sorted(args["new_item_ids"])
            order["exchange_payment_method_id"] = args["payment_method_id"]
            order["exchange_price_difference"] = diff
        else:
            order["payment_history"].append(
                {
                    "transaction_type": "payment" if diff > 0 else "refund",
                    "amount": abs(diff),
                    "payment_method_id": args["payment_method_id"],
                }
            )
            credit(args["payment_method_id"], -diff)
            for item in olds:
                item.update(
                    item_id=item["_new"]["item_id"],
                    price=item["_new"]["price"],
                    options=item["_new"]["options"],
                )
            order["status"] = "pending (item modified)"
        for item in olds:
            item.pop("_new", None)
    elif tool == "return_order_items":
        order["status"] = "return requested"
        order["return_items"] = sorted(args["item_ids"])
        order["return_payment_method_id"] = args["payment_method_id"]
    else:
        raise ValueError(f"Unknown gold tool {tool!r}")


def expected_state(db: Mapping[str, Any], task: OrderTask) -> dict[str, Any]:
    """The customer's records after the gold actions, by tau2's rules on a copy of db.json."""
    world = {"orders": copy.deepcopy(db["orders"]), "products": db["products"]}
    user = copy.deepcopy(db["users"][task.user])
    for tool, args in task.gold:
        _apply(world, user, tool, args)
    return json_state(world, user)


def json_state(world: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": {k: user["address"].get(k) or "" for k in _ADDRESS_FIELDS},
        "payment_methods": {
            m["id"]: (_money(m["balance"]) if m["source"] == "gift_card" else None)
            for m in user["payment_methods"].values()
        },
        "orders": {o: _order_state(world["orders"][o]) for o in user["orders"]},
    }


def database_state(engine: Engine, customer_id: str) -> dict[str, Any]:
    """The same shape read from Aisle's database after the conversation."""
    with Session(engine) as session:
        address = session.scalars(
            select(Address).where(Address.customer_id == customer_id, Address.is_default)
        ).first()
        methods = session.scalars(
            select(PaymentMethod).where(PaymentMethod.customer_id == customer_id)
        ).all()
        orders = session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .options(selectinload(Order.items), selectinload(Order.payments))
        ).all()
        out_orders = {}
        for order in orders:
            status = order.status
            if status == "pending" and order.details.get("items_modified"):
                status = "pending (item modified)"
            out_orders[order.id] = {
                "status": status,
                "address": {k: order.shipping_address.get(k) or "" for k in _ADDRESS_FIELDS},
                "items": sorted(
                    [i.variant_id, _money(i.price), json.dumps(dict(i.options), sort_keys=True)]
                    for item in [order.items]
                    for i in item
                ),
                "payments": [
                    [p.transaction_type, _money(p.amount), p.payment_method_id]
                    for p in order.payments
                ],
                **{k: order.details[k] for k in RECORDED if order.details.get(k) is not None},
            }
        return {
            "address": {k: (getattr(address, k) or "") if address else "" for k in _ADDRESS_FIELDS},
            "payment_methods": {
                m.id: (_money(m.balance or 0.0) if m.kind == "gift_card" else None) for m in methods
            },
            "orders": out_orders,
        }


def state_differences(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    out = [] if actual["address"] == expected["address"] else ["default address"]
    for kind in ("orders", "payment_methods"):
        for key in sorted(set(actual[kind]) | set(expected[kind])):
            if actual[kind].get(key) != expected[kind].get(key):
                out.append(f"{kind[:-1].replace('_', ' ')} {key}")
    return out


# -- the conversation driver ---------------------------------------------------------------------

Ask = Callable[[str, str | None], Any]  # (message, thread id) -> TurnResult


@dataclass(slots=True)
class TaskRun:
    task: OrderTask
    passed: bool = False
    differences: list[str] = field(default_factory=list)
    extraneous: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    error: str | None = None


def drive(task: OrderTask, ask: Ask) -> TaskRun:
    """Talk to the assistant as the task's customer; the run's writes are the ok write calls."""
    run = TaskRun(task)
    gold = {normal_call(tool, args) for tool, args in task.gold}
    answers = list(task.answers)
    message: str | None = task.message
    thread: str | None = None
    for _ in range(MAX_TURNS):
        if message is None:
            break
        result = ask(message, thread)
        thread = result.thread_id
        run.transcript.append((message, result.answer))
        run.latencies_ms.append(result.latency_ms)
        for call in result.tool_calls:
            made = normal_call(call.name, call.args)
            if call.name in WRITE_TOOLS and call.status == "ok" and made not in gold:
                run.extraneous.append(made)
        asked = [
            normal_call(c.name, c.args)
            for c in result.tool_calls
            if c.status == "needs_confirmation"
        ]
        if asked:
            message = "yes" if all(a in gold for a in asked) else "no"
            if message == "no":
                answers.clear()
        elif message == "no":
            message = None
        elif "?" in result.answer and answers:
            message = answers.pop(0)
        else:
            message = None
    return run


def run_task(engine: Engine, db: Mapping[str, Any], task: OrderTask, ask: Ask) -> TaskRun | None:
    """Drive `task` on the world in `engine` and score its end state against tau2's rules; None
    when the world's records of the customer are not db.json's to begin with (another world, or
    one a run has written to), so there is nothing to score against."""
    start = json_state(db, db["users"][task.user])
    if state_differences(database_state(engine, task.user), start):
        return None
    try:
        run = drive(task, ask)
    except Exception as exc:
        # A crash is a finding to report; the rest of the set still runs.
        run = TaskRun(task, error=f"{type(exc).__name__}: {exc}")
    run.differences = state_differences(database_state(engine, task.user), expected_state(db, task))
    run.passed = not run.differences and run.error is None
    return run
