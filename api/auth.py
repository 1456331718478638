"""Who is calling: API keys mapped to principals, the demo principals, and role checks.

A request authenticates with `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are stored
as their SHA-256 in `api_keys`, each with the principal it acts as (id, role, and where relevant
the customer or store), an optional expiry and a revoked flag. `authenticated` resolves the key
to a `Principal` (401 with a sentence otherwise), spends one token of the key's rate limit (429
with Retry-After), and `RoleGuard` turns "this role may not use this route" into a 403.

The demo principals (`aisle users seed-demo`) get keys derived from the secret key, HMAC-SHA256
of their principal spec, so the README can print them for the default development secret and
`aisle users keys` can show them again without storing a key in the clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.ratelimit import RateLimiter
from retail.errors import AisleError
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import ApiKey, Customer, Location, Order
from tools.base import ROLES, Principal, Role, check_principal

KEY_PREFIX = "aisle_"
DEMO_LABEL = "demo"
PLACEHOLDER_SECRET = Settings.model_fields["secret_key"].default
# The tau2 shopper the README's examples use, when tau2 is imported.
PREFERRED_SHOPPER = "olivia_ito_3591"


class AuthSetupError(AisleError):
    """Keys cannot be issued as asked (a placeholder secret outside dev, an unknown principal)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def principal_spec(principal: Principal) -> str:
    """The principal as `Principal.parse` reads it: `shopper:ID`, `associate:ann@S001`."""
    spec = f"{principal.role}:{principal.id}"
    return f"{spec}@{principal.store_id}" if principal.store_id else spec


def demo_key(secret: str, principal: Principal) -> str:
    """The demo key of a principal: the same for the same secret and principal, everywhere."""
    mac = hmac.new(secret.encode("utf-8"), principal_spec(principal).encode("utf-8"), "sha256")
    return KEY_PREFIX + mac.hexdigest()[:32]


