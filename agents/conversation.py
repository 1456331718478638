"""The conversation graph shared by the shopper and associate assistants.

    START -> begin -> brain -> tools -> brain -> ... -> guard -> END

`begin` opens a turn: it clears the last turn's work and, when a write is waiting for the
person's confirmation and this message confirms it, executes exactly that write (the context's
`confirmed_action` is set here, from the person's words, never by a brain). `brain` asks the
configured brain for the next step; `tools` makes the calls through `tools.base.invoke` (grants
and audit included) and turns a `needs_confirmation` result into the dialogue's pending action;
`guard` checks the answer against the turn's tool outputs, replaces an unsupported one with the
local brain's grounded composition and audits the decision. `Assistant.ask` checkpoints each
turn when it ends (or fails), so a thread goes on from its last turn, in any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.brains.base import Brain
from agents.checkpoint import compile_with
from agents.guard import check_answer
from agents.nlu.acts import classify
from agents.state import ConfirmationReply, ConversationState, Message, PendingAction, ToolLine
from retail.audit import append_event
from tools.base import ToolContext, ToolOutcome, ToolSpec, invoke, invoke_confirmed
from tools.catalog import listed_cards, product_cards

MAX_STEPS = 4
# The node whose update carries the turn's answer as the person will read it (checked).
ANSWER_NODE = "guard"


@dataclass(slots=True)
class TurnContext:
    """What a turn runs with; not checkpointed (it holds live objects)."""

    tool_ctx: ToolContext
    brain: Brain
    tools: Sequence[ToolSpec]
    # The local brain: it composes the grounded answer the guard falls back to.
    composer: Brain
    product_names: Sequence[str] = ()
    max_steps: int = MAX_STEPS


def begin(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    fresh: dict[str, Any] = {
        "outcomes": [],
        "calls": [],
        "steps": 0,
        "answer": None,
        "grounded": True,
        "fallback": None,
    }
    pending = state.dialogue.pending_actions
    if not pending:
        if state.dialogue.answered is not None:
            fresh["dialogue"] = state.dialogue.model_copy(update={"answered": None})
        return fresh
    act = classify(state.messages[-1].content)
    # Only a yes with another request keeps the writes waiting (and they are asked again); a
    # no, a yes with a change, or anything else drops them: nothing is written.
    kept = pending if act.kind == "mixed" and not act.change else []
    fresh["dialogue"] = state.dialogue.model_copy(
        update={"pending_actions": kept, "answered": act.kind}
    )
    if not act.confirms:
        return fresh
    ctx = runtime.context.tool_ctx
    outcomes = []
    for action in pending:  # one yes makes the whole set, each bound to its own digest
        outcomes.append(invoke_confirmed(ctx, action.tool, action.arguments, action.digest))
    fresh["outcomes"] = outcomes
    return fresh


def brain_step(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    context = runtime.context
    brain = context.brain if state.steps < context.max_steps else context.composer
    step = brain.decide(state, context.tools)
    update: dict[str, Any] = {"steps": state.steps + 1, "calls": step.tool_calls}
    # The audit names the brain that decided this step's calls: the local one when the
    # configured brain handed the step over.
    decider = context.composer if step.fallback else brain
    context.tool_ctx.brain, context.tool_ctx.model_version = decider.name, decider.version
    if step.fallback:
        update["fallback"] = step.fallback
    if step.dialogue is not None:
        update["dialogue"] = step.dialogue
    if step.answer is not None:
        update["answer"] = step.answer
        update["calls"] = []
    return update


def route_after_brain(state: ConversationState) -> Literal["tools", "guard"]:
    return "tools" if state.calls and state.answer is None else "guard"


def run_tools(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    ctx = runtime.context.tool_ctx
    outcomes: list[ToolOutcome] = list(state.outcomes)
    asked: list[PendingAction] = []
    for call in state.calls:
        outcome = invoke(ctx, call.name, call.arguments, call_id=call.id)
        outcomes.append(outcome)
        if outcome.status == "needs_confirmation" and outcome.error is not None:
            details = outcome.error.details
            asked.append(
                PendingAction(
                    tool=call.name,
                    arguments=call.arguments,
                    digest=str(details.get("digest", "")),
                    summary=str(details.get("summary", outcome.error.message)),
                )
            )
    dialogue = state.dialogue
    if asked:
        # This turn's new writes replace any still waiting from an earlier turn; those asked
        # earlier in this same turn stay with them, to be confirmed together.
        this_turn = {
            str(o.error.details.get("digest"))
            for o in state.outcomes
            if o.status == "needs_confirmation" and o.error is not None
        }
        earlier = [p for p in dialogue.pending_actions if p.digest in this_turn]
        dialogue = dialogue.model_copy(update={"pending_actions": earlier + asked})
    return {"outcomes": outcomes, "calls": [], "dialogue": dialogue}


def guard(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    context = runtime.context
    answer = state.answer
    if answer is None:  # a brain that ran out of steps without answering
        answer = context.composer.decide(state, context.tools).answer
    assert answer is not None
    report = check_answer(answer.text, state.outcomes, context.product_names)
    update: dict[str, Any] = {"grounded": report.grounded}
    if not report.grounded:
        replacement = context.composer.decide(state, context.tools)
        answer = replacement.answer or answer
        if replacement.dialogue is not None:
            update["dialogue"] = replacement.dialogue
    ctx = context.tool_ctx
    append_event(
        ctx.engine,
        event_type="guard",
        principal_id=ctx.principal.id,
        role=ctx.principal.role,
        status="pass" if report.grounded else "replaced",
        conversation_id=ctx.conversation_id,
        agent_name=ctx.agent_name,
        brain=ctx.brain,
        model_version=ctx.model_version,
        detail={"unsupported": report.unsupported, "claims": report.claims},
        settings=ctx.settings,
    )
    update["answer"] = answer
    dialogue = update.get("dialogue", state.dialogue)
    listed = [c for o in state.outcomes if o.ok and o.output for c in listed_cards(o.output)]
    update["messages"] = [
        Message(
            role="assistant",
            content=answer.text,
            cards=product_cards(ctx.engine, answer.products, listed=listed),
            citations=answer.citations,
            quick_replies=answer.quick_replies,
            tools=[ToolLine.of(o) for o in state.outcomes],
            asks_confirmation=bool(dialogue.pending_actions),
            answers_confirmation=_reply(dialogue.answered),
        )
    ]
    return update


def _reply(answered: str | None) -> ConfirmationReply | None:
    """How the turn's message took the waiting write (`DialogueState.answered`, set by `begin`):
    only a plain yes made it; anything else dropped it, or kept it to be asked again."""
    if answered is None:
        return None
    return "confirmed" if answered == "confirm" else "declined"


def build_conversation_graph(checkpointer: Any) -> Any:
    """The compiled graph; one per process, shared by every thread and principal."""
    graph = StateGraph(ConversationState, context_schema=TurnContext)
    graph.add_node("begin", begin)
    graph.add_node("brain", brain_step)
    graph.add_node("tools", run_tools)
    graph.add_node(ANSWER_NODE, guard)
    graph.add_edge(START, "begin")
    graph.add_edge("begin", "brain")
    graph.add_conditional_edges("brain", route_after_brain)
    graph.add_edge("tools", "brain")
    graph.add_edge("guard", END)
    return compile_with(graph, ConversationState, checkpointer, name="conversation")
