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
from collections.abc import Sequence
from typing import Any

from agents.brains import orders
from agents.compose import compose
from agents.nlu.acts import classify
from agents.nlu.parser import (
    ORDER_INTENTS,
    PRODUCT_INTENTS,
    Interpretation,
    Nlu,
    account_parts,
    asks_recommendations,
    order_question,
    refers_to_order,
)
from agents.nlu.query import phrase_key, policy_words
from agents.state import Answer, ConversationState, DialogueState, Step, ToolCallRequest
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
    "cancel_order": ("my_orders", "order_details", "cancel_order"),
    "return_items": ("my_orders", "order_details", "return_order_items"),
    "exchange_items": ("my_orders", "order_details", "exchange_order_items"),
    "modify_order": ("my_orders", "order_details", "my_account"),
    # What is on file for the shopper, read only ("what address do you have for me?").
    "account": ("my_account",),
    # A change to what is on file that no tool makes ("update my email"): said, not guessed at.
    "account_change": ("my_account",),
    "customer_profile": ("customer_profile",),
    "find_customer": ("find_customers", "customer_profile"),
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
SEARCH_LIMIT = 5
# Customers a look-up by name lists when several match.
CUSTOMERS_LISTED = 5
MAX_QUESTIONS = 3
_ALL_ORDERS = re.compile(r"\b(?:orders|order history)\b", re.I)
_ORDER_WORD = re.compile(r"\b(?:orders?|package|purchase)\b", re.I)
_MANY = re.compile(r"\b(?:them|these|those|any|all|some)\b", re.I)
_LEADING_AND = re.compile(r"^\W*(?:and|also|plus)\b\W*", re.I)
# A message that opens with a request of its own ("show me my orders") is no answer to the
# question an order request asked, even without a question mark.
_OWN_REQUEST = re.compile(
    r"^\W*(?:(?:please|ok(?:ay)?|now|and|also),? )?(?:show|list|find|search|look for|tell me"
    r"|what|where|when|how|do you|can you|could you|i(?:'d| would) like to see)\b",
    re.I,
)
# Words that turn a reply to "which order?" into a request of its own, wherever they stand
# ("actually, show me rain jackets", "I need a tent instead").
_ANEW = re.compile(
    r"\b(?:instead|actually|show me|looking for|do you (?:have|sell)|(?:what|how) about"
    r"|i (?:need|want|'d like|would like) (?:a|an|some|new)|i'm after)\b",
    re.I,
)
# A reply naming a product by "the ... one", "that", "it", "them" points at something listed.
_DEFINITE = re.compile(r"\b(?:the|that|this|it|one|ones|them|they|these|those)\b", re.I)
CHANGE_QUESTION = (
    "Nothing was changed. What should be different? Tell me the change in full (for example "
    "'refund it to my gift card') and I'll ask you to confirm again."
)


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
        if state.dialogue.last_intent in ORDER_INTENTS and _only_reads(state.outcomes):
            request = str(state.dialogue.slots.get("order_request") or text)
            return self._order_step(request, state.outcomes, state.dialogue)
        if state.dialogue.last_intent == "order_status":
            step = _order_named(text, state)
            if step is not None:
                return step
        follow_up = self._follow_up(text, state)
        if follow_up is not None:
            return Step(tool_calls=follow_up)
        found = _customer_found(text, state)
        if found is not None:
            return found
        return compose(state)

    def _order_step(
        self, request: str, outcomes: Sequence[ToolOutcome], dialogue: DialogueState
    ) -> Step:
        """The next step of a whole order request: lookups, the writes, or a question (and the
        request is kept, so that the answer continues it)."""
        step = orders.plan(request, outcomes)
        slots = {**dialogue.slots, "order_request": request, "order_asked": False}
        if step.question is not None:
            # A question's answer continues the request; a refusal ends it.
            slots["order_asked"] = "?" in step.question
            slots["order_asked_text"] = step.question
            asked = dialogue.model_copy(update={"slots": slots})
            dropped = dialogue.answered in ("deny", "mixed", "unrelated")
            text = f"Nothing was changed. {step.question}" if dropped else step.question
            return Step(answer=Answer(text=text), dialogue=asked)
        updated = dialogue.model_copy(update={"slots": slots})
        if step.calls:
            return Step(tool_calls=step.calls, dialogue=updated)
        return compose(ConversationState(dialogue=updated, outcomes=list(outcomes)))

    def _new_search(self, text: str, question: str) -> bool:
        """Whether a reply to `question`, asked about an order, asks for products of its own
        ("rain jackets please"): a product type named that the question's listing does not
        name, and no pointer at what was listed ("the tent one", "the one with the water
        bottle", "water bottle" answer the question)."""
        if _DEFINITE.search(text) or orders.answers_question(text):
            return False
        reading = self.nlu.queries.read(text)
        if reading.unsold and not orders.read_actions(text):
            return True  # "hammocks please": a thing the store does not sell, no order's item
        listed = f" {phrase_key(question)} "
        return bool(reading.types) and not any(
            f" {phrase_key(t)} " in listed for t in reading.type_words
        )

    def _plan(self, text: str, dialogue: DialogueState, tools: Sequence[ToolSpec]) -> Step:
        allowed = allowed_intents(tools)
        every = set(INTENT_TOOLS)
        act = classify(text) if dialogue.answered else None
        if act is not None and act.change and dialogue.slots.get("order_request"):
            # "yes, but the other one": a change to what was waiting. Guessing it could propose
            # the same write again for a yes meant for something else, so the shopper says it
            # in full and the answer continues the request.
            slots = {**dialogue.slots, "order_asked": True}
            asked = dialogue.model_copy(update={"slots": slots, "last_intent": None})
            return Step(answer=Answer(text=CHANGE_QUESTION), dialogue=asked)
        if act is not None and dialogue.answered in ("deny", "mixed", "unrelated"):
            # What the reply said besides its yes or no is handled as a message of its own.
            text = act.rest or text
        elif (
            dialogue.slots.get("order_asked")
            and "?" not in text
            and not _OWN_REQUEST.search(text)
            and not _ANEW.search(text)
            and (classify(text).kind == "unrelated" or orders.answers_question(text))
            and not self._new_search(text, str(dialogue.slots.get("order_asked_text") or ""))
        ):
            # The answer to the question asked about an order request continues that request.
            text = f"{dialogue.slots['order_request']} {text}"
        # A customer's name is looked for only where the grants allow a look-up: for anyone
        # else, the same words mean what they would mean without it.
        readable = every if "find_customer" in allowed else every - {"find_customer"}
        reading = self.nlu.interpret(text, dialogue, readable)
        if reading.intent not in allowed:
            # Asked for something this role cannot do: say so rather than guess another intent.
            refused = dialogue.model_copy(update={"last_intent": f"refused:{reading.intent}"})
            return compose_only(refused)
        if (
            reading.intent in PRODUCT_INTENTS
            and reading.slots.ordinals
            and not reading.products
            and dialogue.shown_products
        ):
            # "the second one" after a single product: ask, rather than answer about the first.
            return compose_only(dialogue.model_copy(update={"last_intent": "no_such_position"}))
        slots = {**dialogue.slots, "order_asked": False}
        talked_about = dialogue.slots.get("order_id")
        if reading.intent in ORDER_INTENTS:
            if talked_about and not reading.slots.order_id and refers_to_order(text):
                # "cancel that whole order": the order the dialogue is about, named for the
                # request and for the question it may ask; "return it", "they don't fit":
                # the items of it the talk was about, when it was about some.
                items = dialogue.slots.get("order_items") or []
                if items and not _ORDER_WORD.search(text):
                    talked_about = f"{talked_about}: the {' and the '.join(items)}"
                text = f"{text} ({talked_about})"
            slots["order_request"] = text
        slots["order_question"] = order_question(text) if reading.intent == "order_status" else None
        slots["account_parts"] = account_parts(text) if reading.intent == "account" else None
        slots["asks_sale"] = reading.rule == "on_sale"
        # A bound below zero is left out of the search, and the answer says so (`compose`).
        slots["negative_prices"] = reading.query.negative_prices
        if reading.slots.order_id:
            slots["order_id"] = reading.slots.order_id
            slots.pop("order_items", None)
        if reading.slots.customer_id:
            slots["customer_id"] = reading.slots.customer_id
        # A SKU or product id typed in the message wins over the product the thread was on; a
        # product named or pointed at afresh leaves the SKU talked about before.
        typed = reading.products[0] if reading.products else reading.slots.product_id
        if reading.slots.sku:
            slots["sku"] = reading.slots.sku
        elif typed or reading.intent in ("search", "refine"):
            slots.pop("sku", None)
        # Where the stock is asked about ("online", "at Boulder"); none named is the associate's
        # own store, which the tools take from the principal.
        slots["location_id"] = reading.slots.location_id
        focus = typed or dialogue.focus_product
        updated = dialogue.model_copy(
            update={"last_intent": reading.intent, "slots": slots, "focus_product": focus}
        )
        calls = self._calls(text, reading, updated, asked_about=dialogue.last_intent)
        if calls is None:
            return compose_only(updated)
        if reading.intent == "search" or reading.query.types:
            updated.query_label = reading.query.label
        return Step(tool_calls=calls, dialogue=updated)

    def _calls(
        self,
        text: str,
        reading: Interpretation,
        dialogue: DialogueState,
        asked_about: str | None = None,
    ) -> list[ToolCallRequest] | None:
        """The tool calls for this turn's intent; `asked_about`: the intent of the turn before
        (a comparative after a question about one product is of that product)."""
        intent, slots = reading.intent, reading.slots
        focus = dialogue.focus_product
        store = slots.store_id
        if intent in ("search", "refine"):
            previous = dialogue.query if intent == "refine" else None
            shown_prices = dialogue.slots.get("shown_prices") or []
            # A comparative ("lighter", "cheaper") is of the products named, else of the one
            # just asked about ("tell me about the second one", then "a cheaper one?"), else of
            # those shown; the search reads the prices of any but the ones the cards showed.
            shown = dialogue.shown_products
            if reading.products:
                shown, shown_prices = reading.products, []
            elif asked_about == "product_question" and focus and len(shown) > 1:
                shown, shown_prices = [focus], []
            query = self.nlu.queries.apply(reading.query, text, previous, shown_prices, shown)
            if store:
                query = query.model_copy(update={"store_id": store})
            return [_call("search_products", **query.model_dump(exclude_defaults=True))]
        if reading.rule == "on_sale":
            # One product when the message points at one, else every product just listed.
            one = reading.products or ([focus] if focus and not _MANY.search(text) else [])
            ids = one or dialogue.shown_products[:SEARCH_LIMIT]
            return [_call("product_details", product_id=p) for p in ids] or None
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
        sku = dialogue.slots.get("sku")
        if intent == "stock" and (sku or focus):
            # "graphite large": only that SKU of the product; a colour or size named after a SKU
            # asks about the product's other SKUs.
            colour = reading.query.colours[0] if reading.query.colours else None
            size = reading.query.sizes[0] if reading.query.sizes else None
            if sku and (slots.sku or not (colour or size)):
                return [_call("stock_nearby", variant_id=sku, store_id=store)]
            if focus:
                asked = {"colour": colour, "size": size}
                return [_call("stock_nearby", product_id=focus, store_id=store, **asked)]
        if intent == "substitutes" and slots.sku:
            # "what else for P00017-BLK-S?": the SKU typed, not the product the thread was on.
            return [_call("in_stock_substitutes", variant_id=slots.sku, store_id=store)]
        if intent == "substitutes" and focus:
            return [_call("in_stock_substitutes", product_id=focus, store_id=store)]
        if intent == "policy":
            # "can I send it back? and how much is shipping?" asks about two sections: each
            # question is looked up on its own, so that neither crowds the other out.
            return [
                _call("answer_from_documents", question=question, doc_type="policy", k=3)
                for question in questions(text)
            ]
        if intent == "account":
            return [_call("my_account")]
        if intent == "order_status":
            if slots.order_id:
                return [_call("order_details", order_id=slots.order_id)]
            # Else their orders first: an item the message names picks the order, before the
            # order the talk was about ("track my espresso machine order"); see _follow_up.
            return [_call("my_orders")]
        if intent in ORDER_INTENTS:
            # The shopper's orders and account first, then the orders involved, then the
            # products of items to swap, then every write at once (agents/brains/orders.py).
            return orders.plan(text, []).calls or [_call("my_orders")]
        if intent == "find_customer" and slots.customer_name:
            return [_call("find_customers", query=slots.customer_name, limit=CUSTOMERS_LISTED)]
        customer = slots.customer_id or dialogue.slots.get("customer_id")
        if intent in ("customer_profile", "customer_recommendations") and customer:
            return [_call(intent, customer_id=customer)]
        if intent == "why_short" and sku:
            return [_call("why_short", variant_id=sku, location_id=slots.location_id)]
        if intent == "why_short" and focus:
            return [_call("product_details", product_id=focus)]
        return None

    def _follow_up(self, text: str, state: ConversationState) -> list[ToolCallRequest] | None:
        """The next lookup or write of a multi-step intent, once the last step's output is in."""
        intent = state.dialogue.last_intent
        last = state.outcomes[-1] if state.outcomes else None
        if last is None or not last.ok or last.output is None:
            return None
        if intent == "why_short" and last.name == "product_details":
            variants = last.output.get("variants") or []
            if variants:
                # No store named: the tool takes the associate's own store from the principal.
                store = state.dialogue.slots.get("location_id")
                return [_call("why_short", variant_id=variants[0]["id"], location_id=store)]
        return None


