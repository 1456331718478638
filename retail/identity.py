"""Who is acting: the principal every layer passes down (the API's auth and the CLI's `--as`
make it, never a model), and the roles it may hold.

It lives in the domain layer so that the approval rules (`approvals/`) and the tools
(`tools/`) share one definition without the lower layer importing the higher one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from retail.errors import AisleError

Role = Literal["shopper", "associate", "planner", "pricing_manager", "evaluator", "admin"]
ROLES: tuple[Role, ...] = (
    "shopper",
    "associate",
    "planner",
    "pricing_manager",
    "evaluator",
    "admin",
)


class InvalidPrincipalError(AisleError):
    """A principal specification cannot be read."""


class Principal(BaseModel):
    """Who is acting: made by authentication (API key, `--as`), never by a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="Stable id of the person or service.")
    role: Role
    customer_id: str | None = Field(
        default=None, description="The shopper's own customer record (shoppers only)."
    )
    store_id: str | None = Field(default=None, description="The associate's store.")

    @classmethod
    def parse(cls, spec: str) -> Principal:
        """`ROLE[:ID]` as the CLI's `--as` takes it: `shopper:yara_li_8961`, `planner:ana`.

        A shopper's id is their customer id; an associate's may name a store as `ID@STORE`.
        """
        role, _, ident = spec.partition(":")
        role = role.strip().replace("-", "_")
        if role not in ROLES:
            raise InvalidPrincipalError(
                f"Unknown role {role!r} in {spec!r}; use one of {', '.join(ROLES)}."
            )
        ident = ident.strip()
        if role == "shopper":
            if not ident:
                raise InvalidPrincipalError("A shopper needs a customer id: --as shopper:ID.")
            return cls(id=ident, role="shopper", customer_id=ident)
        person, _, store = ident.partition("@")
        return cls(id=person or role, role=role, store_id=store or None)
