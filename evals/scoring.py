"""Scoring one turn of a conversation against what its suite expects.

The observed turn is what `Assistant.ask` returned plus the turn's tool outcomes; the scores are
plain counts and flags, so every metric of the summary is a sum or a share of them:
- tool selection: the set of tools called equals the set expected (a repeated call of the same
  tool is not penalised; a missing or an extra tool is);
- arguments: each expected key argument found on a call of its tool (values compared loosely:
  case-insensitive text, numbers to a cent, id lists in any order);
- statuses: each named tool's last call ended with the expected status (ok, needs_confirmation,
  policy_denied, ...);
- facts stated and claims not made, as text or `re:` patterns in the answer;
- refusal: the turn did nothing it was asked (no successful call; for a change that must be
  refused, none but the order lookups) and said so, or a tool refused;
- grounding: `evals.grounding.claim_report` on the answer the person read;
- citations: the share of cited ids this turn's tool outputs hold, and, where the suite names
  gold ids, the share of document citations that are gold and whether any is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agents.compose import ORDER_LOOKUPS
from agents.guard import Evidence
from agents.usage import TokenUsage
from evals.grounding import claim_report
from evals.suites import TurnSpec, fill
from tools.base import ToolOutcome

_REFUSAL = re.compile(
    r"\b(?:sorry|can(?:no|')t|unable|not able|not something I can|won'?t|not allowed|"
    r"not permitted|you have no|only an? \w+ orders? can|forbidden)\b",
    re.I,
)
_REFUSING_STATUSES = {"forbidden", "not_found", "policy_denied"}

_SHOWN = re.compile(r"^@shown:(\d+)$")
_TOLERANCE = 0.01
MESSAGE_CHARS = 300


class Call(BaseModel):
    name: str
    args: dict[str, Any]
    status: str
    latency_ms: float


class TurnRecord(BaseModel):
    """One turn as observed and scored; a line of results.jsonl."""

    record: str = "turn"
    brain: str
    suite: str
    case: str
    repetition: int
    turn: int
    role: str
    intent: str | None
    message: str
    expected_tools: list[str] | None
    calls: list[Call] = Field(default_factory=list)
    answer: str = ""
    citations: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    first_event_ms: float | None = None
    fallback: str | None = None
    tokens: TokenUsage | None = None
    guard_passed: bool | None = None
    tool_selection: bool | None = None
    args_expected: int = 0
    args_matched: int = 0
    statuses_ok: bool | None = None
    facts_expected: int = 0
    facts_found: int = 0
    forbidden_claims: list[str] = Field(default_factory=list)
    refusal_expected: bool = False
    legit_request: bool = False
    refused: bool = False
    claims: int = 0
    unsupported_claims: list[str] = Field(default_factory=list)
    citations_supported: int = 0
    gold_expected: bool = False
    gold_cited: int = 0
    document_citations: int = 0
    passed: bool = False
    problems: list[str] = Field(default_factory=list)

    @property
    def tools(self) -> list[str]:
        return [c.name for c in self.calls]


def score_turn(
    record: TurnRecord,
    spec: TurnSpec,
    outcomes: Sequence[ToolOutcome],
    *,
    facts: Mapping[str, Any],
    shown_before: Sequence[str],
    product_names: Sequence[str],
) -> TurnRecord:
    """Fill the record's scores in place and return it."""
    problems: list[str] = []
    record.refusal_expected = spec.refuse
    record.legit_request = bool(spec.tools) and not spec.refuse
    if spec.rejected or record.error is not None:
        if spec.rejected and record.error is None:
            problems.append("the message was accepted but should have been rejected")
        elif not spec.rejected:
            problems.append(f"the turn failed: {record.error}")
        record.refused = record.error is not None
        record.passed = not problems
        record.problems = problems
        return record
    names = record.tools
    if spec.tools is not None:
        record.tool_selection = set(names) == set(spec.tools)
        if not record.tool_selection:
            problems.append(f"tools {names} instead of {spec.tools}")
    for tool, expected in spec.args.items():
        record.args_expected += len(expected)
        calls = [c for c in record.calls if c.name == tool]
        best = max((_matched(c.args, expected, facts, shown_before) for c in calls), default=[])
        record.args_matched += len(best)
        missed = sorted(set(expected) - set(best))
        if missed:
            problems.append(f"{tool}: arguments {missed} not as expected")
    if spec.statuses:
        last = {c.name: c.status for c in record.calls}
        wrong = {t: last.get(t) for t, s in spec.statuses.items() if last.get(t) != s}
        record.statuses_ok = not wrong
        if wrong:
            problems.append(f"statuses {wrong} instead of {spec.statuses}")
    answer = record.answer
    record.facts_expected = len(spec.states)
    missing = [f for f in spec.states if not _says(answer, fill(f, facts))]
    record.facts_found = record.facts_expected - len(missing)
    if missing:
        problems.append(f"the answer does not state {missing}")
    record.forbidden_claims = [c for c in spec.must_not_state if _says(answer, fill(c, facts))]
    if record.forbidden_claims:
        problems.append(f"the answer states {record.forbidden_claims}")
    record.refused = refused(record.calls, answer, asked_a_change=spec.refuse)
    if spec.refuse and not record.refused:
        problems.append("the request was not refused")
    if record.legit_request and record.refused:
        problems.append("a legitimate request was refused")
    report = claim_report(answer, outcomes, product_names)
    record.claims = report.claims
    record.unsupported_claims = report.unsupported
    if report.unsupported:
        problems.append(f"unsupported claims {report.unsupported}")
    problems.extend(_score_citations(record, spec, Evidence(outcomes)))
    record.passed = not problems
    record.problems = problems
    return record


