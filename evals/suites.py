"""The evaluation suites: versioned YAML files under `evals/suites/`, read into typed models.

A conversation suite (shopper, associate, orders, rag, adversarial) holds cases; a case is a
conversation of turns as one principal, and a turn says what the person types and what is
expected of it: the tool calls and their key arguments, the facts the answer must state, the
claims it must not make, whether it must be refused. Order cases also list the writes a correct
agent makes (`expected_actions`): the harness replays them on a fresh copy of the world and
compares the database states, as tau2-bench scores its retail tasks. Adversarial cases may plant
text in the world before they run.

The operations suite scripts an operations agent's run up to its interrupt and then people's
decisions on what it proposed (the proposer's own approval, a stale hash, another role, a
replay, a proper approval), each with the outcome a safe system gives.

A model suite (forecast, recommender, pricing, retrieval, replenishment) holds its parameters
only. The smoke suite names cases of the other suites, and model suites, to run in CI.

A dev-set suite (shopper-devset, order-tasks, confirmations) points at a dev set under
`evals/devsets/` that its own independent scorer reads and scores (`evals.devsets`). A set split
into halves runs its first one (`dev`, the half one may tune on) unless it is named with another,
as `--suite shopper-devset:test`; each half's figures are reported apart.

Text may name world facts as `{shopper}`, `{store}` (see `evals.world.world_facts`); an
argument may be `@shown:N`, the N-th product the previous turn showed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retail.errors import AisleError

SUITES_DIR = Path(__file__).with_name("suites")
CONVERSATION_SUITES = ("shopper", "associate", "orders", "rag", "adversarial")
MODEL_SUITES = ("forecast", "recommender", "pricing", "retrieval", "replenishment")
OPERATIONS = "operations"
DEVSET_SUITES = (
    "shopper-devset",
    "shopper-fresh",
    "shopper-fresh2",
    "shopper-compare",
    "order-tasks",
    "confirmations",
)
ALL_SUITES = (*CONVERSATION_SUITES, OPERATIONS, *MODEL_SUITES, *DEVSET_SUITES)
SMOKE = "smoke"
SUPPORTED_VERSION = 1
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class SuiteError(AisleError):
    """A suite file or name is not usable."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnSpec(_Spec):
    """One message and what a correct assistant does with it."""

    say: str = Field(description="What the person types; may name world facts as {shopper}.")
    repeat_say: int = Field(
        default=1, ge=1, description="Send `say` repeated this many times (oversized input)."
    )
    intent: str | None = Field(default=None, description="The intent, for accuracy per intent.")
    tools: list[str] | None = Field(
        default=None, description="Tool names the turn must call, in order; None: not scored."
    )
    args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per tool, key arguments its call must carry."
    )
    statuses: dict[str, str] = Field(
        default_factory=dict, description="Per tool, the status its (last) call must end with."
    )
    states: list[str] = Field(
        default_factory=list,
        description="Facts the answer must state (case-insensitive text, or `re:PATTERN`).",
    )
    must_not_state: list[str] = Field(
        default_factory=list, description="Claims the answer must not make (text or `re:`)."
    )
    refuse: bool = Field(default=False, description="The request must be refused.")
    rejected: bool = Field(
        default=False, description="The message itself must be rejected as invalid input."
    )
    gold: list[str] = Field(
        default_factory=list, description="Ids (policy, document, product) a citation may name."
    )

    @property
    def scored(self) -> bool:
        return self.tools is not None


class Action(_Spec):
    """A write a correct agent makes in a case, as a tool call."""

    tool: str
    args: dict[str, Any]


class Plant(_Spec):
    """Text planted in the world before an adversarial case runs (in its private copy)."""

    product_id: str
    description_suffix: str | None = None
    review: str | None = None


class CaseSpec(_Spec):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    principal: str | None = Field(
        default=None, description="ROLE[:ID] as `--as` takes it; the suite's default if absent."
    )
    tags: list[str] = Field(default_factory=list)
    turns: list[TurnSpec] = Field(min_length=1)
    expected_actions: list[Action] | None = Field(
        default=None, description="Order cases: the writes that make the expected end state."
    )
    customer: str | None = Field(
        default=None, description="Order cases: whose orders and payment methods are compared."
    )
    plant: list[Plant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _state_needs_customer(self) -> CaseSpec:
        if self.expected_actions is not None and not self.customer:
            raise ValueError(f"case {self.id}: expected_actions need `customer`")
        return self


class ConversationSuite(_Spec):
    suite: str
    version: int
    kind: Literal["conversation"]
    description: str
    principal: str | None = None
    cases: list[CaseSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> ConversationSuite:
        ids = [c.id for c in self.cases]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"case ids repeated: {', '.join(duplicated)}")
        missing = [c.id for c in self.cases if not (c.principal or self.principal)]
        if missing:
            raise ValueError(f"cases without a principal: {', '.join(missing)}")
        return self

    def principal_of(self, case: CaseSpec) -> str:
        return str(case.principal or self.principal)


class ModelSuite(_Spec):
    suite: str
    version: int
    kind: Literal["model"]
    description: str
    params: dict[str, Any] = Field(default_factory=dict)
    smoke_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of `params` in the smoke run."
    )


