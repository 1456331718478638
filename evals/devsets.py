"""The dev-set suites, run through the assistant and scored by the dev sets' own scorers.

- shopper-devset: the shopper product-search dev set (`evals.shopper_devset`): every case of a
  half on a thread of its own, as the world's shopper, each turn scored against the relevant set
  the independent SQL scorer computes. A case whose reading disagrees with this world (a
  category it does not have, a no-match request that has matches here, as on another seed) is
  skipped and counted.
- shopper-fresh: a second shopper set of the same form and scorer (`evals/devsets/shopper-fresh`),
  fresh wording written before the code it measures changed; shopper-fresh2 a third, by another
  author.
- order-tasks: tau2-style order tasks (`evals.order_tasks`): each task's customer sends the whole
  request, answers from the task's script and says yes only to gold actions; the customer's end
  state is compared with tau2's rules applied to db.json. A task whose customer's records are not
  db.json's in this world is skipped and counted.
- confirmations: the replies of `evals/devsets/orders/confirmations.yaml`, each sent to a write
  waiting for the shopper's confirmation; only a clear yes may write. After a reply that wrote,
  the copy's database is restored, so every request finds the orders as db.json has them.

The sets of a run share one private copy of the world it is given, and one assistant.

A run may be limited to some items (case ids, task ids, and `REQUEST: REPLY` for a reply:
`RunOptions.only`). It returns its figures (for summary.json) and its records (results.jsonl).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from evals.metrics import percentiles, share
from evals.order_tasks import (
    WRITE_TOOLS,
    OrderTask,
    TaskRun,
    database_state,
    json_state,
    load_tasks,
    run_task,
    state_differences,
)
from evals.shopper_devset import (
    SHOPPER_SETS,
    Case,
    Scorer,
    assistant_ask,
    case_problems,
    load_half,
    run_case,
    summarise,
)
from evals.suites import DevsetSuite, SuiteError
from evals.world import EvalWorld, assistant_on_copy, restore_database
from tools.base import Principal

CONFIRMATIONS = Path(__file__).with_name("devsets") / "orders" / "confirmations.yaml"

Tick = Callable[[], None]


@dataclass(slots=True)
class DevsetResult:
    figures: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request: str
    reply: str
    writes: bool


class _ConfirmationSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: dict[str, str]
    replies: list[_Reply]


def check_half(suite: DevsetSuite, half: str) -> None:
    if half not in suite.halves:
        raise SuiteError(
            f"The suite {suite.suite} has no half {half!r}; use one of {', '.join(suite.halves)}."
        )


def item_ids(suite: DevsetSuite, half: str) -> list[str]:
    """The ids of the cases, tasks or replies of one half of `suite`, in the set's order."""
    if suite.devset in SHOPPER_SETS:
        return [c.id for c in load_half(half, SHOPPER_SETS[suite.devset])]
    if suite.devset == "orders":
        return [t.id for t in load_tasks() if t.half == half]
    return [_reply_id(r) for r in _confirmations().replies]


def _reply_id(reply: _Reply) -> str:
    return f"{reply.request}: {reply.reply}"


@dataclass(frozen=True, slots=True)
class DevsetPart:
    """One half of a dev-set suite to run, and its items (None: every item of the half)."""

    suite: DevsetSuite
    half: str
    only: tuple[str, ...] | None = None

    @property
    def items(self) -> list[str]:
        return item_ids(self.suite, self.half) if self.only is None else list(self.only)


# The order the parts run in on their shared copy: the read-only search first, the confirmations
# last, as restoring the database after a reply that wrote undoes every earlier write.
_RUN_ORDER = {
    "shopper": 0,
    "shopper-fresh": 0,
    "shopper-fresh2": 0,
    "shopper-compare": 0,
    "orders": 1,
    "confirmations": 2,
}


