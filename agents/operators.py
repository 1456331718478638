"""The operations agents by the proposal kind each owns: a typed lookup, so that the API and the
command line find the run waiting on a proposal without naming modules as strings.

An agent's module is imported when its kind is first asked for: deciding a purchase order on
the command line need not load the pricing models (scipy, the elasticity estimators), nor a
price change the forecasting stack."""

from __future__ import annotations

from collections.abc import Callable

from agents.operations import ProposalHandler
from retail.proposals import PRICE_CHANGE, PURCHASE_ORDER


def _replenishment() -> ProposalHandler:
    from agents import replenishment

    return replenishment.HANDLER


def _pricing() -> ProposalHandler:
    from agents import pricing

    return pricing.HANDLER


_AGENTS: dict[str, Callable[[], ProposalHandler]] = {
    PURCHASE_ORDER: _replenishment,
    PRICE_CHANGE: _pricing,
}


def handler_for(kind: str) -> ProposalHandler:
    """The operations agent that owns proposals of `kind` (KeyError for no such kind)."""
    return _AGENTS[kind]()