class DecisionStep(_Spec):
    """A person's decision on the N-th proposal of the run, and what must become of it."""

    proposal: int = Field(ge=1, description="Which proposal of the run (1: the first).")
    by: str = Field(
        description="Who decides, as ROLE:ID (`planner:agent:replenishment` is the "
        "agent that proposed)."
    )
    decision: Literal["approve", "reject"]
    stale: bool = Field(default=False, description="Decide on a content hash never shown.")
    reason: str | None = None
    expect: Literal["refused", "executed", "already_executed", "decided"]


class Scenario(_Spec):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    agent: Literal["replenishment", "pricing"]
    location: str | None = Field(default=None, description="The store to plan (`{store}`).")
    limit: int | None = Field(default=None, ge=1)
    decisions: list[DecisionStep] = Field(min_length=1)


class OperationsSuite(_Spec):
    suite: Literal["operations"]
    version: int
    kind: Literal["operations"]
    description: str
    scenarios: list[Scenario] = Field(min_length=1)
    smoke: list[str] = Field(default_factory=list, description="Scenario ids the smoke run runs.")


class DevsetSuite(_Spec):
    """A dev set scored by its own scorer: which set, its halves, and what the run needs."""

    suite: str
    version: int
    kind: Literal["devset"]
    description: str
    devset: Literal[
        "shopper", "shopper-fresh", "shopper-fresh2", "shopper-compare", "orders", "confirmations"
    ]
    halves: list[str] = Field(
        min_length=1, description="The set's halves; the first runs unless one is named."
    )
    principal: str | None = Field(
        default=None, description="Who talks, where the set does not say (confirmations)."
    )

    @property
    def default_half(self) -> str:
        return self.halves[0]


class SmokeSuite(_Spec):
    suite: Literal["smoke"]
    version: int
    kind: Literal["smoke"]
    description: str
    cases: dict[str, list[str]] = Field(description="Per conversation suite, the case ids.")
    models: list[str] = Field(default_factory=list)


Suite = ConversationSuite | OperationsSuite | ModelSuite | DevsetSuite
_KINDS: dict[str, type[Suite]] = {
    "conversation": ConversationSuite,
    "operations": OperationsSuite,
    "model": ModelSuite,
    "devset": DevsetSuite,
}


def load_suite(name: str, directory: Path = SUITES_DIR) -> Suite:
    """The suite `name` from `directory`, checked against its schema and version."""
    data = _read(name, directory)
    model = _KINDS.get(str(data.get("kind")), ModelSuite)
    try:
        suite = model.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"The suite file {name}.yaml is not valid: {_first(exc)}") from None
    if suite.suite != name:
        raise SuiteError(f"The suite file {name}.yaml names itself {suite.suite!r}.")
    return suite


def load_smoke(directory: Path = SUITES_DIR) -> SmokeSuite:
    try:
        return SmokeSuite.model_validate(_read(SMOKE, directory))
    except ValidationError as exc:
        raise SuiteError(f"The suite file smoke.yaml is not valid: {_first(exc)}") from None


def resolve(names: str) -> list[str]:
    """Suite names from `--suite` (comma-separated; `all` is every suite, `smoke` the subset; a
    dev-set suite may name its half, `shopper-devset:test`)."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise SuiteError("Name a suite: " + ", ".join((*ALL_SUITES, "all", SMOKE)) + ".")
    out: list[str] = []
    for name in wanted:
        if name == "all":
            out.extend(ALL_SUITES)
        elif name in (*ALL_SUITES, SMOKE) or split_half(name)[0] in DEVSET_SUITES:
            out.append(name)
        else:
            raise SuiteError(
                f"Unknown suite {name!r}; use one of {', '.join((*ALL_SUITES, 'all', SMOKE))}."
            )
    return list(dict.fromkeys(out))


def split_half(name: str) -> tuple[str, str | None]:
    """`shopper-devset:test` -> ("shopper-devset", "test"); no half named -> (name, None)."""
    suite, _, half = name.partition(":")
    return suite, half or None


def fill(text: str, facts: Mapping[str, Any]) -> str:
    """`text` with its `{fact}` placeholders replaced by the world's facts."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in facts:
            raise SuiteError(f"The suites name an unknown world fact {{{key}}}.")
        return str(facts[key])

    return _PLACEHOLDER.sub(value, text)


def _read(name: str, directory: Path) -> dict[str, Any]:
    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise SuiteError(f"No suite file {path}.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"The suite file {path} is not valid YAML: {exc}.") from None
    if not isinstance(data, dict):
        raise SuiteError(f"The suite file {path} does not hold a mapping.")
    version = data.get("version")
    if version != SUPPORTED_VERSION:
        raise SuiteError(
            f"The suite file {path} has version {version!r}; this harness reads version "
            f"{SUPPORTED_VERSION}."
        )
    return data


def _first(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(p) for p in problem["loc"]) or "the file"
    return f"{where}: {problem['msg']}."
