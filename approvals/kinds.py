"""The proposal kinds: for each, who may decide it, what its content must hold, how a person's
edit changes it, what a newer plan supersedes, and how an approved one is executed.

A typed mapping, not a registry by name: `KINDS[kind]` is everything the decision and execution
transactions need to know about a kind, and adding a kind is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from approvals import price_changes, purchase_orders
from retail.errors import AisleError
from retail.identity import Principal, Role
from retail.store.models import Proposal

Checker = Callable[[Mapping[str, Any]], None]
Editor = Callable[[Mapping[str, Any], Mapping[str, float]], dict[str, Any]]
Executor = Callable[[Session, Proposal], str]
# (older's location, older's content, newer's location, newer's content): see `supersedes`.
Supersedes = Callable[[str | None, Mapping[str, Any], str | None, Mapping[str, Any]], bool]
# (session, location, content) -> the approved proposal a new one would conflict with, if any.
InForce = Callable[[Session, str | None, Mapping[str, Any]], Proposal | None]
# content -> what the proposal is, as a person names it ("the markdown of Trail Tent").
Describer = Callable[[Mapping[str, Any]], str]


def _named(content: Mapping[str, Any], key: str) -> str | None:
    value = content.get(key)
    return str(value.get("name") or value.get("id")) if isinstance(value, Mapping) else None


def describe_order(content: Mapping[str, Any]) -> str:
    supplier, location = _named(content, "supplier"), _named(content, "location")
    where = f" for {location}" if location else ""
    return f"the order from {supplier}{where}" if supplier else f"the purchase order{where}"


def describe_markdown(content: Mapping[str, Any]) -> str:
    product = content.get("product") or content.get("sku")
    return f"the markdown of {product}" if product else "the markdown"


class UnknownKindError(AisleError):
    """No proposal kind has this name."""


@dataclass(frozen=True, slots=True)
class ProposalKind:
    """What is particular to one kind of proposal."""

    name: str
    # The operations agent that proposes this kind, as its own service principal: it can never
    # decide its proposals, and executions are audited under its name.
    agent: Principal
    agent_name: str
    deciders: frozenset[Role]
    # Raises AisleError (one sentence) unless the content may be proposed.
    check: Checker
    # The edited content from the content read and the person's changes; raises AisleError.
    edit: Editor
    # Writes the record of an approved proposal in the caller's transaction and returns its id;
    # it looks for a record of this proposal first (check before insert).
    execute: Executor
    # Whether a newer plan (its location and content) replaces an older open proposal: the same
    # order at the same location, the same product in the same price zone.
    supersedes: Supersedes
    # An approved proposal still in force that a new one would conflict with (it is then not
    # proposed); None for a kind whose approvals never conflict.
    in_force: InForce | None = None
    describe: Describer = describe_markdown

    @property
    def agent_words(self) -> str:
        """The proposing agent as a person names it: "the replenishment agent"."""
        return f"the {self.agent_name} agent"

    def may_decide(self, principal: Principal) -> bool:
        return principal.role == "admin" or principal.role in self.deciders

    def who_decides(self) -> str:
        return " or ".join(sorted(self.deciders | {"admin"}))


KINDS: dict[str, ProposalKind] = {
    purchase_orders.KIND: ProposalKind(
        name=purchase_orders.KIND,
        agent=Principal(id="agent:replenishment", role="planner"),
        agent_name="replenishment",
        deciders=frozenset({"planner"}),
        check=purchase_orders.check_purchase_order,
        edit=purchase_orders.edit_purchase_order,
        execute=purchase_orders.create_purchase_order,
        supersedes=purchase_orders.same_order,
        describe=describe_order,
    ),
    price_changes.KIND: ProposalKind(
        name=price_changes.KIND,
        agent=Principal(id="agent:pricing", role="pricing_manager"),
        agent_name="pricing",
        deciders=frozenset({"pricing_manager"}),
        check=price_changes.check_price_change,
        edit=price_changes.edit_markdown,
        execute=price_changes.apply_price_change,
        supersedes=price_changes.same_product_and_zone,
        in_force=price_changes.approved_in_force,
        describe=describe_markdown,
    ),
}


def kind_of(name: str) -> ProposalKind:
    """The kind called `name`; UnknownKindError (one sentence) when there is none."""
    kind = KINDS.get(name)
    if kind is None:
        raise UnknownKindError(f"Unknown proposal kind {name!r}; use one of {', '.join(KINDS)}.")
    return kind
