"""Scoring one turn, the claim checker and the summary's estimators, on hand-made turns."""

from __future__ import annotations

from typing import Any

from agents.usage import TokenUsage
from evals.grounding import claim_report
from evals.metrics import pass_hat_k, percentiles, token_figures
from evals.scoring import Call, TurnRecord, refused, score_turn
from evals.suites import TurnSpec
from tools.base import ToolErrorInfo, ToolOutcome

FACTS = {"shopper": "ann_lee_101"}
SHOWN = ["P1", "P2", "P3"]


def _outcome(name: str, output: dict[str, Any] | None = None, status: str = "ok") -> ToolOutcome:
    error = None if status == "ok" else ToolErrorInfo(kind=status, message="No such order.")  # type: ignore[arg-type]
    return ToolOutcome(
        call_id=f"c-{name}",
        name=name,
        arguments={},
        status=status,  # type: ignore[arg-type]
        output=output,
        error=error,
        latency_ms=1.0,
    )


def _record(calls: list[Call], answer: str, citations: list[str] | None = None) -> TurnRecord:
    return TurnRecord(
        brain="local",
        suite="shopper",
        case="c",
        repetition=1,
        turn=1,
        role="shopper",
        intent=None,
        message="m",
        expected_tools=None,
        calls=calls,
        answer=answer,
        citations=citations or [],
    )


def _score(spec: TurnSpec, record: TurnRecord, outcomes: list[ToolOutcome]) -> TurnRecord:
    return score_turn(
        record, spec, outcomes, facts=FACTS, shown_before=SHOWN, product_names=["Trail Boot"]
    )


def test_a_turn_that_does_what_was_asked_passes() -> None:
    details = {"id": "P2", "name": "Trail Boot", "price_min": 89.5}
    spec = TurnSpec(
        say="tell me about the second one",
        tools=["product_details"],
        args={"product_details": {"product_id": "@shown:2"}},
        states=["Trail Boot", r"re:\$\d+\.\d\d"],
        must_not_state=["out of stock"],
    )
    call = Call(name="product_details", args={"product_id": "P2"}, status="ok", latency_ms=3.0)
    record = _score(
        spec,
        _record([call], "Trail Boot: $89.50.", ["product:P2"]),
        [_outcome("product_details", details)],
    )
    assert record.passed, record.problems
    assert (record.tool_selection, record.args_matched, record.args_expected) == (True, 1, 1)
    assert (record.facts_found, record.claims, record.citations_supported) == (2, 2, 1)


def test_each_way_of_failing_is_named() -> None:
    spec = TurnSpec(
        say="compare the first two",
        tools=["compare_products"],
        args={"compare_products": {"product_ids": ["@shown:1", "@shown:2"]}},
        states=["Cheapest:"],
        must_not_state=["free"],
    )
    call = Call(name="search_products", args={"query": "x"}, status="ok", latency_ms=3.0)
    record = _score(
        spec,
        _record([call], "The Trail Boot is free today at $12.00.", ["product:P9"]),
        [_outcome("search_products", {"products": [{"name": "Sock", "price_min": 5.0}]})],
    )
    assert not record.passed
    assert record.tool_selection is False and record.args_matched == 0
    assert record.forbidden_claims == ["free"]
    assert record.unsupported_claims == ["price $12.00", "product Trail Boot"]
    assert record.citations_supported == 0
    assert len(record.problems) == 5


def test_argument_values_compare_loosely_and_fill_placeholders() -> None:
    spec = TurnSpec(
        say="x",
        tools=["customer_profile", "search_products"],
        args={
            "customer_profile": {"customer_id": "{shopper}"},
            "search_products": {"max_price": 150, "colour": "Blue", "size": "*"},
        },
    )
    calls = [
        Call(
            name="customer_profile", args={"customer_id": "ann_lee_101"}, status="ok", latency_ms=1
        ),
        Call(
            name="search_products",
            args={"max_price": 150.004, "colour": "blue", "size": "M"},
            status="ok",
            latency_ms=1,
        ),
    ]
    record = _score(spec, _record(calls, "Here."), [])
    assert (record.args_matched, record.args_expected) == (4, 4)


