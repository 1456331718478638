"""Whole order requests for the local brain: one message, several actions, each on its own order.

A request is read into actions (cancel, return, swap an item's options, change a pending order's
address or payment, change the shopper's default address), each with the words that name its
order (an id, or what the order holds), its items (by name, or by exclusion: "everything but the
tablet"), the options asked for, the payment method in words ("my gift card", "the visa ending
9212", "the original card") and a cancellation's reason. Each step re-reads the request against
what the tools have returned so far and asks for what is still missing: the shopper's orders and
account, then the details of every order involved, then the products of the items to swap; then
it makes every write at once, so the whole set is confirmed with one yes. What cannot be decided
from the words and the shopper's own records becomes a question, never a guess.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.state import ToolCallRequest
from tools.base import ToolOutcome

ORDER_ID = re.compile(r"#?\bW\d{7}\b", re.I)
_VERBS = re.compile(
    r"\b(?P<cancel>cancel)\b|\b(?P<ret>return|send\b.{0,40}?\bback|refund me)"
    r"|\b(?P<swap>exchange|swap|change|switch)\b"
    r"|\b(?P<pay>pay(?:ing)?\b|payment"
    r"|use\b(?=[^.]{0,30}\b(?:gift card|paypal|visa|mastercard|amex|card)\b))"
    r"|\b(?P<address>ship|deliver|address|moved)",
    re.I,
)
_SWAP_OBJECT = re.compile(r"\b(?:address|shipping|payment|card|paypal)\b", re.I)
_USER_ADDRESS = re.compile(
    r"\b(?:default|my) address\b|\baccount\b|\bi moved\b|\bmy address\b", re.I
)
_ADDRESS = re.compile(
    r"(?P<address1>\b\d+\s+[A-Za-z][^,]*?),\s*(?:(?P<address2>(?:apt|suite|unit|#)[^,]*),\s*)?"
    r"(?P<city>[A-Za-z .'-]+?),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})"
    r"(?:,\s*(?P<country>USA|US|United States))?",
    re.I,
)
_MISTAKE = re.compile(r"\bmistake|accident|wrong(?:ly)?\b|by error", re.I)
_NOT_NEEDED = re.compile(
    r"\b(?:no longer|don'?t|do not|dont|not)\s+(?:need|want)|changed my mind|not needed|"
    r"no need|no longer need",
    re.I,
)
_EXCEPT = re.compile(
    r"\b(?:everything|all|the rest)\b[^.;]*?\b(?:but|except)\b(?P<kept>[^.;,]*)", re.I
)
_ALL_PENDING = re.compile(r"\ball (?:my |of my |the )?pending orders\b", re.I)
_CARD_END = re.compile(r"\bending (?:in |with )?(\d{4})\b", re.I)
_WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
STATUS_FOR = {
    "cancel": ("pending",),
    "ret": ("delivered",),
    "swap": ("pending", "delivered"),
    "pay": ("pending", "pending (item modified)"),
    "address": ("pending", "pending (item modified)"),
}
REASONS = ("no longer needed", "ordered by mistake")


def call(name: str, **arguments: Any) -> ToolCallRequest:
    return ToolCallRequest(
        id=f"call-{uuid.uuid4().hex[:16]}",
        name=name,
        arguments={k: v for k, v in arguments.items() if v is not None},
    )


@dataclass(slots=True)
class Action:
    """One thing the shopper asked for, as the words say it."""

    kind: str  # cancel | ret | swap | pay | address | user_address
    text: str
    order_ids: list[str] = field(default_factory=list)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if len(w) > 2}


def read_actions(text: str) -> list[Action]:
    """The actions in the request, each with its own stretch of words (up to the next verb)."""
    marks = [
        (m.start(), next(k for k, v in m.groupdict().items() if v)) for m in _VERBS.finditer(text)
    ]
    actions: list[Action] = []
    for n, (start, kind) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(text)
        stretch = text[start:end]
        if kind == "swap" and (near := _SWAP_OBJECT.search(text[start : start + 40])):
            # "change the shipping address", "switch the payment": not an item swap
            kind = (
                "address"
                if near.group(0).lower() == "address" or near.group(0).lower().startswith("ship")
                else "pay"
            )
        previous = actions[-1] if actions else None
        if previous is not None and (
            kind == previous.kind or (kind == "pay" and previous.kind in ("ret", "swap", "cancel"))
        ):
            previous.text += stretch  # "refund to my gift card" belongs to the return
            continue
        actions.append(Action(kind, stretch))
    # An order id before the first verb ("#W1: cancel it") belongs to the first action.
    head = text[: marks[0][0]] if marks else text
    for action in actions:
        action.order_ids = ["#" + i.lstrip("#").upper() for i in ORDER_ID.findall(action.text)]
    if actions and not actions[0].order_ids:
        actions[0].order_ids = ["#" + i.lstrip("#").upper() for i in ORDER_ID.findall(head)]
    for action in actions:
        if action.kind == "address" and not ORDER_ID.search(text) and _USER_ADDRESS.search(text):
            action.kind = "user_address"
    # The verbs alone say nothing: an id with no verb near it, or "ship" with no address.
    return [
        a for a in actions if a.kind not in ("address", "user_address") or _ADDRESS.search(text)
    ]


def reason_of(text: str) -> str | None:
    if _MISTAKE.search(text):
        return "ordered by mistake"
    if _NOT_NEEDED.search(text):
        return "no longer needed"
    return None


def address_of(text: str) -> dict[str, str] | None:
    m = _ADDRESS.search(text)
    if m is None:
        return None
    parts = {k: (v or "").strip() for k, v in m.groupdict().items()}
    return {
        "address1": parts["address1"],
        "address2": parts["address2"],
        "city": parts["city"],
        "state": parts["state"].upper(),
        "country": "USA" if parts["country"] in ("", "US", "United States") else parts["country"],
        "zip": parts["zip"],
    }


def _outputs(outcomes: Sequence[ToolOutcome], name: str) -> list[dict[str, Any]]:
    return [o.output for o in outcomes if o.name == name and o.ok and o.output is not None]


def _method(text: str, account: Mapping[str, Any], original: str | None) -> str | None:
    """The payment method the words name; the original one when they name none."""
    lowered = text.lower()
    methods = account.get("payment_methods", [])
    if m := _CARD_END.search(lowered):
        found = [p for p in methods if p.get("last_four") == m.group(1)]
        return str(found[0]["payment_method_id"]) if found else None
    for words, kind in (("gift card", "gift_card"), ("paypal", "paypal")):
        if words in lowered:
            found = [p for p in methods if p["kind"] == kind]
            return str(found[0]["payment_method_id"]) if len(found) == 1 else None
    for brand in ("visa", "mastercard", "amex", "discover", "credit card"):
        if brand in lowered:
            found = [
                p
                for p in methods
                if p["kind"] == "credit_card"
                and (brand == "credit card" or p.get("brand") == brand)
            ]
            return str(found[0]["payment_method_id"]) if len(found) == 1 else None
    return original


def _original(order: Mapping[str, Any]) -> str | None:
    for payment in order.get("payments", []):
        if payment.get("transaction_type") == "payment":
            return str(payment["payment_method_id"])
    return None


def _named_items(text: str, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The order's items the words name, or all but the ones excluded; none when none named."""
    if m := _EXCEPT.search(text):
        kept = _words(m.group("kept"))
        return [i for i in items if not kept & _words(str(i["name"]))]
    words = _words(text)
    return [i for i in items if _words(str(i["name"])) <= words]


