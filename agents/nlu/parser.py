"""From a message and the dialogue state to an interpretation: intent, slots, referenced products.

The classifier proposes an intent; a few rules that read the slots decide where the words leave
no doubt (an order id with "cancel", a bare "yes" to a pending action, "in blue" right after a
list of products). References such as "the second one", "it" or a product's name resolve against
the products the conversation has shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agents.brains.orders import address_of, read_actions
from agents.nlu.acts import classify
from agents.nlu.intents import (
    Encoder,
    IntentClassifier,
    load_utterances,
    served_intent_classifier,
)
from agents.nlu.query import QueryParser, QueryReading, plain_words
from agents.nlu.slots import SlotExtractor, Slots
from agents.state import DialogueState
from ml_core.recommend.features import model_words
from retail.product_query import words
from tools.vocabulary import Vocabulary

_RECOMMEND = re.compile(r"\b(?:recommend|suggest|would (?:\w+ )?like|suit|pick)\w*", re.I)
_POLICY = re.compile(r"\b(?:polic(?:y|ies)|rules?|how (?:do|does|can) (?:i|you|returns?))\b", re.I)
_COMPARE = re.compile(r"\b(?:compare|comparison|versus|vs\.?|difference between)\b", re.I)
_IN_STOCK = re.compile(r"\b(?:in stock|available|have (?:it|them|one|any) (?:at|in))\b", re.I)
# Words about the shopper's own things, which no question about the rules uses.
_OWN = re.compile(
    r"\b(?:my|mine|it|them|i (?:got|bought|ordered|received)|i'?ve (?:got|bought|ordered)"
    r"|i(?:'ve| have)? moved)\b",
    re.I,
)
# A question about what the shop allows, put as a case that may happen ("if I open something,
# can I send it back?", "can I return a blender after opening it?"): the words a shopper uses to
# ask about the rules for a thing they have not named as theirs.
_HYPOTHETICAL = re.compile(
    r"\b(?:if (?:i|you|we|it)|what if|something|anything|(?:return|send back|exchange)"
    r" (?:a|an|any)|(?:a|an) (?:opened|used|worn|unopened) \w+)\b",
    re.I,
)
_ASKS = re.compile(
    r"\b(?:(?:can|could|may|do|does|will|would) (?:i|you|we)|how (?:much|long|many)"
    r"|is (?:it|there))\b",
    re.I,
)
# The shopper's own purchases: "my", "I bought", which a hypothetical question does not use.
_OWNED = re.compile(
    r"\b(?:my|mine|i (?:got|bought|ordered|received)|i'?ve (?:got|bought|ordered|received))\b",
    re.I,
)
# Questions about an order's state, which change nothing: by when it must go back, whether it
# has shipped ("until when can I return #W...?", "has my order shipped?", "where is it?").
_RETURN_BY = re.compile(
    r"\b(?:until|till|by) when\b|\bhow (?:long|many days|much time)\b|\blast day\b"
    r"|\b(?:latest|final) (?:date|day)\b|\bdeadline\b|\btoo late\b|\bstill (?:able to |in time"
    r" to )?(?:return|send)\b|\breturn (?:window|period|by)\b|\bwhen (?:do|does|must|should|will)"
    r" (?:i|it|the return)\b",
    re.I,
)
_RETURN_WORD = re.compile(
    r"\b(?:return|refund|(?:send|go|take|bring|ship|mail)\b.{0,30}?\bback)", re.I
)
_SHIPPED = re.compile(
    r"\b(?:shipped|dispatched|sent out|been sent|on (?:its|the) way|out for delivery|in transit"
    r"|left the (?:warehouse|store)|arrived?|arriving|get here|(?:been )?delivered yet"
    r"|where(?:'s| is) (?:my|the|it\b)|tracking|track)\b",
    re.I,
)
# What the shopper paid for something of theirs ("what did I pay for the sneakers?").
_PAID = re.compile(
    r"\b(?:what|how much) (?:did|have|had) i (?:pay|paid|spend|spent)\b(?! with\b)"
    r"|\bi paid for\b",
    re.I,
)
# How an order was paid, which changes nothing ("how did I pay for #W...?", "which card did I
# use for it?", "what was it charged to?"): the payment method, never a proposal to change it.
_PAID_WITH = re.compile(
    r"\bhow (?:did|do|have|had) i (?:pay|paid)\b|\bhow (?:was|is|were) (?:it|this|that|they|the"
    r" order|my order|(?:order )?#?w\d{7}) paid\b|\bwhat did i pay with\b"
    r"|\b(?:which|what) (?:card|payment(?: method)?|method of payment|account)\b[^.?!]{0,20}?"
    r"\b(?:did i (?:use|pay with|pay)|i used|was (?:it|this|that|the order|used|charged)"
    r"|is (?:it|this|that) (?:on|charged))\b"
    r"|\b(?:paid|charged|billed) (?:with|by|on|to) (?:what|which)\b"
    r"|\bwhat (?:was|is|were) (?:it|this|that|the order|they) (?:paid|charged|billed)"
    r" (?:with|on|to)\b",
    re.I,
)
# A question about the shopper's own orders: theirs ("my", "I paid") and about an order's state
# ("where is", "arrive", "tracking"), whatever product it names ("when will my backpack
# arrive?"): the answer comes from their orders, never from a product search.
# "track my order" asks about a parcel; "a watch that tracks my runs", "something to track my
# sleep" say what a product does, so a verb of tracking after "that", "to", "which" or "can",
# and "tracks" or "tracker", are no order words.
_ORDER_STATE = (
    r"(?:orders?|delivery|package|parcel|purchase|tracking"
    r"|(?<!\bthat )(?<!\bto )(?<!\bwhich )(?<!\bcan )track(?:ed)?\b|arriv\w*|ship\w*"
    r"|deliver\w*|get here|due|expected|eta|where(?:'s| is))"
)
_OWN_ORDER = re.compile(
    rf"\bmy\b.{{0,50}}?\b{_ORDER_STATE}\b|\b{_ORDER_STATE}\b.{{0,50}}?\bmy\b", re.I
)
# Questions about what the shop allows with an order, not about one of the shopper's orders
# ("can I pick up my order in store?", "how long do refunds take?").
_RULE_TOPIC = re.compile(
    r"\b(?:pick(?:ed|ing)? ?up|collect\w* in[- ]store|curbside|warrant(?:y|ies)|guarantee"
    r"|price (?:match|adjust)\w*|refunds?\b.{0,20}\btakes?|polic(?:y|ies))\b",
    re.I,
)
# A message put as a question ("how long ...", "can I ...", "...?"), not as a request for products.
_QUESTION = re.compile(
    r"^\W*(?:how|what(?:'s| is)?|when|can|could|do|does|is|are|will|would|may)\b|\?\W*$", re.I
)
# A request for products, which a question about the shopper's orders does not make.
_SHOPPING = re.compile(
    r"\b(?:i(?:'m| am)? (?:need|want|looking for|after) (?:a|an|some|new)|looking for|show me"
    r"|find me|do you (?:have|sell|carry|stock)|any \w+ that)\b",
    re.I,
)
# A follow-up that names another of the shopper's things after an order question ("and the one
# with the skateboard?", "what about the sneakers?").
_ANOTHER = re.compile(r"^\W*(?:and|what about|how about)\b|\bthe one (?:with|for)\b", re.I)
# A request to act, which a question about the order's state does not make.
_WANTS = re.compile(
    r"\b(?:i(?:'d| would) like|i want|i wanna|i need to|please|can you|could you|help me)\b", re.I
)
# "that order", "this one", "cancel it": the order the dialogue was about.
_THAT_ORDER = re.compile(
    r"\b(?:that|this|the same|same) (?:\w+ )?(?:order|purchase|package)\b"
    r"|\b(?:cancel|return|exchange) (?:it|that|this)\b"
    # "they don't fit": the items talked about.
    r"|\b(?:they|it|these|those|them)\b[^.?!]{0,20}?\b(?:do(?:es)?n'?t|do(?:es)? not|dont|doesnt"
    r"|didn'?t|did not)\s+(?:really\s+|quite\s+)?fit\b",
    re.I,
)
# Words that ask to change how an order is paid, not how it was ("switch the card it was paid
# with to my visa").
_CHANGES_PAYMENT = re.compile(
    r"\b(?:change|switch|swap|instead|update|replace|rather|move)\b|\buse (?:my|the|a|another)\b",
    re.I,
)
# What the shop keeps on a shopper ("my address", "the e-mail you have for me", "what's on
# file"): asked about, the account answers it; asked to be changed, the order requests do.
_ACCOUNT_THING = (
    r"(?:account|profile|(?:personal |contact |account )?(?:details|info(?:rmation)?)"
    r"|(?:default |home |shipping |billing |delivery |postal )?address(?:es)?|e-?mail(?: address)?"
    r"|phone(?: number)?|payment (?:methods?|options|details)|(?:saved |gift )?cards?"
    r"|(?:gift card )?balance)"
)
_ACCOUNT = re.compile(
    # Theirs by the possessive ("my address", "my saved cards") ...
    rf"\bmy (?:own |current |saved |default |registered )?(?:{_ACCOUNT_THING}|name)\b"
    # ... or as what the shop holds for them ("the address you have for me", "on file", "the
    # cards I have saved"; not "the address I have to send it to").
    rf"|\b{_ACCOUNT_THING}\b[^.?!]{{0,30}}?\b(?:on file|(?:(?:do|did) )?(?:you|we) (?:have|hold"
    r"|keep|store)(?: on file)?(?: for| on| about)? me|for me|i have(?! to\b)"
    r"|have i (?:got|saved|stored))\b"
    r"|\bwhat (?:do|did) you (?:have|know|hold|keep|store) (?:on file (?:for|about|on) |on |about )"
    r"me\b"
    r"|\bwhat(?:'s| is) on file\b"
    # ... or where their things go when no order says otherwise ("where do you ship my stuff
    # by default?"; not "do you ship to Canada by default?", a rule of the shop).
    r"|\b(?:ship|send|deliver)\w*\b[^.?!]{0,20}?\bmy\b[^.?!]{0,20}?\bby default\b",
    re.I,
)
# A question, or a request to be shown or told: what asks what is held, not for a change.
_ASKS_WHAT = re.compile(
    r"^\W*(?:(?:please|hi|hey|hello|ok(?:ay)?|so|and|also)\W+)*(?:what|which|whats|where|who|is"
    r"|are|do|does|did|have|has|can|could|would|show|tell|list|give|remind|check|let me see)\b",
    re.I,
)
# Words that ask for a change to what is held ("update my address", "I moved", "use my visa").
_CHANGE_WORDS = re.compile(
    r"\b(?:chang\w*|updat\w*|switch\w*|set|replac\w*|edit\w*|correct|fix|mov(?:e|ed|ing)"
    r"|new|add|remov\w*|delet\w*|use|instead|different)\b",
    re.I,
)
# Account details the shopper owns that no tool here changes ("update my email", "a new phone
# number on my account"): asked to be changed, the answer says so, not "which order?" (the
# "address" of "e-mail address" is no shipping address).
_UNCHANGEABLE_THING = (
    r"(?:e-?mail(?: address)?|(?:phone|mobile|cell) number|(?:full |last |first )?name|password"
    r"|user ?name|login)"
)
_UNCHANGEABLE = re.compile(
    rf"\bmy (?:own |current |registered |new )?{_UNCHANGEABLE_THING}\b"
    r"|\bnew (?:e-?mail|(?:phone|mobile|cell) number|password|login)\b"
    rf"|\b{_UNCHANGEABLE_THING}\b[^.?!]{{0,20}}?\bon (?:my |the )?(?:account|profile|file)\b",
    re.I,
)
OrderQuestion = Literal["return_by", "shipped", "paid", "paid_with"]
_ON_SALE = re.compile(
    r"\b(?:on sale|on offer|on special|discount(?:ed)?|marked down|markdown|reduced|any deals?"
    r"|a deal|on promotion|clearance|sale price|full price|cheaper than usual)\b",
    re.I,
)


def asks_if_on_sale(text: str) -> bool:
    """Whether a message asks if a product is marked down ("is it on sale?")."""
    return bool(_ON_SALE.search(text))


def order_question(text: str) -> OrderQuestion | None:
    """What a message asks about an order's state without asking to change it: by when it can
    be returned, or whether it has shipped."""
    if _PAID_WITH.search(text) and not _CHANGES_PAYMENT.search(text):
        # Asked even as a request ("can you tell me which card I used?"): it names no change.
        return "paid_with"
    if _WANTS.search(text):
        return None
    if _RETURN_WORD.search(text) and _RETURN_BY.search(text):
        return "return_by"
    if _PAID.search(text):
        return "paid"
    if _SHIPPED.search(text) and not any(
        a.kind in ("cancel", "swap", "address", "user_address") for a in read_actions(text)
    ):
        # "my order that hasn't shipped yet: can the bottle be steel instead?" says which order
        # to change; only a message that asks for no change asks where its order is.
        return "shipped"
    return None


AccountPart = Literal["name", "email", "phone", "address", "payment"]
# The part of the account a question about it names ("what e-mail do you have for me?").
_ACCOUNT_PARTS: tuple[tuple[AccountPart, re.Pattern[str]], ...] = (
    ("name", re.compile(r"\bname\b", re.I)),
    ("email", re.compile(r"\be-?mail", re.I)),
    ("phone", re.compile(r"\b(?:phone|mobile|cell)\b", re.I)),
    ("address", re.compile(r"\b(?:address|live|ship(?:ping)?|deliver(?:y|ed)?)\b", re.I)),
    (
        "payment",
        re.compile(
            r"\b(?:cards?|payment|pay(?:ing)? with|paypal|gift ?card|visa|mastercard|amex)\b",
            re.I,
        ),
    ),
)


def account_parts(text: str) -> list[AccountPart]:
    """The parts of the shopper's account a question about it names, in the account's order;
    none when it asks for the whole of it ("what do you have on file for me?")."""
    # An e-mail address is the e-mail, not the postal address.
    plain = re.sub(r"\be-?mail address(?:es)?\b", "e-mail", text, flags=re.I)
    return [part for part, pattern in _ACCOUNT_PARTS if pattern.search(plain)]


def asks_own_order(text: str) -> bool:
    """Whether a message asks about the state of the shopper's own orders (where one is, when
    it arrives, its tracking, what was paid), not about the shop's rules, to change one, or for
    products ("I need a tent that ships to my town by Friday")."""
    if _RULE_TOPIC.search(text) or _SHOPPING.search(text):
        return False
    return bool(_PAID.search(text) or _PAID_WITH.search(text) or _OWN_ORDER.search(text))


def asks_own_account(text: str) -> bool:
    """Whether a message asks what the shop has on file for the shopper (their address, e-mail,
    payment methods, "what is in my account?") without asking to change it or naming an order:
    a read of the account, not an address or payment change."""
    if not (_ACCOUNT.search(text) and _ASKS_WHAT.search(text)):
        return False
    if _CHANGE_WORDS.search(text) or address_of(text) or _mentions_order(text):
        return False
    if _RETURN_WORD.search(text):
        # "how long does a refund to my card take?" asks about the rules, not the account.
        return False
    # "which card did I pay with?" asks about an order's payment, not the account.
    return not (_PAID.search(text) or _PAID_WITH.search(text))


def asks_unchangeable_change(text: str) -> bool:
    """Whether a message asks to change an account detail that nothing here changes (the
    e-mail, phone number, name or password on file), not an order or the default address."""
    return bool(
        _UNCHANGEABLE.search(text) and _CHANGE_WORDS.search(text) and not _mentions_order(text)
    )


def asks_recommendations(text: str) -> bool:
    """Whether a message asks what to recommend ("what should I suggest to Olivia Ito?")."""
    return bool(_RECOMMEND.search(text))


def refers_to_order(text: str) -> bool:
    """Whether the message names an order only as the one talked about ("that whole order")."""
    return bool(_THAT_ORDER.search(text))


ORDER_INTENTS = {"cancel_order", "return_items", "exchange_items", "modify_order"}
_ACTION_INTENTS = {
    "cancel": "cancel_order",
    "ret": "return_items",
    "swap": "exchange_items",
    "pay": "modify_order",
    "address": "modify_order",
    "user_address": "modify_order",
    # "they don't fit": a return or an exchange, which the answer asks.
    "fit": "return_items",
}
# Intents that act on products already shown, and fall back to a search when none were.
PRODUCT_INTENTS = {
    "product_question",
    "compare",
    "similar",
    "complete_look",
    "stock",
    "substitutes",
}


@dataclass(slots=True)
class Interpretation:
    intent: str
    confidence: float
    slots: Slots
    products: list[str] = field(default_factory=list)
    rule: str | None = None
    query: QueryReading = field(default_factory=QueryReading)


class Nlu:
    """The local brain's understanding: vocabulary-bound slots plus a trained intent classifier."""

    def __init__(
        self,
        classifier: IntentClassifier,
        extractor: SlotExtractor,
        queries: QueryParser,
        intent_version: str | None = None,
    ) -> None:
        self.classifier = classifier
        # The registry version of the classifier (None: trained in this process).
        self.intent_version = intent_version
        self.extractor = extractor
        self.queries = queries
        # Words that describe products rather than name one ("insulated", "navy", "tent"): a
        # product shown is picked out by them only in a definite reference (`_pointed_at`).
        self._describing = frozenset(
            words(" ".join([*queries.features, *queries.colours, *queries.types]))
        )

    @classmethod
    def build(
        cls,
        vocabulary: Vocabulary,
        encode: Encoder,
        encode_many: Encoder | None = None,
        artifacts: Path | None = None,
    ) -> Nlu:
        """The intent classifier the registry under `artifacts` serves, else one trained on the
        project's utterances; `encode` embeds messages, `encode_many` (if given) the training
        set."""
        served = None if artifacts is None else served_intent_classifier(artifacts, encode)
        if served is None:
            classifier, version = IntentClassifier(encode).fit(load_utterances(), encode_many), None
        else:
            classifier, version = served
        queries = QueryParser(vocabulary, encode, encode_many, english=model_words())
        return cls(classifier, SlotExtractor(vocabulary), queries, version)

    def interpret(
        self,
        text: str,
        dialogue: DialogueState,
        allowed: set[str],
    ) -> Interpretation:
        """The intent among `allowed`, the slots, and the shown products the message refers to
        (by position, "the second one", or by name, "the fleece jacket")."""
        text = plain_words(text)
        slots = self.extractor.extract(text)
        products = self._references(text, slots, dialogue.shown_products, dialogue.product_names)
        intent, confidence = self.classifier.predict(text, allowed)
        ruled = self._rule(text, slots, dialogue, allowed, heard=intent)
        if ruled is not None:
            return Interpretation(ruled, 1.0, slots, products, rule=ruled)
        shown = products or dialogue.focus_product or dialogue.shown_products
        # The product query reads words only: a SKU typed from a label ("P00017-BLK-XL") is
        # the slots', and holds no size XL for a refinement.
        said = self.extractor.without_ids(text)
        if (
            asks_if_on_sale(text)
            and shown
            and "product_question" in allowed
            and not self.queries.read(said).types
        ):
            # "is it on sale?", "are any of them discounted?" of products shown: their prices
            # against their list prices. A new product type is a search ("jackets on sale").
            return Interpretation("product_question", 1.0, slots, products, rule="on_sale")
        query = self.queries.read(said, in_force=dialogue.query is not None)
        intent = _product_intent(text, intent, query, slots, products, dialogue)
        if slots.sku and "stock" in allowed and _only_fillers(said):
            # A SKU typed alone ("P00017-BLK-XL", "and p00017-blk-m?"): that SKU's stock, from
            # the shelf label, whatever product the thread was on (never a size to refine by).
            intent = "stock"
        elif (
            slots.sku
            and intent in ("search", "refine")
            and not (query.constrains or query.types)
            and "stock" in allowed
        ):
            intent = "stock"
        if intent == "refine" and "search" in allowed and dialogue.query is None:
            intent = "search"
        compares_shown = intent == "compare" and len(dialogue.shown_products) >= 2
        typed = slots.sku or slots.product_id
        if intent in PRODUCT_INTENTS and not (
            products or typed or dialogue.focus_product or compares_shown
        ):
            # Nothing shown yet to ask about: the words name the product, so look for it.
            intent = "search" if "search" in allowed else intent
        return Interpretation(intent, confidence, slots, products, query=query)

    def _rule(
        self, text: str, slots: Slots, dialogue: DialogueState, allowed: set[str], heard: str
    ) -> str | None:
        """The intent where the words leave no doubt; `heard` is the classifier's."""
        act = classify(text)
        if act.kind == "confirm" or (act.kind == "deny" and not act.rest):
            # A bare yes or no: with nothing waiting, the answer says so.
            return act.kind
        if slots.customer_name and not slots.customer_id and "find_customer" in allowed:
            # "look up Olivia Ito": the customer is found by name first (`find_customers`).
            return "find_customer"
        # "what should I recommend to him?" is about the customer the associate looked up.
        customer = slots.customer_id or (slots.person and dialogue.slots.get("customer_id"))
        if customer and "customer_profile" in allowed:
            wants_recs = asks_recommendations(text) and "customer_recommendations" in allowed
            return "customer_recommendations" if wants_recs else "customer_profile"
        about_item = slots.sku or slots.product_id or (slots.pronoun and dialogue.focus_product)
        if slots.on_order_words and about_item and "why_short" in allowed:
            # "is a PO coming for it?": what is on order is part of why an item is short ("sign
            # off on the purchase orders", about no item, is for the approval queue).
            return "why_short"
        # "until when can I return #W...?", "has it shipped?": the order's state, no write.
        named = slots.order_id or _mentions_order(text)
        talked_about = dialogue.slots.get("order_id") and slots.pronoun
        if order_question(text) and "order_status" in allowed and (named or talked_about):
            return "order_status"
        if (
            _RULE_TOPIC.search(text)
            and _QUESTION.search(text)
            and not slots.order_id
            and not ((slots.pronoun or slots.ordinals) and dialogue.shown_products)
            and "policy" in allowed
        ):
            # "what is the warranty on headphones?", "can I pick up my order in store?": the
            # shop's rules answer, whatever product type the question names ("the warranty on
            # the second one" asks about a product shown).
            return "policy"
        if "account_change" in allowed and asks_unchangeable_change(text):
            # "update my email please": said so, rather than read as an address change.
            return "account_change"
        if "account" in allowed and asks_own_account(text):
            # "what address do you have for me?": read what is on file, change nothing.
            return "account"
        actions = read_actions(text)
        # "what did I pay for ..." reads as a payment change to the action reader; it is not.
        paid = bool(_PAID.search(text) or _PAID_WITH.search(text))
        asks_own = asks_own_order(text) and (not actions or paid)
        follows = dialogue.last_intent == "order_status" and _ANOTHER.search(text)
        if "order_status" in allowed and (asks_own or follows):
            # "where is my order with the cycling helmet?": the item is found in their orders.
            return "order_status"
        # "what's your return policy?", "the return window for Gold members?" ask about the
        # rule, not to return anything.
        # "my dog hates the new pet bed, can I return it?" is about the shopper's own things.
        # "if I open something, can I still send it back?" asks about the rule, though "it"
        # reads as the shopper's own thing.
        about_policy = (
            (
                bool(_POLICY.search(text))
                or (heard == "policy" and not _OWN.search(text))
                or asks_about_rules(text)
            )
            and not slots.order_id
            and not _mentions_order(text)
        )
        if about_policy and actions and "policy" in allowed:
            # A return or exchange word in a question about the rules names no order to change.
            return "policy"
        if (
            actions
            and not about_policy
            and (slots.order_id or _mentions_order(text) or actions[0].kind != "pay")
        ):
            intent = _ACTION_INTENTS[actions[0].kind]
            if intent in allowed:
                return intent
        if slots.order_id or _mentions_order(text):
            last = dialogue.last_intent
            if slots.order_id and last in ORDER_INTENTS and last in allowed:
                # "the perfume from order #W..." answers "which order?" for the same request.
                return last
            if slots.order_id and "order_status" in allowed:
                return "order_status"
        return None

    def _references(
        self, text: str, slots: Slots, shown: Sequence[str], names: dict[str, str]
    ) -> list[str]:
        out: list[str] = []
        for ordinal in slots.ordinals:
            index = len(shown) - 1 if ordinal == -1 else ordinal - 1
            if 0 <= index < len(shown) and shown[index] not in out:
                out.append(shown[index])
        lowered = text.lower()
        said = set(words(lowered))
        named = {pid: set(words(names.get(pid, "").lower())) for pid in shown}
        for pid in shown:
            name = names.get(pid, "").lower()
            # Its whole name, or a word of it no other product shown has ("the Woolridge one",
            # "the Embercraft tent").
            others = set().union(*(w for p, w in named.items() if p != pid))
            only = {w for w in named[pid] - others if len(w) >= 4 and w.isalpha()}
            own = only - self._describing
            # A describing word picks a product out only as a definite reference to one shown
            # ("is the fleece one in stock?"); "a fleece one?" asks for more of that kind.
            pointed = any(_pointed_at(lowered, w, named[pid]) for w in only & self._describing)
            if name and (name in lowered or own & said or pointed) and pid not in out:
                out.append(pid)
        return out


