"""The `local` brain: retail NLU and dialogue state decide the tool calls; the answer is composed
from the tool outputs, so every fact it states is grounded by construction. Fully offline.

A turn is one to three steps. The first interprets the message (intent, slots, references to
shown products), updates the dialogue state and asks for the tool calls an LLM would make. Order
changes need what the order holds before they can be stated exactly, so they take a lookup step
first (the order, then, for an exchange, the product's other variants). The last step composes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from agents.compose import compose
from agents.nlu.parser import Interpretation, Nlu
from agents.state import ConversationState, DialogueState, Step, ToolCallRequest
from tools.base import ToolOutcome, ToolSpec

# The tools an intent needs; an intent is open to a principal only when all of them are granted.
INTENT_TOOLS: dict[str, tuple[str, ...]] = {
    "search": ("search_products",),
    "refine": ("search_products",),
    "product_question": ("product_details",),
    "compare": ("compare_products",),
    "similar": ("similar_products",),
    "complete_look": ("complete_the_look",),
    "recommend": ("recommend_for_me",),
    "stock": ("stock_nearby",),
    "substitutes": ("in_stock_substitutes",),
    "policy": ("answer_from_documents",),
    "order_status": ("my_orders", "order_details"),
    "cancel_order": ("cancel_order",),
    "return_items": ("order_details", "return_order_items"),
    "exchange_items": ("order_details", "exchange_order_items"),
    "modify_order": ("order_details",),
    "customer_profile": ("customer_profile",),
    "customer_recommendations": ("customer_recommendations",),
    "why_short": ("why_short",),
    "confirm": (),
    "deny": (),
    "greeting": (),
    "thanks": (),
    # Asked of every role and answered with no tool: outside the shop's business, or a decision
    # that only a person makes in the approval queue.
    "out_of_scope": (),
    "staff_action": (),
}
_MISTAKE = re.compile(r"\bmistake|accident|wrong\b", re.I)
SEARCH_LIMIT = 5


def _call(name: str, **arguments: Any) -> ToolCallRequest:
    return ToolCallRequest(
        id=f"call-{uuid.uuid4().hex[:16]}",
        name=name,
        arguments={k: v for k, v in arguments.items() if v is not None},
    )


def allowed_intents(tools: Sequence[ToolSpec]) -> set[str]:
    names = {t.name for t in tools}
    return {intent for intent, needed in INTENT_TOOLS.items() if set(needed) <= names}


class LocalBrain:
    """Deterministic given its NLU: the same conversation always takes the same steps."""

    name = "local"

    def __init__(self, nlu: Nlu, version: str = "local-nlu-1") -> None:
        self.nlu = nlu
        self.version = version

    def decide(self, state: ConversationState, tools: Sequence[ToolSpec]) -> Step:
        text = state.messages[-1].content if state.messages else ""
        if state.steps == 0 and not state.outcomes:
            return self._plan(text, state.dialogue, tools)
        follow_up = self._follow_up(text, state)
        if follow_up is not None:
            return Step(tool_calls=follow_up)
        return compose(state)

    def _plan(self, text: str, dialogue: DialogueState, tools: Sequence[ToolSpec]) -> Step:
        allowed = allowed_intents(tools)
        every = set(INTENT_TOOLS)
        reading = self.nlu.interpret(text, dialogue, every)
        if reading.intent not in allowed:
            # Asked for something this role cannot do: say so rather than guess another intent.
            refused = dialogue.model_copy(update={"last_intent": f"refused:{reading.intent}"})
            return compose_only(refused)
        slots = dict(dialogue.slots)
        if reading.slots.order_id:
            slots["order_id"] = reading.slots.order_id
        focus = reading.products[0] if reading.products else dialogue.focus_product
        updated = dialogue.model_copy(
            update={"last_intent": reading.intent, "slots": slots, "focus_product": focus}
        )
        calls = self._calls(text, reading, updated)
        if calls is None:
            return compose_only(updated)
        if reading.intent in ("search", "refine"):
            updated.slots.update(calls[0].arguments)
        return Step(tool_calls=calls, dialogue=updated)

    def _calls(
        self, text: str, reading: Interpretation, dialogue: DialogueState
    ) -> list[ToolCallRequest] | None:
        intent, slots = reading.intent, reading.slots
        focus = dialogue.focus_product
        store = slots.store_id
        order_id = slots.order_id or dialogue.slots.get("order_id")
        if intent == "search":
            return [
                _call(
                    "search_products",
                    query=text,
                    store_id=store,
                    limit=SEARCH_LIMIT,
                    **slots.filters(),
                )
            ]
        if intent == "refine":
            base = {
                k: v
                for k, v in dialogue.slots.items()
                if k
                in (
                    "query",
                    "category",
                    "brand",
                    "colour",
                    "size",
                    "min_price",
                    "max_price",
                    "store_id",
                )
            }
            base.update(slots.filters())
            prices = dialogue.slots.get("shown_prices") or []
            if slots.cheaper and prices:
                base["max_price"] = round(min(prices) - 0.01, 2)
            if slots.pricier and prices:
                base["min_price"] = round(max(prices) + 0.01, 2)
            if store:
                base["store_id"] = store
            return [_call("search_products", limit=SEARCH_LIMIT, **base)]
        if intent == "product_question" and focus:
            return [
                _call("product_details", product_id=focus),
                _call("answer_from_documents", question=text, product_id=focus, k=2),
            ]
        if intent == "compare":
            ids = reading.products if len(reading.products) >= 2 else dialogue.shown_products[:2]
            return [_call("compare_products", product_ids=ids)] if len(ids) >= 2 else None
        if intent in ("similar", "complete_look") and focus:
            name = "similar_products" if intent == "similar" else "complete_the_look"
            return [_call(name, product_id=focus, limit=SEARCH_LIMIT)]
        if intent == "recommend":
            return [_call("recommend_for_me", limit=SEARCH_LIMIT, store_id=store)]
        if intent == "stock" and focus:
            return [_call("stock_nearby", product_id=focus, store_id=store)]
        if intent == "substitutes" and focus:
            return [_call("in_stock_substitutes", product_id=focus, store_id=store)]
        if intent == "policy":
            return [_call("answer_from_documents", question=text, doc_type="policy", k=3)]
        if intent == "order_status":
            if order_id:
                return [_call("order_details", order_id=order_id)]
            return [_call("my_orders")]
        if intent in ("cancel_order", "return_items", "exchange_items", "modify_order"):
            if not order_id:
                return [_call("my_orders")]  # which order? list them and ask
            if intent == "cancel_order":
                reason = "ordered by mistake" if _MISTAKE.search(text) else "no longer needed"
                return [_call("cancel_order", order_id=order_id, reason=reason)]
            # Returns, exchanges and changes read the order first: the items to name, the
            # payment to refund to, the state a change must start from.
            return [_call("order_details", order_id=order_id)]
        if intent in ("customer_profile", "customer_recommendations") and slots.customer_id:
            return [_call(intent, customer_id=slots.customer_id)]
        if intent == "why_short" and focus:
            return [_call("product_details", product_id=focus)]
        return None

    def _follow_up(self, text: str, state: ConversationState) -> list[ToolCallRequest] | None:
        """The next lookup or write of a multi-step intent, once the last step's output is in."""
        intent = state.dialogue.last_intent
        last = state.outcomes[-1] if state.outcomes else None
        if last is None or not last.ok or last.output is None:
            return None
        if intent == "return_items" and last.name == "order_details":
            order = last.output
            items = _mentioned_items(text, order["items"])
            return [
                _call(
                    "return_order_items",
                    order_id=order["order_id"],
                    item_ids=[i["item_id"] for i in items],
                    payment_method_id=_original_payment(order),
                )
            ]
        if intent == "exchange_items" and last.name == "order_details":
            items = _mentioned_items(text, last.output["items"])
            return [_call("product_details", product_id=items[0]["product_id"])]
        if intent == "exchange_items" and last.name == "product_details":
            order = _output_of(state.outcomes, "order_details")
            reading = self.nlu.extractor.extract(text)
            items = _mentioned_items(text, order["items"])
            new_id = _matching_variant(last.output, items[0], reading.colour, reading.size)
            if new_id is None:
                return None
            return [
                _call(
                    "exchange_order_items",
                    order_id=order["order_id"],
                    item_ids=[items[0]["item_id"]],
                    new_item_ids=[new_id],
                    payment_method_id=_original_payment(order),
                )
            ]
        if intent == "modify_order" and last.name == "order_details":
            change = _order_change(text, last.output["order_id"])
            return [change] if change is not None else None
        if intent == "why_short" and last.name == "product_details":
            variants = last.output.get("variants") or []
            if variants:
                # No store named: the tool takes the associate's own store from the principal.
                store = state.dialogue.slots.get("store_id")
                return [_call("why_short", variant_id=variants[0]["id"], location_id=store)]
        return None