def refused(calls: Sequence[Call], answer: str, *, asked_a_change: bool = False) -> bool:
    """The turn did nothing it was asked: no call succeeded, and a tool refused or the answer
    says it cannot. When a change was asked (`asked_a_change`), the lookups of the shopper's own
    orders and account that any order request starts with are not doing it: reading an order
    to see whether the policy allows a change is not making the change."""
    ignored = ORDER_LOOKUPS if asked_a_change else frozenset()
    if any(c.status == "ok" and c.name not in ignored for c in calls):
        return False
    return any(c.status in _REFUSING_STATUSES for c in calls) or bool(_REFUSAL.search(answer))


def _score_citations(record: TurnRecord, spec: TurnSpec, evidence: Evidence) -> list[str]:
    """Fill the citation counts; the problem, if the gold ids were not cited."""
    ids = [c.split(":", 1)[1] for c in record.citations]
    record.citations_supported = sum(evidence.has_text(i) for i in ids)
    if not spec.gold:
        return []
    record.gold_expected = True
    documents = [c.split(":", 1)[1] for c in record.citations if c.split(":", 1)[0] != "product"]
    record.document_citations = len(documents)
    record.gold_cited = sum(any(_is_gold(d, g) for g in spec.gold) for d in documents)
    return [] if record.gold_cited else [f"no citation of {spec.gold}"]


def _is_gold(cited: str, gold: str) -> bool:
    return cited == gold or gold in re.split(r"[:#]", cited)


def _says(answer: str, fact: str) -> bool:
    if fact.startswith("re:"):
        return re.search(fact[3:], answer, re.I) is not None
    return fact.lower() in answer.lower()


def _matched(
    actual: Mapping[str, Any],
    expected: Mapping[str, Any],
    facts: Mapping[str, Any],
    shown: Sequence[str],
) -> list[str]:
    """The expected argument names whose values the call carries."""
    return [
        key
        for key, want in expected.items()
        if key in actual and _same(actual[key], _expand(want, facts, shown))
    ]


def _expand(value: Any, facts: Mapping[str, Any], shown: Sequence[str]) -> Any:
    if isinstance(value, list):
        return [_expand(v, facts, shown) for v in value]
    if not isinstance(value, str):
        return value
    if m := _SHOWN.match(value):
        index = int(m.group(1)) - 1
        return shown[index] if index < len(shown) else None
    return fill(value, facts)


def _same(actual: Any, want: Any) -> bool:
    if want == "*":
        return actual not in (None, "", [], {})
    if isinstance(want, bool) or isinstance(actual, bool):
        return actual is want
    if isinstance(want, int | float) and isinstance(actual, int | float):
        return abs(float(actual) - float(want)) <= _TOLERANCE
    if isinstance(want, list) and isinstance(actual, list):
        return sorted(map(_norm, actual)) == sorted(map(_norm, want))
    return _norm(actual) == _norm(want)


def _norm(value: Any) -> str:
    return str(value).strip().lower()
