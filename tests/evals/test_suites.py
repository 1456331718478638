"""The shipped suites: they load, name cases the smoke subset can find, and never leak into the
NLU's training data; bad suite names and files are refused with one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.nlu.intents import load_utterances
from evals.runner import plan_suites
from evals.suites import (
    ALL_SUITES,
    CONVERSATION_SUITES,
    DEVSET_SUITES,
    OPERATIONS,
    ConversationSuite,
    DevsetSuite,
    ModelSuite,
    OperationsSuite,
    SuiteError,
    fill,
    load_suite,
    resolve,
)


def test_every_suite_loads_with_its_version() -> None:
    for name in ALL_SUITES:
        suite = load_suite(name)
        assert suite.version == 1
        if name in CONVERSATION_SUITES:
            assert isinstance(suite, ConversationSuite)
        elif name == OPERATIONS:
            assert isinstance(suite, OperationsSuite)
        elif name in DEVSET_SUITES:
            assert isinstance(suite, DevsetSuite)
        else:
            assert isinstance(suite, ModelSuite)


def test_the_smoke_subset_picks_cases_of_every_conversation_suite() -> None:
    plan = plan_suites(["smoke"])
    assert {s.suite for s in plan.conversations} == set(CONVERSATION_SUITES)
    assert all(s.cases for s in plan.conversations)
    assert [m.suite for m, _ in plan.models] == ["retrieval"]
    _, params = plan.models[0]
    assert params["max_queries"] == 20  # the smoke parameters override the suite's
    assert plan.operations is not None
    suite, scenarios = plan.operations
    assert scenarios == ["replenishment-approvals"] and len(suite.scenarios) == 2


def test_no_suite_message_is_training_data() -> None:
    trained = {u.strip().lower() for examples in load_utterances().values() for u in examples}
    for name in CONVERSATION_SUITES:
        suite = load_suite(name)
        assert isinstance(suite, ConversationSuite)
        for case in suite.cases:
            for turn in case.turns:
                message = turn.say.strip().lower()
                if len(message.split()) > 1:  # "yes" and "ok" are words, not phrasings
                    assert message not in trained, f"{name}/{case.id}: {turn.say!r} is trained on"


def test_suite_names_resolve_and_unknown_ones_are_refused() -> None:
    assert resolve("all") == list(ALL_SUITES)
    assert resolve("orders, rag,orders") == ["orders", "rag"]
    assert resolve("shopper-devset:test,confirmations") == ["shopper-devset:test", "confirmations"]
    with pytest.raises(SuiteError, match="Unknown suite 'nope'"):
        resolve("shopper,nope")
    with pytest.raises(SuiteError, match="Unknown suite 'shopper:test'"):
        resolve("shopper:test")
    with pytest.raises(SuiteError, match="Name a suite"):
        resolve(" , ")


def test_a_dev_set_runs_its_dev_half_unless_another_is_named() -> None:
    plan = plan_suites(["all"])
    assert [(p.suite.suite, p.half) for p in plan.devsets] == [
        ("shopper-devset", "dev"),
        ("shopper-fresh", "dev"),
        ("shopper-fresh2", "dev"),
        ("shopper-compare", "dev"),
        ("order-tasks", "dev"),
        ("confirmations", "all"),
    ]
    both = plan_suites(["shopper-devset", "shopper-devset:test"])
    assert [p.half for p in both.devsets] == ["dev", "test"]
    assert len(both.devsets[1].items) > 200  # the frozen half, every case of it
    with pytest.raises(SuiteError, match="has no half 'train'; use one of dev, test"):
        plan_suites(["order-tasks:train"])
    picked = plan_suites(["order-tasks"], only={"order-tasks": ["cancel-01"]})
    assert picked.devsets[0].items == ["cancel-01"]
    with pytest.raises(SuiteError, match=r"order-tasks suite \(dev\) has no items \['cancel-00'\]"):
        plan_suites(["order-tasks"], only={"order-tasks": ["cancel-00"]})  # a test-half task


def test_a_suite_file_of_another_version_or_shape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "shopper.yaml").write_text(yaml.safe_dump({"suite": "shopper", "version": 2}))
    with pytest.raises(SuiteError, match="version 2"):
        load_suite("shopper", tmp_path)
    broken = {
        "suite": "shopper",
        "version": 1,
        "kind": "conversation",
        "description": "d",
        "cases": [{"id": "a", "principal": "shopper:x", "turns": [{"say": "hi", "tool": []}]}],
    }
    (tmp_path / "shopper.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(SuiteError, match=r"cases\.0\.turns\.0\.tool"):
        load_suite("shopper", tmp_path)
    (tmp_path / "rag.yaml").write_text("suite: [unclosed")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite("rag", tmp_path)


def test_placeholders_name_world_facts() -> None:
    assert fill("shopper:{shopper} at {store}", {"shopper": "ann_lee_1", "store": "S001"}) == (
        "shopper:ann_lee_1 at S001"
    )
    # JSON in a message is not a placeholder.
    assert fill('{"role": "system"}', {}) == '{"role": "system"}'
    with pytest.raises(SuiteError, match=r"\{nobody\}"):
        fill("{nobody}", {})