def _pointed_at(text: str, word: str, name: set[str]) -> bool:
    """Whether `text` says "the/that/this WORD one" or "the WORD X" with X a word of the
    product's name ("the fleece jacket")."""
    for match in re.finditer(rf"\b(?:the|that|this) {re.escape(word)} (\w+)", text):
        if match.group(1) in ("one", *name):
            return True
    return False


def is_affirmation(text: str) -> bool:
    """An explicit yes: the only words that may release a write waiting for confirmation.

    A yes with a change of mind in it ("yes, but the other order") is not one.
    """
    return classify(text).confirms


def asks_about_rules(text: str) -> bool:
    """Whether a message asks what the shop allows in a case put hypothetically, about nothing
    it names as the shopper's own ("can I return a blender after I've opened the box?")."""
    return bool(_HYPOTHETICAL.search(text) and _ASKS.search(text) and not _OWNED.search(text))


# Words that ask nothing of their own beside an id typed alone ("and P00017-BLK-XL?").
_FILLERS = frozenset(
    {
        "and",
        "or",
        "what",
        "how",
        "about",
        "the",
        "a",
        "an",
        "this",
        "that",
        "one",
        "sku",
        "item",
        "label",
        "check",
        "look",
        "up",
        "please",
        "now",
        "then",
        "also",
        "ok",
        "okay",
        "so",
        "is",
        "it",
    }
)