def questions(text: str) -> list[str]:
    """The questions a message asks, each whole and in the policies' words ("..., can I
    return it?", "what does shipping cost?"); the message itself when it asks one."""
    parts = [_LEADING_AND.sub("", p).strip() for p in text.split("?")]
    asked = [p for p in parts if len(p.split()) >= 2]
    return [policy_words(q) for q in (asked[:MAX_QUESTIONS] if len(asked) > 1 else [text])]


def _order_named(text: str, state: ConversationState) -> Step | None:
    """After the shopper's orders are read for a question about them: the order holding the
    item the message names, else the order the talk was about ("what did I pay for it?"), else
    none (the list answers "show me my orders")."""
    last = state.outcomes[-1]
    if len(state.outcomes) != 1 or last.name != "my_orders" or not last.ok or last.output is None:
        return None
    dialogue = state.dialogue
    slots = dict(dialogue.slots)
    found = orders.orders_naming(text, last.output)
    if found:
        slots["order_items"] = sorted({name for _, names in found for name in names})
        ids = [order_id for order_id, _ in found[:MAX_QUESTIONS]]
    elif slots.get("order_id") and not _ALL_ORDERS.search(text):
        ids = [str(slots["order_id"])]
    else:
        slots.pop("order_items", None)
        ids = []
    if not ids:
        return None
    updated = dialogue.model_copy(update={"slots": slots})
    return Step(tool_calls=[_call("order_details", order_id=i) for i in ids], dialogue=updated)


