"""The pricing agent: markdown candidates, their elasticities, the markdown plan, a guardrail check
of every proposal, then the pricing manager's decisions; approved prices are applied with their
effective dates.

    candidates -> elasticities -> plan -> guardrails -> await_decisions -> apply_decisions
                                                              ^                 |
                                                              +---- execute <---+

The agent runs as its own service principal (`agent:pricing`) and reaches data only through the
pricing tools; its one write is `propose_markdowns`, which writes proposals, never prices. Plans
the circuit breaker stops, and proposals whose price path fails the guardrail re-check, are
reported with their reasons and never put up for decision. Deciding, and applying the prices of
what was approved, happen only on a resume carrying a person's decisions (`agents.operations`):
`approvals.decisions` writes the decision, the price-history rows and the proposal's move to
`executed` in one transaction, once per proposal.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import Field

from agents.checkpoint import compile_with
from agents.operations import (
    ProposalForDecision,
    ProposalHandler,
    ProposalRunState,
    add_decision_loop,
    call_tool,
    record_requests,
    thread_of,
)
from approvals.price_changes import KIND, ProposalBrief
from tools.base import Services, ToolOutcome
from tools.pricing import (
    ItemElasticity,
    MarkdownCandidate,
    MarkdownCandidates,
    MarkdownProposals,
    PricingProposalDetail,
    RejectedPlan,
)

DEFAULT_LIMIT = 20


class PricingRunState(ProposalRunState):
    """A pricing run: what it looked at and planned, on top of the shared decision state."""

    location_id: str | None = Field(
        default=None,
        description="The price zone planned (or a store, for its zone); None for every zone.",
    )
    limit: int = Field(
        default=DEFAULT_LIMIT, description="How many candidates and proposals to show at most."
    )
    candidates: list[MarkdownCandidate] = Field(
        default_factory=list, description="SKU-locations that will not sell through in time."
    )
    elasticities: dict[str, ItemElasticity] = Field(
        default_factory=dict, description="The candidates' products' elasticities, by product."
    )
    plan: MarkdownProposals | None = Field(
        default=None, description="What the markdown planner wrote (proposals only)."
    )
    rejected: list[RejectedPlan] = Field(
        default_factory=list,
        description="Plans the circuit breaker stopped and proposals failing the guardrail "
        "re-check: none of them is put up for decision.",
    )


def _arguments(**values: Any) -> dict[str, Any]:
    """Tool arguments without the unset ones (the audit then shows what was asked)."""
    return {name: value for name, value in values.items() if value is not None}


# What each step of the run was doing, for a note a person reads when it could not.
_DOING = {
    "markdown_candidates": "list the products to mark down",
    "propose_markdowns": "plan the markdowns",
    "pricing_proposal_detail": "read a proposal back",
}


def _failed(outcome: ToolOutcome) -> str:
    """A failed step as a sentence for a person ("Could not plan the markdowns: ..."), not the
    tool's name and raw status."""
    message = outcome.error.message if outcome.error else f"it ended {outcome.status}"
    return f"Could not {_DOING.get(outcome.name, outcome.name)}: {message}"


def _no_elasticity(outcome: ToolOutcome, candidate: MarkdownCandidate) -> str:
    """Why a candidate has no elasticity, naming the product as the page does."""
    product = f"{candidate.product} ({candidate.product_id})"
    if outcome.status == "not_found":
        # The planner plans only products with the sales history an estimate needs.
        return (
            f"No elasticity for {product}: it has too little sales history, so no markdown "
            "is planned for it."
        )
    message = outcome.error.message if outcome.error else f"it ended {outcome.status}"
    return f"No elasticity for {product}: {message}"