_PAYMENT_ID = re.compile(r"\b(?:paypal|credit_card|gift_card)_\d+\b")
_ADDRESS = re.compile(
    r"(?P<address1>\b\d+\s+[A-Za-z][^,]*?),\s*(?:(?P<address2>(?:apt|suite|unit)[^,]*),\s*)?"
    r"(?P<city>[A-Za-z .'-]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})"
    r"(?:,\s*(?P<country>[A-Za-z .]+?))?\s*(?:instead)?[.!]?$",
    re.I,
)


def _order_change(text: str, order_id: str) -> ToolCallRequest | None:
    """The pending-order change the message spells out in full: a payment method the shopper
    names by id, or a complete street address. Anything less needs a question first."""
    if m := _PAYMENT_ID.search(text):
        return _call("modify_order_payment", order_id=order_id, payment_method_id=m.group(0))
    if m := _ADDRESS.search(text):
        parts = {k: (v or "").strip() for k, v in m.groupdict().items()}
        return _call(
            "modify_order_address",
            order_id=order_id,
            address1=parts["address1"],
            address2=parts["address2"],
            city=parts["city"],
            state=parts["state"].upper(),
            country=parts["country"] or "USA",
            zip=parts["zip"],
        )
    return None


def compose_only(dialogue: DialogueState) -> Step:
    """An answer that needs no tool: composed from the dialogue state alone."""
    return compose(ConversationState(dialogue=dialogue))


