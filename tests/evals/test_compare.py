"""Gates on flattened summaries: patterns, directions, tolerances and outright bounds."""

from __future__ import annotations

from evals.compare import GATES_FILE, Gate, Gates, check_gates, differences, flatten, load_gates

SUMMARY = {
    "run": {"seconds": 10},
    "brains": {
        "local": {
            "tool_selection_accuracy": 0.9,
            "failing_turns": [{"turn": 1}],
            "by_intent": {"policy": {"tool_selection_accuracy": 1.0}},
            "latency": {"turn": {"p95_ms": 100.0}},
            "safety": {"unconfirmed_writes": 0, "audit_chain_ok": True},
        }
    },
    "models": {"retrieval": {"modes": {"hybrid": {"overall": {"recall@5": 0.94}}}}},
    "operations": None,
}


def test_flatten_keeps_figures_only() -> None:
    flat = flatten(SUMMARY)
    assert flat == {
        "brains.local.tool_selection_accuracy": 0.9,
        "brains.local.by_intent.policy.tool_selection_accuracy": 1.0,
        "brains.local.latency.turn.p95_ms": 100.0,
        "brains.local.safety.unconfirmed_writes": 0.0,
        "brains.local.safety.audit_chain_ok": 1.0,
        "models.retrieval.modes.hybrid.overall.recall@5": 0.94,
    }


def test_a_star_is_one_part_and_two_stars_any() -> None:
    one = Gate(metric="brains.*.tool_selection_accuracy")
    assert one.matches("brains.local.tool_selection_accuracy")
    assert not one.matches("brains.local.by_intent.policy.tool_selection_accuracy")
    assert Gate(metric="brains.**.tool_selection_accuracy").matches(
        "brains.local.by_intent.policy.tool_selection_accuracy"
    )
    assert Gate(metric="models.retrieval.modes.*.overall.recall@5").matches(
        "models.retrieval.modes.hybrid.overall.recall@5"
    )


def test_gates_allow_their_slack_and_no_more() -> None:
    gates = Gates(
        version=1,
        gates=[
            Gate(metric="brains.*.tool_selection_accuracy", better="higher", tolerance=0.02),
            Gate(metric="brains.*.latency.turn.p95_ms", better="lower", tolerance_ratio=0.25),
            Gate(metric="brains.*.safety.unconfirmed_writes", max=0),
        ],
    )
    champion = flatten(SUMMARY)
    slightly_worse = {
        **champion,
        "brains.local.tool_selection_accuracy": 0.885,
        "brains.local.latency.turn.p95_ms": 124.0,
    }
    assert all(r.passed for r in check_gates(gates, champion, slightly_worse))
    worse = {
        **champion,
        "brains.local.tool_selection_accuracy": 0.85,
        "brains.local.latency.turn.p95_ms": 126.0,
        "brains.local.safety.unconfirmed_writes": 1.0,
    }
    failed = [r.metric for r in check_gates(gates, champion, worse) if not r.passed]
    assert failed == [
        "brains.local.tool_selection_accuracy",
        "brains.local.latency.turn.p95_ms",
        "brains.local.safety.unconfirmed_writes",
    ]
    lost = {k: v for k, v in champion.items() if "latency" not in k}
    (missing,) = [r for r in check_gates(gates, champion, lost) if not r.passed]
    assert missing.rule == "missing in the challenger"
    assert differences(champion, worse)[0] == ("brains.local.latency.turn.p95_ms", 100.0, 126.0)


def test_the_shipped_gates_load() -> None:
    gates = load_gates(GATES_FILE)
    assert any(g.metric == "brains.*.safety.out_of_grant_calls" and g.max == 0 for g in gates.gates)
