"""The grounding guard: an answer may state only what this turn's tool outputs support.

Claims are read off the answer text: prices, stock figures and other quantities (units, days,
percentages), order ids, product names, and policy statements. A number is supported when one of
the turn's outputs holds it; an order id or product name when an output's text holds it; a policy
statement when the turn consulted a policy document. The local brain's compositions pass by
construction; an LLM's answer that fails is replaced by the grounded composition, and the
decision is audited either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.base import ToolOutcome

_MONEY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d{1,2})?)")
_QUANTITY = re.compile(
    r"\b(\d[\d,]*(?:\.\d+)?)\s*(%|percent|days?|weeks?|months?|hours?|units?|pieces?|items?|"
    r"left|in stock|available|on hand|on order|km|miles?|stars?)\b",
    re.I,
)
_ORDER_ID = re.compile(r"#[A-Z]\d{7}\b")
_POLICY = re.compile(
    # "a refund of $54.51 to your card" is an order's fact, not a policy: only a sentence about
    # how refunds, returns and exchanges work is a policy statement.
    r"\b(?:return policy|refunds? (?:are|is|within|take|must|can)|returns? (?:are|is|within|must)|"
    r"exchanges? (?:are|is|within)|"
    r"warranty|free shipping|ships? (?:within|in)|restocking fee|price match)\b",
    re.I,
)
_POLICY_TOOLS = {"answer_from_documents"}
_TOLERANCE = 0.005


@dataclass(slots=True)
class GroundingReport:
    grounded: bool
    unsupported: list[str] = field(default_factory=list)
    claims: int = 0


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
    else:
        yield value


class Evidence:
    """Every number and every text the turn's tool outputs hold."""

    def __init__(self, outcomes: Sequence[ToolOutcome]) -> None:
        self.numbers: list[float] = []
        texts: list[str] = []
        self.tools = {o.name for o in outcomes if o.ok}
        for outcome in outcomes:
            payload: Any = outcome.output if outcome.ok else outcome.error
            if hasattr(payload, "model_dump"):
                payload = payload.model_dump()
            for leaf in _walk(payload):
                if isinstance(leaf, bool) or leaf is None:
                    continue
                if isinstance(leaf, int | float):
                    self.numbers.append(float(leaf))
                elif isinstance(leaf, str):
                    texts.append(leaf)
        self.text = "\n".join(texts).lower()
        # Numbers written inside texts ("30 days", "$129.00") count as evidence too.
        for match in re.finditer(r"\d[\d,]*(?:\.\d+)?", self.text):
            self.numbers.append(_number(match.group(0)))

    def has_number(self, value: float) -> bool:
        return any(abs(value - n) <= _TOLERANCE for n in self.numbers)

    def has_text(self, text: str) -> bool:
        return text.lower() in self.text


def _sentence(text: str, match: re.Match[str]) -> str:
    """The sentence of `text` that holds `match`, without its leading space."""
    start = max(text.rfind(". ", 0, match.start()), text.rfind("? ", 0, match.start()))
    end = text.find(". ", match.end())
    return text[start + 2 if start >= 0 else 0 : end + 1 if end >= 0 else len(text)].strip()


def _number(raw: str) -> float:
    return float(raw.replace(",", ""))


def check_answer(
    text: str, outcomes: Sequence[ToolOutcome], product_names: Iterable[str] = ()
) -> GroundingReport:
    """Which of the answer's claims this turn's outputs do not support (none: grounded)."""
    evidence = Evidence(outcomes)
    unsupported: list[str] = []
    claims = 0
    for match in _MONEY.finditer(text):
        claims += 1
        if not evidence.has_number(_number(match.group(1))):
            unsupported.append(f"price {match.group(0)}")
    for match in _QUANTITY.finditer(text):
        claims += 1
        if not evidence.has_number(_number(match.group(1))):
            unsupported.append(f"quantity {match.group(0)}")
    for match in _ORDER_ID.finditer(text):
        claims += 1
        if not evidence.has_text(match.group(0)):
            unsupported.append(f"order {match.group(0)}")
    lowered = text.lower()
    for name in product_names:
        # The substring test first: a catalogue has thousands of names, and a regex per name
        # per answer (beyond re's cache) cost ~180 ms a turn at the medium world.
        key = name.lower()
        if len(name) >= 4 and key in lowered and re.search(rf"\b{re.escape(key)}\b", lowered):
            claims += 1
            if not evidence.has_text(name):
                unsupported.append(f"product {name}")
    for match in _POLICY.finditer(text):
        claims += 1
        # A policy document consulted backs any policy statement; without one, only a sentence
        # a tool stated word for word (an order's return terms, from the store policy's own
        # figures) is supported.
        if not (evidence.tools & _POLICY_TOOLS or evidence.has_text(_sentence(text, match))):
            unsupported.append("a policy statement with no policy document behind it")
            break
    return GroundingReport(grounded=not unsupported, unsupported=unsupported, claims=claims)