def _only_fillers(text: str) -> bool:
    """Whether the words left beside an id ask nothing of their own."""
    return all(w in _FILLERS for w in words(text.lower()))


def _mentions_order(text: str) -> bool:
    return bool(re.search(r"\b(?:order|orders|package|purchase|bought)\b", text, re.I))


# Intents the classifier may give a message that only names products or constraints: greetings
# and thanks that carry a request ("hi, any tents?"), and chit-chat it cannot place.
_LOOSE_INTENTS = {"out_of_scope", "greeting", "thanks", "recommend", "confirm", "deny"}


# Words that stand for the products talked about ("thicker ones?", "something lighter").
_PRO_FORM = re.compile(r"\b(?:ones?|something|anything|any|those|these|them)\b", re.I)


def _follows_on(text: str, intent: str, query: QueryReading) -> bool:
    """Whether a message that names no product type still asks about the products in force:
    it says something of them (words the query reader did not place, or a thing they must go
    with) and is no request for something new ("do you have anything for a picnic?"); chit-chat
    counts only when it stands for the products ("any warmer ones?")."""
    if query.types or query.unsold or _SHOPPING.search(text):
        return False
    if not (query.other_words or query.passing):
        return False
    # Questions about a product shown ("tell me more", "compare them") keep their own intent.
    product_talk = intent in {"search", "refine"}
    return product_talk or (intent in _LOOSE_INTENTS and bool(_PRO_FORM.search(text)))


