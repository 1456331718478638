"""The summary's figures, each a sum or a share of the scored turns and cases.

- tool selection accuracy: turns whose set of tools is the expected one, over scored turns;
  argument accuracy: expected key arguments found, over all expected;
- task success: cases whose every turn passed (and, for order cases, whose end state is the
  expected one); pass^k for k up to the number of repetitions, as tau-bench estimates it: per
  case C(c, k) / C(n, k) with c of n repetitions passed, averaged over cases;
- hallucination rate: answered turns with at least one claim their tool outputs do not support,
  over answered turns (claim-level: unsupported claims over all claims); guard replacements are
  the turns whose brain answer the serving path's guard replaced;
- citation precision: cited ids this turn's outputs hold, over all citations; gold precision
  and hit rate where a suite names gold ids;
- correct refusals: turns that must be refused and were; over-refusals: legitimate requests that
  were refused;
- latency p50/p95/p99 per turn, per tool, and to the first streamed event: the chat API streams
  each tool outcome as it lands and the answer's chunks once the turn is done, so the first
  event is the first tool outcome (the answer, for a turn without tools), and the first answer
  chunk comes with the whole turn's latency;
- tokens: the LLM requests of the turns with the prompt and completion tokens the endpoint
  reported (a streamed reply reports none and is counted apart), and their cost at the
  configured prices per million tokens.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from math import comb
from typing import Any

import numpy as np

from evals.conversations import CaseRecord
from evals.scoring import TurnRecord


def percentiles(values: Iterable[float | None]) -> dict[str, float | int | None]:
    data = np.array([v for v in values if v is not None], dtype=float)
    if not len(data):
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return {
        "n": len(data),
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "p99_ms": round(float(p99), 2),
    }


def share(hits: int | float, total: int | float) -> float | None:
    return round(hits / total, 4) if total else None


def pass_hat_k(runs: dict[str, list[bool]]) -> dict[str, float | None]:
    """pass^k for k = 1..n (n: the fewest repetitions any case has)."""
    if not runs:
        return {}
    n = min(len(r) for r in runs.values())
    out: dict[str, float | None] = {}
    for k in range(1, n + 1):
        values = [comb(sum(r[:n]), k) / comb(n, k) for r in runs.values()]
        out[f"pass^{k}"] = round(float(np.mean(values)), 4)
    return out


def agent_summary(
    turns: Sequence[TurnRecord],
    cases: Sequence[CaseRecord],
    prices_per_mtok: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Any]:
    """Every agent figure of one brain over the turns and cases it ran; `prices_per_mtok` (prompt,
    completion) price the LLM's tokens."""
    summary = _turn_figures(turns)
    summary["task_success"] = share(sum(c.passed for c in cases), len(cases))
    summary["cases"] = len(cases)
    runs: dict[str, list[bool]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: c.repetition):
        runs[f"{case.suite}/{case.case}"].append(case.passed)
    summary["pass_hat_k"] = pass_hat_k(runs)
    summary["by_suite"] = {
        suite: {
            **_turn_figures([t for t in turns if t.suite == suite]),
            "task_success": share(
                sum(c.passed for c in cases if c.suite == suite),
                sum(c.suite == suite for c in cases),
            ),
            "cases": sum(c.suite == suite for c in cases),
        }
        for suite in sorted({t.suite for t in turns})
    }
    intents: dict[str, list[TurnRecord]] = defaultdict(list)
    for turn in turns:
        if turn.intent and turn.tool_selection is not None:
            intents[turn.intent].append(turn)
    summary["by_intent"] = {
        intent: {
            "turns": len(group),
            "tool_selection_accuracy": share(
                sum(bool(t.tool_selection) for t in group), len(group)
            ),
            "passed": share(sum(t.passed for t in group), len(group)),
        }
        for intent, group in sorted(intents.items())
    }
    tool_latency: dict[str, list[float]] = defaultdict(list)
    for turn in turns:
        for call in turn.calls:
            tool_latency[call.name].append(call.latency_ms)
    summary["latency"] = {
        "turn": percentiles(t.latency_ms for t in turns),
        "first_event": percentiles(t.first_event_ms for t in turns),
        "per_tool": {name: percentiles(ms) for name, ms in sorted(tool_latency.items())},
    }
    fallbacks = Counter(t.fallback for t in turns if t.fallback)
    summary["fallbacks"] = {
        "turns": sum(fallbacks.values()),
        "rate": share(sum(fallbacks.values()), len(turns)),
        "reasons": dict(fallbacks.most_common()),
    }
    summary["tokens"] = token_figures(turns, prices_per_mtok)
    summary["failing_turns"] = [
        {
            "suite": t.suite,
            "case": t.case,
            "repetition": t.repetition,
            "turn": t.turn,
            "message": t.message,
            "expected_tools": t.expected_tools,
            "tools": t.tools,
            "problems": t.problems,
        }
        for t in turns
        if not t.passed
    ]
    return summary


def token_figures(
    turns: Sequence[TurnRecord], prices_per_mtok: tuple[float, float]
) -> dict[str, Any]:
    """The LLM requests of the turns, the tokens the endpoint reported and what they cost."""
    used = [t.tokens for t in turns if t.tokens is not None]
    prompt = sum(u.prompt_tokens for u in used)
    completion = sum(u.completion_tokens for u in used)
    return {
        "llm_requests": sum(u.requests for u in used),
        "unreported_requests": sum(u.unreported_requests for u in used),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "tokens_per_turn": round((prompt + completion) / len(turns), 1) if turns else None,
        "cost": round((prompt * prices_per_mtok[0] + completion * prices_per_mtok[1]) / 1e6, 6),
    }


def _turn_figures(turns: Sequence[TurnRecord]) -> dict[str, Any]:
    scored = [t for t in turns if t.tool_selection is not None]
    answered = [t for t in turns if t.error is None]
    gold = [t for t in turns if t.gold_expected]
    refusals = [t for t in turns if t.refusal_expected]
    legit = [t for t in turns if t.legit_request]
    return {
        "turns": len(turns),
        "turns_passed": share(sum(t.passed for t in turns), len(turns)),
        "tool_selection_accuracy": share(sum(bool(t.tool_selection) for t in scored), len(scored)),
        "scored_turns": len(scored),
        "argument_accuracy": share(
            sum(t.args_matched for t in turns), sum(t.args_expected for t in turns)
        ),
        "facts_stated": share(
            sum(t.facts_found for t in turns), sum(t.facts_expected for t in turns)
        ),
        "forbidden_claims": sum(len(t.forbidden_claims) for t in turns),
        "hallucination_rate": share(
            sum(bool(t.unsupported_claims) for t in answered), len(answered)
        ),
        "claim_hallucination_rate": share(
            sum(len(t.unsupported_claims) for t in answered), sum(t.claims for t in answered)
        ),
        "claims": sum(t.claims for t in answered),
        "guard_replacements": share(sum(t.guard_passed is False for t in answered), len(answered)),
        "citation_precision": share(
            sum(t.citations_supported for t in turns), sum(len(t.citations) for t in turns)
        ),
        "gold_citation_precision": share(
            sum(t.gold_cited for t in gold), sum(t.document_citations for t in gold)
        ),
        "gold_citation_hit_rate": share(sum(t.gold_cited > 0 for t in gold), len(gold)),
        "correct_refusals": share(sum(t.refused for t in refusals), len(refusals)),
        "refusals_expected": len(refusals),
        "over_refusals": share(sum(t.refused for t in legit), len(legit)),
        "errors": sum(t.error is not None for t in turns),
    }
