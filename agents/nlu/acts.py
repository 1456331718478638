"""Dialogue acts: how a reply answers a write waiting for the person's confirmation.

A reply is read clause by clause, not by its first word: "okay, no thanks" is a no, "ok thanks,
what jackets do you have?" is no yes at all, "yes but to my other card" is a yes with a change and
"sure, and what jackets do you have?" a yes with another request. Only a reply whose every clause
says yes (or restates the action: "yes, cancel it") confirms; a write runs on nothing less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ActKind = Literal["confirm", "deny", "mixed", "unrelated"]

# Words that only acknowledge ("ok", "fine") are a yes alone, but "ok thanks" closes the topic.
_SOFT = {
    "ok",
    "okay",
    "k",
    "alright",
    "all right",
    "fine",
    "that's fine",
    "great",
    "good",
    "perfect",
    "please",
}
_YES = {
    "yes",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ya",
    "y",
    "sure",
    "confirm",
    "confirmed",
    "i confirm",
    "go ahead",
    "go for it",
    "go on",
    "do it",
    "please do",
    "proceed",
    "correct",
    "right",
    "that's right",
    "that is right",
    "that's correct",
    "absolutely",
    "definitely",
    "of course",
    "sounds good",
    "looks good",
    "that works",
    "affirmative",
    "yes please",
    "please proceed",
    "sure thing",
    "i'm sure",
    "that is correct",
} | _SOFT
_THANKS = re.compile(
    r"^(?:(?:ok|okay|alright|great|cool|perfect|fine) )?(?:thanks?|thank you|thx|ty|cheers)"
    r"(?: (?:so much|a lot|very much))?$"
)
_NO = re.compile(
    r"^(?:no|nope|nah|negative|stop|wait|abort|hold on|hold off|not now|not yet|never ?mind|"
    # "cancel that" refuses what waits; "cancel that whole order" asks for a cancellation.
    r"forget it|leave it|scratch that|cancel that(?!\s+(?:\w+\s+)?(?:order|purchase|package)\b)"
    r"|not that)\b"
    # "don't need it any more" gives a reason, not a refusal; "they don't fit" (or "don't
    # work") is about the items, a wish to return or exchange them: no no, and no yes either.
    r"|\b(?:don'?t|do not|dont)\b(?!\s+(?:really\s+|even\s+)?need\s+"
    r"(?:it|this|that|them|those|these|one)\b)(?!\s+(?:really\s+|quite\s+)?(?:fit|work)\b)"
    r"|\b(?:rather not|changed my mind|no thanks?|no thank you)\b"
)
# A restatement of the action, adding nothing: "yes, cancel it", "please go ahead with that".
_RESTATE = re.compile(
    r"^(?:(?:yes|please|sure|ok|okay) )*(?:go ahead|proceed|do|cancel|return|exchange|change|"
    r"modify|update|switch|send|make)(?: (?:it|that|this|them|the order|the change|the return|"
    r"the exchange|with (?:it|that|this)|ahead))*(?: (?:please|now|thanks))?$"
)
# Words that turn a yes into a yes with a change of what was asked.
_CHANGE = re.compile(
    r"\b(?:but|instead|other|another|different|rather|actually|except|only|not|change|"
    r"switch|to my|use my|on my|the \w+ one)\b"
)
_CLAUSE = re.compile(r"\s*(?:[,.;!?]+|\s-+\s|\band\b|\bbut\b|\bthen\b|\balso\b)\s*")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'"})


@dataclass(frozen=True, slots=True)
class DialogueAct:
    """What the reply does to the waiting write, and what else it says (`rest`)."""

    kind: ActKind
    rest: str = ""
    change: bool = False

    @property
    def confirms(self) -> bool:
        return self.kind == "confirm"


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c and c.strip()]


def classify(text: str) -> DialogueAct:
    """The act of `text` as a reply to a pending write."""
    lowered = " ".join(text.lower().translate(_QUOTES).split())
    clauses = _clauses(lowered)
    if not clauses:
        return DialogueAct("unrelated")
    # Where the first yes-or-no-free clause starts, in the original words: what else was said.
    kinds = []
    for clause in clauses:
        if _NO.search(clause):
            kinds.append("no")
        elif _THANKS.match(clause):
            kinds.append("thanks")
        elif _is_yes(clause):
            kinds.append("soft" if clause in _SOFT else "yes")
        else:
            kinds.append("other")
    others = [c for c, k in zip(clauses, kinds, strict=True) if k == "other"]
    rest = _rest(text, others)
    if "no" in kinds:
        return DialogueAct("deny", rest)
    said_yes = "yes" in kinds or ("soft" in kinds and "thanks" not in kinds)
    if not said_yes:
        return DialogueAct("unrelated", rest if others else "")
    if not others:
        return DialogueAct("confirm")
    changed = bool(_CHANGE.search(lowered.split(others[0], 1)[0][-12:] + " " + " ".join(others)))
    return DialogueAct("mixed", rest, change=changed)


_LEADING_YES = re.compile(r"^(?:yes|yeah|yep|yup|sure|ok|okay) ")


def _is_yes(clause: str) -> bool:
    """A clause made of yes words only, or of a yes and a restatement of the action."""
    bare = _LEADING_YES.sub("", clause)
    return clause in _YES or bare in _YES or bool(_RESTATE.match(clause))


def _rest(text: str, others: list[str]) -> str:
    """The original words from the first clause that is neither yes, no nor thanks."""
    if not others:
        return ""
    at = text.lower().translate(_QUOTES).find(others[0])
    return text[at:].strip() if at >= 0 else " ".join(others)