def _product_intent(
    text: str,
    intent: str,
    query: QueryReading,
    slots: Slots,
    products: Sequence[str],
    dialogue: DialogueState,
) -> str:
    """Search or refine where the message is about which products to show.

    A message naming a product type is a search, whatever else the classifier heard ("air
    purifier" is no chit-chat). With a query in force, a message that only adds constraints or
    an order ("in blue", "an insulated one", "which is best rated?") refines it, unless it points
    at a product shown ("is it waterproof?", "the second one").
    """
    shown = len(products) >= 2 or len(dialogue.shown_products) >= 2
    compares = query.comparative is not None or query.cheaper or query.pricier
    if compares and dialogue.query is not None and not query.types and not slots.ordinals:
        # "warmer than these", "a lighter one": the products shown (or named) are what it is
        # compared with; the query in force, type and all, is refined.
        return "refine"
    if _COMPARE.search(text) and shown:
        # "compare the two pop-up tents": the ones shown, side by side, not a new list.
        return "compare"
    asks_stock = (_IN_STOCK.search(text) and slots.store_id) or slots.where_else
    if asks_stock and (products or dialogue.focus_product):
        # "is the Embercraft tent in stock at the Boulder store?", "which stores have it in
        # black?": stock of a product shown, not a search for stores.
        return "stock"
    if query.types:
        # "vacuum that handles pet hair" is no question about a policy.
        loose = _LOOSE_INTENTS | {"search", "refine"}
        # A type guessed from a word's meaning ("outside" for Outdoor) overrides no other intent.
        plain = intent == "policy" and not _POLICY.search(text) and not query.guessed
        return "search" if intent in loose or plain else intent
    described = query.prefer or query.described or (query.features and not query.unsold)
    if intent == "out_of_scope" and dialogue.query is None and query.features and not query.unsold:
        # "iphone 15 pro max": a model of a thing the store names is a product request.
        return "search"
    if intent == "policy" and described and not _POLICY.search(text):
        # Words of the catalogue's category names or features with no policy word ("vacuum
        # that handles pet hair"): a search for the products they describe. Words the catalogue
        # never uses ("what does shipping cost?") describe no product, so the policy stands.
        return "search"
    refers = bool(products) or slots.pronoun
    if (
        refers
        and intent == "refine"
        and _QUESTION.search(text)
        and (products or dialogue.focus_product)
    ):
        # "does it come in XL?" of the jacket shown asks about that jacket's own options, not
        # for a new list with the caps carried over.
        return "product_question"
    editable = {"search", "refine"} | PRODUCT_INTENTS | _LOOSE_INTENTS
    if dialogue.query is not None and query.constrains and not refers and intent in editable:
        return "refine"
    if (
        dialogue.query is not None
        and not refers
        and not slots.ordinals
        and _follows_on(text, intent, query)
    ):
        # "thicker ones?", "needs to fit my laptop", "one I can chuck in the washing machine":
        # no other type named, so the products in force are still the ones talked about.
        return "refine"
    if intent == "refine" and (dialogue.query is None or not query.constrains):
        return "search"
    return intent
