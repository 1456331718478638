"""Running conversation cases through the assistant, turn by turn, as a person would.

Each case is a fresh thread for its principal; each turn goes through `Assistant.ask` with an
event callback (the streaming path the chat API takes), so the time to the first streamed event
is measured where it is produced. The turn's tool outcomes are read back from the thread's
checkpoint: they are what the answer may rest on, and what the claims are checked against.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from agents.assistant import AnswerChunk, Assistant, Final, ToolFinished, TurnResult
from agents.state import ConversationState
from evals.scoring import MESSAGE_CHARS, Call, TurnRecord, score_turn
from evals.suites import CaseSpec, ConversationSuite, fill
from retail.errors import AisleError
from tools.base import Principal, ToolOutcome


class CaseRecord(BaseModel):
    """One case of one repetition: a line of results.jsonl."""

    record: str = "case"
    brain: str
    suite: str
    case: str
    repetition: int
    tags: list[str]
    turns: int
    turns_passed: int
    state_match: bool | None = None
    state_differences: list[str] = []
    passed: bool = False


@dataclass(slots=True)
class CaseRun:
    case: CaseRecord
    turns: list[TurnRecord] = field(default_factory=list)


def run_case(
    assistant: Assistant,
    suite: ConversationSuite,
    case: CaseSpec,
    *,
    brain: str,
    repetition: int,
    facts: dict[str, Any],
    on_turn: Callable[[TurnRecord], None] | None = None,
) -> CaseRun:
    """Every turn of `case` on one new thread; the case passes when every turn does (an order
    case's end state is checked afterwards, by the runner)."""
    principal = Principal.parse(fill(suite.principal_of(case), facts))
    thread: str | None = None
    shown: list[str] = []
    turns: list[TurnRecord] = []
    for index, spec in enumerate(case.turns, start=1):
        message = fill(spec.say, facts) * spec.repeat_say
        record = TurnRecord(
            brain=brain,
            suite=suite.suite,
            case=case.id,
            repetition=repetition,
            turn=index,
            role=principal.role,
            intent=spec.intent,
            message=_clip(message),
            expected_tools=spec.tools,
        )
        outcomes: Sequence[ToolOutcome] = []
        try:
            thread, outcomes = _ask(assistant, principal, message, thread, brain, record)
        except AisleError as exc:
            record.error = str(exc)
        except Exception as exc:
            # A crash is a finding to report, not a reason to lose the rest of the run.
            record.error = f"crash: {type(exc).__name__}: {exc}"
        score_turn(
            record,
            spec,
            outcomes,
            facts=facts,
            shown_before=shown,
            product_names=assistant.product_names,
        )
        shown = record.products or shown
        turns.append(record)
        if on_turn is not None:
            on_turn(record)
    passed = sum(t.passed for t in turns)
    return CaseRun(
        CaseRecord(
            brain=brain,
            suite=suite.suite,
            case=case.id,
            repetition=repetition,
            tags=case.tags,
            turns=len(turns),
            turns_passed=passed,
            passed=passed == len(turns),
        ),
        turns,
    )


def _ask(
    assistant: Assistant,
    principal: Principal,
    message: str,
    thread: str | None,
    brain: str,
    record: TurnRecord,
) -> tuple[str, list[ToolOutcome]]:
    """One turn; fills the record's observation and returns the thread and its outcomes."""
    started = time.perf_counter()
    first: list[float] = []

    finals: list[TurnResult] = []
    for event in assistant.stream(principal, message, thread_id=thread, brain=brain):
        # The chat API streams each tool outcome as it lands, then the answer: the first event
        # a person sees is the first outcome, or the answer when the turn called no tool.
        if not first and isinstance(event, ToolFinished | AnswerChunk):
            first.append((time.perf_counter() - started) * 1000.0)
        if isinstance(event, Final):
            finals.append(event.result)
    [result] = finals
    values = assistant.graph.get_state({"configurable": {"thread_id": result.thread_id}}).values
    outcomes = ConversationState.model_validate(values).outcomes
    record.calls = [Call.model_validate(c.model_dump()) for c in result.tool_calls]
    record.answer = result.answer
    record.citations = [f"{c.kind}:{c.id}" for c in result.citations]
    record.products = result.products
    record.latency_ms = result.latency_ms
    record.first_event_ms = round(first[0], 2) if first else result.latency_ms
    record.fallback = result.fallback
    record.guard_passed = result.grounded
    record.tokens = result.tokens
    return result.thread_id, outcomes


def _clip(text: str) -> str:
    if len(text) <= MESSAGE_CHARS:
        return text
    return f"{text[:MESSAGE_CHARS]}... ({len(text):,} characters)"
