"""Claim-level groundedness of an answer, for the hallucination rate.

The serving path's guard (`agents.guard.check_answer`) reads prices, quantities, order ids,
product names and policy statements off an answer and checks each against the turn's tool
outputs. The evaluation counts the same claims and adds the ones an order conversation lives on:
dates, long ids (item, tracking and payment-method ids) and customer ids. It also reads a policy
statement the way a person would: a sentence that a tool output holds word for word (the
confirmation a write tool asked for: "with a refund of $54.51 to ...") is a quotation of the
evidence, not a claim about the policy, so it is supported even without a policy document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.guard import Evidence, check_answer
from tools.base import ToolOutcome

_POLICY_CLAIM = "a policy statement with no policy document behind it"
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_LONG_ID = re.compile(r"\b((?:gift_card|credit_card|paypal)_\d{5,}|\d{9,})\b")
_CUSTOMER_ID = re.compile(r"\b([a-z]+_[a-z]+_\d{3,5})\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(slots=True)
class ClaimReport:
    claims: int = 0
    unsupported: list[str] = field(default_factory=list)

    @property
    def grounded(self) -> bool:
        return not self.unsupported


def claim_report(
    text: str, outcomes: Sequence[ToolOutcome], product_names: Iterable[str] = ()
) -> ClaimReport:
    """Every claim of `text` and which of them this turn's tool outputs do not support."""
    guard = check_answer(text, outcomes, product_names)
    evidence = Evidence(outcomes)
    unsupported = [
        claim
        for claim in guard.unsupported
        if claim != _POLICY_CLAIM or not _policy_quoted(text, evidence)
    ]
    claims = guard.claims
    for pattern, kind in ((_DATE, "date"), (_LONG_ID, "id"), (_CUSTOMER_ID, "customer")):
        for match in pattern.finditer(text):
            claims += 1
            if not evidence.has_text(match.group(1)):
                unsupported.append(f"{kind} {match.group(1)}")
    return ClaimReport(claims=claims, unsupported=unsupported)


def _policy_quoted(text: str, evidence: Evidence) -> bool:
    """Every sentence with a policy phrase in it appears in the evidence as written."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    policy = [s for s in sentences if _POLICY_CLAIM in check_answer(s, []).unsupported]
    return bool(policy) and all(evidence.has_text(s.rstrip(".!?")) for s in policy)