def _variant(product: Mapping[str, Any], item: Mapping[str, Any], text: str) -> str | None:
    """The available variant of the item's product with every option value the words name,
    keeping as many of the item's other options as it can."""
    lowered = " " + " ".join(_WORD.findall(text.lower())) + " "
    current = {str(k): str(v).lower() for k, v in item.get("options", {}).items()}
    values = {
        str(v).lower()
        for variant in product.get("variants", [])
        for v in variant.get("options", {}).values()
    }
    named = {v for v in values if f" {' '.join(_WORD.findall(v))} " in lowered}
    wanted = named - set(current.values())
    if not wanted:
        return None
    best: tuple[int, str] | None = None
    for variant in product.get("variants", []):
        options = {str(k): str(v).lower() for k, v in variant.get("options", {}).items()}
        if variant["id"] == item["item_id"] or not variant.get("available", True):
            continue
        if not wanted <= set(options.values()):
            continue
        kept = sum(options.get(k) == v for k, v in current.items())
        if best is None or kept > best[0]:
            best = (kept, str(variant["id"]))
    return best[1] if best else None


@dataclass(slots=True)
class Plan:
    """The next tool calls, or the question to ask (one of the two), or nothing (compose)."""

    calls: list[ToolCallRequest] = field(default_factory=list)
    question: str | None = None


