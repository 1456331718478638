"""The operations agents by the proposal kind each owns: a typed mapping, so that the API and
the command line find the run waiting on a proposal without naming modules as strings."""

from __future__ import annotations

from agents import pricing, replenishment
from agents.operations import ProposalHandler

HANDLERS: dict[str, ProposalHandler] = {
    handler.kind: handler for handler in (replenishment.HANDLER, pricing.HANDLER)
}