def issue_key(
    engine: Engine,
    principal: Principal,
    *,
    label: str,
    key: str | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """Store a key for `principal` (a new random one unless `key` is given) and return it.

    Issuing the same key again updates its principal and expiry and lifts a revocation.
    """
    check_principal(engine, principal)
    key = key or KEY_PREFIX + secrets.token_urlsafe(24)
    with transaction(engine) as session:
        row = session.get(ApiKey, hash_key(key))
        if row is None:
            row = ApiKey(key_hash=hash_key(key), created_at=dt.datetime.now(dt.UTC))
            session.add(row)
        row.principal_id = principal.id
        row.role = principal.role
        row.customer_id = principal.customer_id
        row.store_id = principal.store_id
        row.label = label
        row.expires_at = expires_at
        row.revoked = False
    return key


def revoke_key(engine: Engine, key: str) -> bool:
    """Revoke a key; False when no such key was issued."""
    with transaction(engine) as session:
        row = session.get(ApiKey, hash_key(key))
        if row is None:
            return False
        row.revoked = True
    return True


# --- the demo principals ---------------------------------------------------------------------


def demo_principals(engine: Engine) -> list[Principal]:
    """Who the demo has: a shopper with orders, an associate at the first store, two planners
    (one approves what the other proposes), a pricing manager, an evaluator and an admin."""
    with Session(engine) as session:
        shopper = session.get(Customer, PREFERRED_SHOPPER)
        shopper_id = (
            shopper.id
            if shopper is not None
            else session.scalars(
                select(Order.customer_id)
                .join(Customer, Customer.id == Order.customer_id)
                .where(Customer.source == "generated")
                .group_by(Order.customer_id)
                .order_by(func.count().desc(), Order.customer_id)
                .limit(1)
            ).first()
        )
        store_id = session.scalars(
            select(Location.id).where(Location.kind == "store").order_by(Location.id).limit(1)
        ).first()
    if shopper_id is None or store_id is None:
        raise AuthSetupError(
            "The demo users need a customer with orders and a store; seed the world first "
            "(aisle data seed, aisle data import tau2 ...)."
        )
    specs = [
        f"shopper:{shopper_id}",
        f"associate:ann@{store_id}",
        "planner:pat",
        "planner:quinn",
        "pricing_manager:priya",
        "evaluator:eve",
        "admin:root",
    ]
    return [Principal.parse(spec) for spec in specs]


def _require_real_secret(settings: Settings) -> None:
    if settings.environment != "dev" and settings.secret_key == PLACEHOLDER_SECRET:
        raise AuthSetupError(
            f"Demo keys are derived from AISLE_SECRET_KEY, which is still the placeholder; set a "
            f"real secret to seed them outside dev (environment={settings.environment})."
        )


@dataclass(frozen=True, slots=True)
class DemoKey:
    principal: Principal
    key: str
    issued: bool  # stored in this database (and not revoked)


def seed_demo_keys(engine: Engine, settings: Settings) -> list[DemoKey]:
    """Store the demo principals' keys (idempotent) and return them."""
    _require_real_secret(settings)
    demo = []
    for principal in demo_principals(engine):
        key = demo_key(settings.secret_key, principal)
        issue_key(engine, principal, label=DEMO_LABEL, key=key)
        demo.append(DemoKey(principal, key, issued=True))
    return demo


def demo_keys(engine: Engine, settings: Settings) -> list[DemoKey]:
    """The demo principals' keys for this secret, and whether each is issued here."""
    principals = demo_principals(engine)
    keys = [demo_key(settings.secret_key, p) for p in principals]
    with Session(engine) as session:
        issued = set(
            session.scalars(
                select(ApiKey.key_hash).where(
                    ApiKey.key_hash.in_([hash_key(k) for k in keys]), ApiKey.revoked.is_(False)
                )
            )
        )
    return [
        DemoKey(p, k, issued=hash_key(k) in issued) for p, k in zip(principals, keys, strict=True)
    ]


# --- authenticating a request ----------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False, description="An Aisle API key as a bearer token: `Bearer aisle_...`."
)
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An Aisle API key: `aisle_...`."
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def principal_for_key(engine: Engine, key: str, *, now: dt.datetime | None = None) -> Principal:
    """The principal a key acts as; HTTP 401 when it is unknown, revoked or expired."""
    with Session(engine) as session:
        row = session.get(ApiKey, hash_key(key))
    if row is None:
        raise _unauthorized("The API key is not valid.")
    if row.revoked:
        raise _unauthorized("The API key has been revoked.")
    expires_at = row.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:  # SQLite hands back naive UTC
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        if expires_at <= (now or dt.datetime.now(dt.UTC)):
            raise _unauthorized(f"The API key expired at {expires_at:%Y-%m-%d %H:%M} UTC.")
    role: Role = row.role  # type: ignore[assignment]
    return Principal(
        id=row.principal_id, role=role, customer_id=row.customer_id, store_id=row.store_id
    )


async def authenticated(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The request's principal (401 without a valid key), after its rate limit (429).

    Async, with only the key's lookup and rate limit (SQL, Redis) in a worker thread, so that
    `maybe_authenticated` takes no thread at all for an anonymous visitor's request."""
    key = api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise _unauthorized(
            "This route needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        )
    principal = await anyio.to_thread.run_sync(
        admit_key, request.app.state.engine, request.app.state.rate_limiter, key
    )
    request.state.principal = principal
    return principal


def admit_key(engine: Engine, limiter: RateLimiter, key: str) -> Principal:
    """The principal of a request's key (401 when it is not valid) after the key's rate limit
    (429 with Retry-After): the REST API and the MCP server admit callers the same way."""
    principal = principal_for_key(engine, key.strip())
    wait = limiter.acquire(hash_key(key.strip()))
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many requests with this API key; retry in {wait:.0f} s.",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    return principal


async def maybe_authenticated(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """For routes open to anonymous visitors: the principal of a request that sends a key (401
    for a bad one, 429 over its rate limit, as `authenticated`), None for one that sends none."""
    if not api_key and bearer is None:
        return None
    return await authenticated(request, bearer, api_key)


class RoleGuard:
    """A dependency that admits the given roles (and admin) and refuses the rest with a 403."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles: Sequence[Role] = tuple(r for r in ROLES if r in set(roles))

    async def __call__(  # async: a role check needs no worker thread
        self, request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if principal.role == "admin" or principal.role in self.roles:
            return principal
        allowed = ", ".join((*self.roles, "admin"))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"The {principal.role} role may not use {request.method} "
            f"{request.url.path}; it is for {allowed}.",
        )


PrincipalDep = Annotated[Principal, Depends(authenticated)]
MaybePrincipalDep = Annotated[Principal | None, Depends(maybe_authenticated)]