def plan(text: str, outcomes: Sequence[ToolOutcome]) -> Plan:
    """The next step of the request `text` given this turn's outcomes so far."""
    actions = read_actions(text)
    if _ALL_PENDING.search(text) and not any(a.kind != "cancel" for a in actions):
        actions = [Action("cancel", text, ["*pending"])]
    if not actions:
        return Plan()
    made = {o.name for o in outcomes}
    if "my_orders" not in made:
        first = [call("my_orders", limit=50), call("my_account")]
        named_ids = {i for a in actions for i in a.order_ids if i.startswith("#")}
        return Plan(first + [call("order_details", order_id=i) for i in sorted(named_ids)])
    listing = (_outputs(outcomes, "my_orders") or [{}])[0].get("orders", [])
    account = (_outputs(outcomes, "my_account") or [{}])[0]
    details = {str(o["order_id"]): o for o in _outputs(outcomes, "order_details")}
    products = {str(p["id"]): p for p in _outputs(outcomes, "product_details")}
    # Which order each action is on: its id, or the shopper's one order that fits by status and
    # by the products the words name.
    targets: list[tuple[Action, list[str]]] = []
    for action in actions:
        if action.kind == "user_address":
            targets.append((action, []))
            continue
        if action.order_ids == ["*pending"]:
            targets.append((action, [o["order_id"] for o in listing if o["status"] == "pending"]))
            continue
        if action.order_ids:
            targets.append((action, action.order_ids))
            continue
        fits = [o for o in listing if o["status"] in STATUS_FOR[action.kind]]
        words = _words(action.text)
        named = [o for o in fits if any(_words(n) <= words for n in o.get("product_names", []))]
        chosen = named if named else (fits if len(fits) == 1 and action.kind != "swap" else [])
        if len(chosen) != 1:
            listed = ", ".join(
                f"{o['order_id']} ({', '.join(o.get('product_names', [])[:3])})" for o in fits[:6]
            )
            return Plan(
                question=f"Which order do you mean? Your {'/'.join(STATUS_FOR[action.kind])} "
                f"orders: {listed or 'none'}."
            )
        targets.append((action, [chosen[0]["order_id"]]))
    missing = sorted({i for _, ids in targets for i in ids if i not in details})
    if missing:
        if _asked(outcomes, missing):
            return Plan()  # looked up and not found: the answer says so
        return Plan([call("order_details", order_id=i) for i in missing])
    needed = []
    for action, ids in targets:
        if action.kind == "swap":
            for item in _named_items(action.text, details[ids[0]]["items"]):
                if item["product_id"] not in products:
                    needed.append(str(item["product_id"]))
    if needed:
        if any(o.name == "product_details" for o in outcomes):
            return Plan()
        return Plan([call("product_details", product_id=p) for p in sorted(set(needed))])
    calls: list[ToolCallRequest] = []
    for action, ids in targets:
        step = _write(action, ids, details, products, account, text)
        if isinstance(step, str):
            return Plan(question=step)
        calls.extend(step)
    return Plan(calls)


def _asked(outcomes: Sequence[ToolOutcome], ids: Sequence[str]) -> bool:
    """Whether these orders were already looked up this turn (and not found)."""
    looked = {o.arguments.get("order_id") for o in outcomes if o.name == "order_details"}
    return set(ids) <= looked


def _write(
    action: Action,
    ids: list[str],
    details: Mapping[str, Mapping[str, Any]],
    products: Mapping[str, Mapping[str, Any]],
    account: Mapping[str, Any],
    request: str,
) -> list[ToolCallRequest] | str:
    """The write calls of one action, or the question that stands in their way."""
    if action.kind == "user_address":
        address = address_of(action.text)
        return [call("modify_user_address", **address)] if address else "What is the new address?"
    if action.kind == "cancel":
        # The reason may come before the verb ("I don't need it, so cancel it").
        reason = reason_of(action.text) or reason_of(request)
        if reason is None:
            which = ", ".join(ids)
            return (
                f"Why do you want to cancel {which}: is it no longer needed, or was it ordered "
                "by mistake?"
            )
        return [call("cancel_order", order_id=i, reason=reason) for i in ids]
    order = details[ids[0]]
    original = _original(order)
    if action.kind == "address":
        address = address_of(action.text)
        if address is None:
            return f"What is the new address for order {ids[0]}?"
        return [call("modify_order_address", order_id=ids[0], **address)]
    method = _method(action.text, account, original)
    if method is None:
        return "Which of your payment methods should I use?"
    if action.kind == "pay":
        return [call("modify_order_payment", order_id=ids[0], payment_method_id=method)]
    items = _named_items(action.text, order["items"])
    if action.kind == "ret":
        items = items or list(order["items"])
        return [
            call(
                "return_order_items",
                order_id=ids[0],
                item_ids=[str(i["item_id"]) for i in items],
                payment_method_id=method,
            )
        ]
    if not items:
        return f"Which item of order {ids[0]} do you want to change?"
    new_ids = []
    for item in items:
        product = products.get(str(item["product_id"]), {})
        new_id = _variant(product, item, action.text)
        if new_id is None:
            return f"Which option of the {item['name']} would you like instead?"
        new_ids.append(new_id)
    tool = "exchange_order_items" if order["status"] == "delivered" else "modify_order_items"
    return [
        call(
            tool,
            order_id=ids[0],
            item_ids=[str(i["item_id"]) for i in items],
            new_item_ids=new_ids,
            payment_method_id=method,
        )
    ]