def run_devsets(
    parts: Sequence[DevsetPart],
    *,
    source: tuple[Path, Path],
    folder: Path,
    brain: str,
    tau2_db: Path | None,
    tick: Tick,
    **overrides: Any,
) -> list[tuple[DevsetPart, DevsetResult]]:
    """Run `parts` with `brain` on one private copy in `folder` of the world `source` (its
    database and var dir) with one assistant; `overrides` are settings such as the LLM
    endpoint; `tick` after each item."""
    parts = sorted(parts, key=lambda p: _RUN_ORDER[p.suite.devset])
    db: dict[str, Any] = {}
    if any(p.suite.devset not in SHOPPER_SETS for p in parts):
        if tau2_db is None or not tau2_db.is_file():
            raise SuiteError("The order-task and confirmation suites need tau2's db.json.")
        db = json.loads(tau2_db.read_text(encoding="utf-8"))
    # Warmed up for the timed sets only: the confirmations report no latency.
    warm = any(p.suite.devset != "confirmations" for p in parts)
    results = []
    with assistant_on_copy(source, folder, brain, warm=warm, **overrides) as (world, assistant):
        for part in parts:
            run = _Run(world, assistant, brain, tick, set(part.items), db, source[0])
            results.append((part, run.part(part)))
    return results


@dataclass(slots=True)
class _Run:
    """What the run of one part works with."""

    world: EvalWorld
    assistant: Any
    brain: str
    tick: Tick
    chosen: set[str]
    db: dict[str, Any]
    source_db: Path

    def part(self, part: DevsetPart) -> DevsetResult:
        suite, half = part.suite, part.half
        label = {"suite": suite.suite, "half": half, "brain": self.brain}
        if suite.devset in SHOPPER_SETS:
            found = load_half(half, SHOPPER_SETS[suite.devset])
            cases = [c for c in found if c.id in self.chosen]
            return _shopper(self, cases, half, label)
        if suite.devset == "orders":
            tasks = [t for t in load_tasks() if t.half == half and t.id in self.chosen]
            return _orders(self, tasks, label)
        if suite.principal is None:
            raise SuiteError(f"The {suite.suite} suite names no principal to talk as.")
        confirmations = _confirmations()
        replies = [r for r in confirmations.replies if _reply_id(r) in self.chosen]
        return _replies(
            self, Principal.parse(suite.principal), confirmations.requests, replies, label
        )


# ---- shopper product search -----------------------------------------------------------------


def _shopper(run: _Run, cases: list[Case], half: str, label: dict[str, str]) -> DevsetResult:
    scorer = Scorer(run.world.engine)
    shopper = Principal.parse(f"shopper:{run.world.facts['shopper']}")
    ask = assistant_ask(run.assistant, shopper, run.brain)
    scores = []
    records: list[dict[str, Any]] = []
    skipped = 0
    for case in cases:
        problems = case_problems(scorer, case)
        if problems:
            skipped += 1
            records.append({"record": "devset_skip", **label, "item": case.id, "why": problems})
        else:
            scores += run_case(scorer, case, ask, half)
        run.tick()
    records += [{"record": "devset_turn", **label, **s.model_dump()} for s in scores]
    return DevsetResult({"skipped": skipped, **summarise(scores)}, records)


# ---- order tasks --------------------------------------------------------------------------------


def _orders(run: _Run, tasks: list[OrderTask], label: dict[str, str]) -> DevsetResult:
    runs: list[TaskRun] = []
    records: list[dict[str, Any]] = []
    for task in tasks:
        shopper = Principal.parse(f"shopper:{task.user}")

        def ask(message: str, thread: str | None, who: Principal = shopper) -> Any:
            return run.assistant.ask(who, message, thread_id=thread, brain=run.brain)

        done = run_task(run.world.engine, run.db, task, ask)
        if done is None:
            why = [f"the world's records of {task.user} are not db.json's"]
            records.append({"record": "devset_skip", **label, "item": task.id, "why": why})
        else:
            runs.append(done)
            records.append(
                {
                    "record": "devset_task",
                    **label,
                    "item": task.id,
                    "kind": task.kind,
                    "single_write": task.single_write,
                    "passed": done.passed,
                    "differences": done.differences,
                    "extraneous": done.extraneous,
                    "error": done.error,
                    "transcript": done.transcript,
                    "latencies_ms": done.latencies_ms,
                }
            )
        run.tick()
    single = [r for r in runs if r.task.single_write]
    latency = percentiles(ms for r in runs for ms in r.latencies_ms)
    figures = {
        "tasks": len(runs),
        "skipped": sum(r["record"] == "devset_skip" for r in records),
        "single_write_tasks": len(single),
        "single_write_pass_rate": share(sum(r.passed for r in single), len(single)),
        "all_pass_rate": share(sum(r.passed for r in runs), len(runs)),
        "extraneous_write_tasks": sum(bool(r.extraneous) for r in runs),
        "extraneous_writes": sum(len(r.extraneous) for r in runs),
        "errors": sum(r.error is not None for r in runs),
        "by_kind": {
            kind: share(
                sum(r.passed for r in runs if r.task.kind == kind),
                sum(r.task.kind == kind for r in runs),
            )
            for kind in sorted({r.task.kind for r in runs})
        },
        "turn_latency_p50_ms": latency["p50_ms"],
        "turn_latency_p95_ms": latency["p95_ms"],
    }
    return DevsetResult(figures, records)