def _customer_found(text: str, state: ConversationState) -> Step | None:
    """After a look-up by name, the one customer it found (or the one whose whole name it is):
    their profile, or recommendations for them when those were asked for; the customer is
    then the one "her" or "him" means. None when none or several match (the answer lists
    them)."""
    last = state.outcomes[-1]
    if last.name != "find_customers" or not last.ok or last.output is None:
        return None
    matches = last.output.get("customers", [])
    asked = str(last.output.get("query", "")).lower()
    exact = [c for c in matches if str(c.get("name", "")).lower() == asked]
    one = matches if last.output.get("total") == 1 else exact
    if len(one) != 1:
        return None
    customer = str(one[0]["customer_id"])
    slots = {**state.dialogue.slots, "customer_id": customer}
    wants = "customer_recommendations" if asks_recommendations(text) else "customer_profile"
    updated = state.dialogue.model_copy(update={"slots": slots})
    return Step(tool_calls=[_call(wants, customer_id=customer)], dialogue=updated)


def compose_only(dialogue: DialogueState) -> Step:
    """An answer that needs no tool: composed from the dialogue state alone."""
    return compose(ConversationState(dialogue=dialogue))


def _only_reads(outcomes: Sequence[ToolOutcome]) -> bool:
    """Whether the turn so far only looked things up (an order request goes on from there)."""
    return bool(outcomes) and all(
        not o.writes and o.status != "needs_confirmation" for o in outcomes
    )