def build_graph(
    services: Services, checkpointer: BaseCheckpointSaver[Any]
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The pricing agent's graph over `services`, checkpointed by `checkpointer`."""

    def candidates(state: PricingRunState, config: RunnableConfig) -> dict[str, Any]:
        outcome = call_tool(
            HANDLER,
            services,
            config,
            "markdown_candidates",
            _arguments(location_id=state.location_id, limit=state.limit),
        )
        update: dict[str, Any] = {"outcomes": [*state.outcomes, outcome]}
        if outcome.ok:
            update["candidates"] = MarkdownCandidates.model_validate(outcome.output).candidates
        else:
            update["notes"] = [*state.notes, _failed(outcome)]
        return update

    def elasticities(state: PricingRunState, config: RunnableConfig) -> dict[str, Any]:
        outcomes, notes = list(state.outcomes), list(state.notes)
        found: dict[str, ItemElasticity] = {}
        candidates = {c.product_id: c for c in reversed(state.candidates)}
        for product_id in dict.fromkeys(c.product_id for c in state.candidates):
            outcome = call_tool(
                HANDLER, services, config, "item_elasticity", {"product_id": product_id}
            )
            outcomes.append(outcome)
            if outcome.ok:
                found[product_id] = ItemElasticity.model_validate(outcome.output)
            else:
                notes.append(_no_elasticity(outcome, candidates[product_id]))
        return {"outcomes": outcomes, "elasticities": found, "notes": notes}

    def plan(state: PricingRunState, config: RunnableConfig) -> dict[str, Any]:
        outcome = call_tool(
            HANDLER,
            services,
            config,
            "propose_markdowns",
            _arguments(location_id=state.location_id, limit=state.limit),
        )
        update: dict[str, Any] = {"outcomes": [*state.outcomes, outcome]}
        if outcome.ok:
            written = MarkdownProposals.model_validate(outcome.output)
            update["plan"] = written
            update["rejected"] = list(written.rejected)
        else:
            update["notes"] = [*state.notes, _failed(outcome)]
        return update

    def guardrails(state: PricingRunState, config: RunnableConfig) -> dict[str, Any]:
        outcomes, notes = list(state.outcomes), list(state.notes)
        rejected = list(state.rejected)
        pending: list[ProposalForDecision] = []
        # A proposal prices a product in a zone; the candidates are its SKUs at single
        # locations: the slowest of them says how long the stock would last at today's price.
        cover: dict[str, float] = {}
        for c in state.candidates:
            if c.weeks_of_cover is not None:
                cover[c.product_id] = max(cover.get(c.product_id, 0.0), c.weeks_of_cover)
        for brief in state.plan.proposals if state.plan else []:
            outcome = call_tool(
                HANDLER, services, config, "pricing_proposal_detail", {"proposal_id": brief.id}
            )
            outcomes.append(outcome)
            if not outcome.ok:
                notes.append(_failed(outcome))
                continue
            detail = PricingProposalDetail.model_validate(outcome.output)
            if not detail.guardrails.passes:
                rejected.append(
                    RejectedPlan(
                        product_id=detail.product_id or detail.sku,
                        zone=detail.location_id or "",
                        reasons=detail.guardrails.violations,
                    )
                )
                continue
            elasticity = state.elasticities.get(detail.product_id or "")
            pending.append(
                _for_decision(brief, detail, elasticity, cover.get(detail.product_id or ""))
            )
        if pending:
            record_requests(services.engine, HANDLER, pending, conversation_id=thread_of(config))
        notes.extend(
            f"Stopped: {r.product_id} in zone {r.zone}: {'; '.join(r.reasons)}" for r in rejected
        )
        notes.append(_summary(state, pending, rejected))
        return {
            "outcomes": outcomes,
            "notes": notes,
            "rejected": rejected,
            "proposals": pending,
            "pending": pending,
        }

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(PricingRunState)
    builder.add_node("candidates", candidates)
    builder.add_node("elasticities", elasticities)
    builder.add_node("plan", plan)
    builder.add_node("guardrails", guardrails)
    builder.add_edge(START, "candidates")
    builder.add_edge("candidates", "elasticities")
    builder.add_edge("elasticities", "plan")
    builder.add_edge("plan", "guardrails")
    add_decision_loop(builder, HANDLER, services, after="guardrails")
    return compile_with(builder, PricingRunState, checkpointer, name=HANDLER.agent_name)


def _for_decision(
    brief: ProposalBrief,
    detail: PricingProposalDetail,
    elasticity: ItemElasticity | None,
    longest_weeks_of_cover: float | None,
) -> ProposalForDecision:
    """The proposal as the pricing manager is shown it: one line, and the figures behind it."""
    expected = detail.expected
    units = (
        f"expected {expected.units_text} of {detail.stock or 0:.0f} units sold, "
        if expected
        else ""
    )
    summary = (
        f"{detail.product} in zone {detail.location_id}: {brief.current_price:.2f} -> "
        f"{brief.first_price:.2f} from {brief.first_change_on}, lowest {brief.lowest_price:.2f}; "
        f"{units}{brief.expected_gain:+,.2f} against keeping the price."
    )
    estimate = detail.elasticity
    totals: dict[str, Any] = {
        "sku": detail.sku,
        "current_price": brief.current_price,
        "first_price": brief.first_price,
        "first_change_on": brief.first_change_on,
        "lowest_price": brief.lowest_price,
        "expected_gain": brief.expected_gain,
        "expected": expected.model_dump() if expected else None,
        "elasticity": estimate.model_dump() if estimate else None,
        "longest_weeks_of_cover": longest_weeks_of_cover,
        "weeks": [w.model_dump() for w in detail.weeks],
        "guardrails_pass": detail.guardrails.passes,
        "binding_guardrails": {
            c.guardrail: c.held_back for c in detail.guardrails.checks if c.bound
        },
    }
    if elasticity is not None:
        # The chain-wide estimate today, beside the one the plan was made with.
        totals["elasticity_now"] = {
            "estimate": elasticity.elasticity,
            "lower": elasticity.lower,
            "upper": elasticity.upper,
            "method": elasticity.method,
        }
    return ProposalForDecision(
        id=brief.id,
        kind=KIND,
        content_hash=brief.content_hash,
        location_id=brief.location_id,
        summary=summary,
        totals=totals,
    )


def _summary(
    state: PricingRunState, pending: list[ProposalForDecision], rejected: list[RejectedPlan]
) -> str:
    more = state.plan.more_proposals if state.plan else 0
    parts = [
        f"{len(state.candidates)} markdown candidates",
        f"{len(pending)} proposals wait for the pricing manager",
        f"{len(rejected)} plans stopped by the guardrails",
    ]
    if more:
        parts.append(f"{more} more open proposals beyond the limit (aisle proposals list)")
    return "; ".join(parts) + "."


HANDLER = ProposalHandler(kind=KIND, build_graph=build_graph)
AGENT = HANDLER.agent