# ---- confirmation safety ----------------------------------------------------------------------


def _confirmations() -> _ConfirmationSet:
    return _ConfirmationSet.model_validate(
        yaml.safe_load(CONFIRMATIONS.read_text(encoding="utf-8"))
    )


def _replies(
    run: _Run,
    shopper: Principal,
    requests: dict[str, str],
    replies: list[_Reply],
    label: dict[str, str],
) -> DevsetResult:
    customer, db = shopper.customer_id or "", run.db
    records: list[dict[str, Any]] = []
    for reply in replies:
        if customer not in db["users"] or state_differences(
            database_state(run.world.engine, customer), json_state(db, db["users"][customer])
        ):
            why = [f"the world's records of {customer} are not db.json's"]
            records.append({"record": "devset_skip", **label, "item": _reply_id(reply), "why": why})
        else:
            record = _confirm(run, shopper, requests[reply.request], reply)
            records.append({"record": "devset_reply", **label, **record})
            if record["changed"]:
                restore_database(run.world, run.source_db)
        run.tick()
    return DevsetResult(_reply_figures(records), records)


def _confirm(run: _Run, shopper: Principal, request: str, reply: _Reply) -> dict[str, Any]:
    """Ask for the write, send the reply; what was asked, written and said."""
    customer, engine = shopper.customer_id or "", run.world.engine
    before = database_state(engine, customer)
    asked = run.assistant.ask(shopper, request, brain=run.brain)
    pending = [c for c in asked.tool_calls if c.status == "needs_confirmation"]
    record: dict[str, Any] = {
        "item": _reply_id(reply),
        "request": reply.request,
        "reply": reply.reply,
        "clear_yes": reply.writes,
        "asked": len(pending) == 1,
        "wrote": False,
        "wrote_as_asked": False,
        "answer": "",
    }
    if record["asked"]:
        answer = run.assistant.ask(shopper, reply.reply, thread_id=asked.thread_id, brain=run.brain)
        writes = [c for c in answer.tool_calls if c.status == "ok" and c.name in WRITE_TOOLS]
        changed = database_state(engine, customer) != before
        record["answer"] = answer.answer
        record["wrote"] = bool(writes) or changed
        record["wrote_as_asked"] = changed and [(c.name, c.args) for c in writes] == [
            (pending[0].name, pending[0].args)
        ]
    # A request that wrote without asking has changed the world too.
    record["changed"] = database_state(engine, customer) != before
    return record


def _reply_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    replies = [r for r in records if r["record"] == "devset_reply"]
    asked = [r for r in replies if r["asked"]]
    others = [r for r in asked if not r["clear_yes"]]
    yes = [r for r in asked if r["clear_yes"]]
    return {
        "replies": len(replies),
        "skipped": len(records) - len(replies),
        "not_asked": len(replies) - len(asked),
        "non_yes_replies": len(others),
        "writes_from_non_yes": sum(r["wrote"] for r in others),
        "yes_replies": len(yes),
        "yes_replies_that_wrote": sum(r["wrote_as_asked"] for r in yes),
        "yes_write_rate": share(sum(r["wrote_as_asked"] for r in yes), len(yes)),
        "writes_without_asking": sum(r["changed"] and not r["asked"] for r in replies),
    }
