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

from agents.nlu.intents import Encoder, IntentClassifier, load_utterances
from agents.nlu.slots import SlotExtractor, Slots
from agents.state import DialogueState
from tools.vocabulary import Vocabulary

_AFFIRM = re.compile(
    r"^\s*(?:yes|yep|yeah|yup|sure|confirm(?:ed)?|go ahead|do it|ok(?:ay)?|correct|"
    r"please do|proceed|that'?s right)\b",
    re.I,
)
_NEGATE = re.compile(
    r"^\s*(?:no|nope|nah|don'?t|do not|never ?mind|stop|wait|cancel that|not that)\b", re.I
)
_HEDGE = re.compile(r"\b(?:but|instead|not|different|other|wait|actually)\b", re.I)
_CANCEL = re.compile(r"\bcancel\b", re.I)
_RETURN = re.compile(r"\b(?:return|refund|send\b.{0,60}\bback|money back)\b", re.I)
_EXCHANGE = re.compile(r"\b(?:exchange|swap)\b", re.I)
_MODIFY = re.compile(
    r"\b(?:change|update|modify)\b.*\b(?:address|payment|card|size|colou?r)\b"
    r"|\b(?:ship|deliver|send)\b.*\bto\b.*\d{5}|\bpay\b.*\bwith\b",
    re.I,
)
_RECOMMEND = re.compile(r"\b(?:recommend|suggest|would (?:\w+ )?like|suit|pick)\w*", re.I)
_WORD = re.compile(r"[a-z0-9$']+", re.I)
# Words that carry no product content of their own in a refinement ("what about in blue?").
_FILLER = {
    "in",
    "a",
    "an",
    "the",
    "please",
    "what",
    "about",
    "any",
    "do",
    "you",
    "have",
    "it",
    "them",
    "those",
    "ones",
    "one",
    "show",
    "me",
    "only",
    "just",
    "then",
    "and",
    "or",
    "size",
    "under",
    "below",
    "over",
    "above",
    "than",
    "less",
    "more",
    "cheaper",
    "expensive",
    "dollars",
    "bit",
    "something",
    "options",
    "colour",
    "color",
    "brand",
    "different",
    "another",
    "from",
    "can",
    "i",
    "see",
    "some",
    "with",
    "for",
    "of",
    "other",
    "same",
    "but",
    "instead",
    "rest",
}
ORDER_INTENTS = {"cancel_order", "return_items", "exchange_items", "modify_order"}
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


class Nlu:
    """The local brain's understanding: vocabulary-bound slots plus a trained intent classifier."""

    def __init__(self, classifier: IntentClassifier, extractor: SlotExtractor) -> None:
        self.classifier = classifier
        self.extractor = extractor

    @classmethod
    def build(
        cls, vocabulary: Vocabulary, encode: Encoder, encode_many: Encoder | None = None
    ) -> Nlu:
        """Train on the project's utterances; `encode` embeds messages, `encode_many` (if
        given) the training set."""
        classifier = IntentClassifier(encode).fit(load_utterances(), encode_many)
        return cls(classifier, SlotExtractor(vocabulary))

    def interpret(
        self,
        text: str,
        dialogue: DialogueState,
        allowed: set[str],
    ) -> Interpretation:
        """The intent among `allowed`, the slots, and the shown products the message refers to
        (by position, "the second one", or by name, "the fleece jacket")."""
        slots = self.extractor.extract(text)
        products = self._references(text, slots, dialogue.shown_products, dialogue.product_names)
        ruled = self._rule(text, slots, dialogue, allowed)
        if ruled is not None:
            return Interpretation(ruled, 1.0, slots, products, rule=ruled)
        intent, confidence = self.classifier.predict(text, allowed)
        if intent == "search" and dialogue.shown_products and _only_constraints(text, slots):
            intent = "refine"
        if intent == "refine" and "search" in allowed and not dialogue.slots.get("query"):
            intent = "search"
        if intent in PRODUCT_INTENTS and not products and not dialogue.focus_product:
            # Nothing shown yet to ask about: the words name the product, so look for it.
            intent = "search" if "search" in allowed else intent
        return Interpretation(intent, confidence, slots, products)

    def _rule(
        self, text: str, slots: Slots, dialogue: DialogueState, allowed: set[str]
    ) -> str | None:
        if dialogue.pending_action is not None:
            if is_affirmation(text):
                return "confirm"
            if _NEGATE.match(text):
                return "deny"
        if slots.customer_id and "customer_profile" in allowed:
            wants_recs = _RECOMMEND.search(text) and "customer_recommendations" in allowed
            return "customer_recommendations" if wants_recs else "customer_profile"
        if slots.order_id or _mentions_order(text):
            for pattern, intent in (
                (_CANCEL, "cancel_order"),
                (_EXCHANGE, "exchange_items"),
                (_RETURN, "return_items"),
                (_MODIFY, "modify_order"),
            ):
                if pattern.search(text) and intent in allowed:
                    return intent
            last = dialogue.last_intent
            if slots.order_id and last in ORDER_INTENTS and last in allowed:
                # "the perfume from order #W..." answers "which order?" for the same request.
                return last
            if slots.order_id and "order_status" in allowed:
                return "order_status"
        return None

    @staticmethod
    def _references(
        text: str, slots: Slots, shown: Sequence[str], names: dict[str, str]
    ) -> list[str]:
        out: list[str] = []
        for ordinal in slots.ordinals:
            index = len(shown) - 1 if ordinal == -1 else ordinal - 1
            if 0 <= index < len(shown) and shown[index] not in out:
                out.append(shown[index])
        lowered = text.lower()
        for pid in shown:
            name = names.get(pid, "").lower()
            if name and name in lowered and pid not in out:
                out.append(pid)
        return out


def is_affirmation(text: str) -> bool:
    """An explicit yes: the only words that may release a write waiting for confirmation.

    A yes with a change of mind in it ("yes, but the other order") is not one.
    """
    return bool(_AFFIRM.match(text)) and not _HEDGE.search(text)


def _mentions_order(text: str) -> bool:
    return bool(re.search(r"\b(?:order|orders|package|purchase|bought)\b", text, re.I))


def _only_constraints(text: str, slots: Slots) -> bool:
    """True when every word is a filter or filler: "in blue", "cheaper", "size M under $50"."""
    matched = " ".join(slots.matched).lower().split()
    for word in _WORD.findall(text.lower()):
        if word in _FILLER or word in matched or word.lstrip("$").replace(".", "").isdigit():
            continue
        if slots.size and word == slots.size:
            continue
        return False
    return True
