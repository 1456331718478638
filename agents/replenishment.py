"""The replenishment agent: finds SKUs at risk, reads their forecasts, has the reorder planner
propose purchase orders, waits for a planner's decisions, and turns approved proposals into
purchase orders.

It reaches data through tools only, as its service principal (`agent:replenishment`, role
planner), so every proposal's tool call is audited under that name and a planner person is
someone else. The decision loop (interrupt, commit decisions, execute) is the one every
operations agent shares (`agents.operations`); the purchase order's own rules (who decides, how
an edit changes quantities, how an approved proposal becomes a PO) are `approvals.kinds`'.
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
from approvals.purchase_orders import KIND
from tools.base import Services
from tools.replenishment import SkuRisk

FORECASTS_SHOWN = 3  # at-risk SKUs whose forecast the run reads out
FORECAST_DAYS = 14


class ReplenishmentState(ProposalRunState):
    """A replenishment run: what to plan, what it found, and the shared decision loop's state."""

    location_id: str | None = Field(
        default=None, description="The store or channel to plan; None plans every one."
    )
    limit: int | None = Field(
        default=None, description="Review at most this many SKU-locations (in id order)."
    )
    at_risk: list[SkuRisk] = Field(
        default_factory=list,
        description="SKUs whose stock and orders will not cover demand over the lead time.",
    )


def build_graph(
    services: Services, checkpointer: BaseCheckpointSaver[Any]
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The replenishment graph: select -> forecast -> propose -> (await, decide, execute)*."""

    def select_at_risk(state: ReplenishmentState, config: RunnableConfig) -> dict[str, Any]:
        outcome = call_tool(
            HANDLER, services, config, "skus_at_risk", {"location_id": state.location_id}
        )
        found = (outcome.output or {}).get("items", []) if outcome.ok else []
        notes = [] if outcome.ok or outcome.error is None else [outcome.error.message]
        if outcome.ok and outcome.output is not None:
            notes.append(
                f"{outcome.output['at_risk']} of {outcome.output['reviewed']} SKU-locations "
                "may run out before an order placed today arrives."
            )
        return {
            "outcomes": [*state.outcomes, outcome],
            "at_risk": [SkuRisk.model_validate(item) for item in found],
            "notes": [*state.notes, *notes],
        }

    def read_forecasts(state: ReplenishmentState, config: RunnableConfig) -> dict[str, Any]:
        outcomes, notes = [], []
        for risk in state.at_risk[:FORECASTS_SHOWN]:
            outcome = call_tool(
                HANDLER,
                services,
                config,
                "forecast_for_sku",
                {
                    "variant_id": risk.variant_id,
                    "location_id": risk.location_id,
                    "days": FORECAST_DAYS,
                },
            )
            outcomes.append(outcome)
            if outcome.ok and outcome.output is not None:
                out = outcome.output
                source = (
                    f"{out['model']} {out['model_version']}" if out["model"] else "recent sales"
                )
                total = out["forecast_total"] or out["recent_daily_mean"] * FORECAST_DAYS
                notes.append(
                    f"{risk.product} ({risk.variant_id}) at {risk.location_id}: "
                    f"{risk.position} in position, {risk.days_of_cover} days of cover, "
                    f"about {total:.0f} units expected over {FORECAST_DAYS} days ({source})."
                )
        return {"outcomes": [*state.outcomes, *outcomes], "notes": [*state.notes, *notes]}

    def propose(state: ReplenishmentState, config: RunnableConfig) -> dict[str, Any]:
        outcome = call_tool(
            HANDLER,
            services,
            config,
            "propose_reorders",
            {"location_id": state.location_id, "limit": state.limit},
        )
        if not outcome.ok or outcome.output is None:
            message = outcome.error.message if outcome.error else "The planner returned nothing."
            return {"outcomes": [*state.outcomes, outcome], "notes": [*state.notes, message]}
        plan = outcome.output
        proposals = [
            ProposalForDecision(
                id=p["proposal_id"],
                kind=HANDLER.kind,
                content_hash=p["content_hash"],
                location_id=p["location_id"],
                summary=f"purchase order to {p['supplier_id']} for {p['location_id']}: "
                f"{p['lines']} lines, {p['units']} units, value {p['value']:.2f}",
                totals={"lines": p["lines"], "units": p["units"], "value": p["value"]},
            )
            for p in plan["proposals"]
        ]
        record_requests(services.engine, HANDLER, proposals, conversation_id=thread_of(config))
        note = (
            f"{len(proposals)} purchase-order proposals wait for a planner "
            f"(total value {plan['total_value']:.2f}); nothing is ordered until one is approved."
            if proposals
            else "Nothing needs ordering: no proposals."
        )
        return {
            "outcomes": [*state.outcomes, outcome],
            "proposals": proposals,
            "pending": proposals,
            "notes": [*state.notes, note],
        }

    builder = StateGraph(ReplenishmentState)
    builder.add_node("select_at_risk", select_at_risk)
    builder.add_node("read_forecasts", read_forecasts)
    builder.add_node("propose", propose)
    builder.add_edge(START, "select_at_risk")
    builder.add_edge("select_at_risk", "read_forecasts")
    builder.add_edge("read_forecasts", "propose")
    add_decision_loop(builder, HANDLER, services, after="propose")
    return compile_with(builder, ReplenishmentState, checkpointer, name=HANDLER.agent_name)


HANDLER = ProposalHandler(kind=KIND, build_graph=build_graph)
AGENT = HANDLER.agent