def _output_of(outcomes: Sequence[ToolOutcome], name: str) -> dict[str, Any]:
    for outcome in reversed(outcomes):
        if outcome.name == name and outcome.output is not None:
            return outcome.output
    return {}


def _mentioned_items(text: str, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The order's items the message names (by a word of their name); all of them if none."""
    words = {w.rstrip("s") for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}
    named = [
        item
        for item in items
        if words & {w.rstrip("s") for w in re.findall(r"[a-z]+", str(item["name"]).lower())}
    ]
    return named or list(items)


def _original_payment(order: Mapping[str, Any]) -> str | None:
    for payment in order.get("payments", []):
        if payment.get("transaction_type") == "payment":
            return str(payment["payment_method_id"])
    return None


def _matching_variant(
    product: Mapping[str, Any], item: Mapping[str, Any], colour: str | None, size: str | None
) -> str | None:
    """Another available variant of the product with the asked colour and/or size that keeps
    as many of the item's other options as it can (a white helmet in the same size and
    ventilation, not just any white one)."""
    wanted = {k: v for k, v in (("color", colour), ("size", size)) if v}
    if not wanted:
        return None
    kept = {str(k).lower(): str(v).lower() for k, v in item.get("options", {}).items()}
    best: tuple[int, str] | None = None
    for variant in product.get("variants", []):
        options = {str(k).lower(): str(v).lower() for k, v in variant.get("options", {}).items()}
        if variant["id"] == item["item_id"] or not variant.get("available", True):
            continue
        if all(options.get(k) == v for k, v in wanted.items()):
            same = sum(options.get(k) == v for k, v in kept.items() if k not in wanted)
            if best is None or same > best[0]:
                best = (same, str(variant["id"]))
    return best[1] if best else None