def test_refusals_and_over_refusals() -> None:
    not_found = Call(name="order_details", args={}, status="not_found", latency_ms=1)
    assert refused([not_found], "You have no order #W1234567.")
    assert refused([], "I'm sorry, that is not something I can help with from this account.")
    assert not refused([Call(name="my_orders", args={}, status="ok", latency_ms=1)], "Sorry!")
    legit = TurnSpec(say="my orders", tools=["my_orders"])
    record = _score(legit, _record([], "Sorry, I can't do that."), [])
    assert record.legit_request and record.refused and not record.passed
    must = TurnSpec(say="set prices", refuse=True)
    assert _score(must, _record([], "I'm sorry, I can't do that for you."), []).passed


def test_a_message_that_must_be_rejected() -> None:
    record = _record([], "")
    record.error = "The message has 4,000 characters; the limit is 2,000."
    assert _score(TurnSpec(say="x", rejected=True), record, []).passed
    accepted = _score(TurnSpec(say="x", rejected=True), _record([], "Hi"), [])
    assert accepted.problems == ["the message was accepted but should have been rejected"]


def test_gold_citations() -> None:
    spec = TurnSpec(say="return window?", tools=["answer_from_documents"], gold=["returns"])
    passages = {"passages": [{"doc_id": "policy:returns#windows", "policy_id": "returns"}]}
    record = _score(
        spec,
        _record(
            [Call(name="answer_from_documents", args={}, status="ok", latency_ms=1)],
            "From the returns policy: 30 days.",
            ["policy:returns", "policy:shipping"],
        ),
        [_outcome("answer_from_documents", passages)],
    )
    assert (record.gold_cited, record.document_citations, record.citations_supported) == (1, 2, 1)
    assert "quantity 30 days" in record.unsupported_claims


def test_a_quoted_confirmation_is_no_policy_claim_but_an_invented_one_is() -> None:
    asked = _outcome("return_order_items", status="needs_confirmation")
    summary = (
        "Please confirm: return item 1 from order #W1000001, with a refund of $5.00 to "
        "paypal_1234567."
    )
    assert asked.error is not None
    asked = asked.model_copy(update={"error": asked.error.model_copy(update={"message": summary})})
    quoted = claim_report(f"{summary} Reply yes to go ahead.", [asked])
    assert quoted.grounded and quoted.claims >= 3
    invented = claim_report("Refunds are issued within 3 days.", [asked])
    assert invented.unsupported == [
        "quantity 3 days",
        "a policy statement with no policy document behind it",
    ]
    dated = claim_report("It shipped on 2026-01-02 as 123456789012.", [])
    assert dated.unsupported == ["date 2026-01-02", "id 123456789012"]


def test_pass_hat_k_and_percentiles() -> None:
    runs = {"a": [True, True, False], "b": [True, True, True], "c": [False, False, False]}
    assert pass_hat_k(runs) == {
        "pass^1": round(5 / 9, 4),
        "pass^2": round(4 / 9, 4),
        "pass^3": round(1 / 3, 4),
    }
    p = percentiles([10.0, 20.0, None, 30.0, 40.0])
    assert p["n"] == 4 and p["p50_ms"] == 25.0
    assert percentiles([]) == {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}


def test_token_figures_add_up_the_reported_usage_and_price_it() -> None:
    asked = _record([], "hello")
    asked.tokens = TokenUsage(requests=2, prompt_tokens=1_500, completion_tokens=100)
    streamed = _record([], "hi")
    streamed.tokens = TokenUsage(requests=1, unreported_requests=1)
    figures = token_figures([asked, streamed, _record([], "local")], (2.0, 8.0))
    assert figures == {
        "llm_requests": 3,
        "unreported_requests": 1,
        "prompt_tokens": 1_500,
        "completion_tokens": 100,
        "tokens_per_turn": round(1_600 / 3, 1),
        "cost": round((1_500 * 2.0 + 100 * 8.0) / 1e6, 6),
    }
