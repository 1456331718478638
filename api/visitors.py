"""Who a storefront request is for: a signed-in shopper (from the API key's principal) or an
anonymous visitor (from a session id), as `ml_core.recommend.placements.Visitor`.

An anonymous visitor sends `X-Session-Id` (or the `aisle_session` cookie): a random id the page
made, 8 to 40 letters, digits, `-` or `_`. Its unit is `session:<id>`, a namespace no customer id
is in, so no session id reads or writes a customer's profile; only a shopper's key does. A key
whose principal is not a shopper (an associate's, a planner's) is refused: these routes are the
storefront's, and an associate serves a customer through the clienteling routes.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Cookie, Depends, Header, HTTPException, status

from api.auth import MaybePrincipalDep
from api.deps import InvalidRequest
from ml_core.recommend.placements import Visitor

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
SESSION_COOKIE = "aisle_session"


async def visitor(  # async: it reads headers only, so it takes no worker thread
    principal: MaybePrincipalDep,
    x_session_id: Annotated[
        str | None,
        Header(
            description="An anonymous visitor's session id (8-40 of A-Z a-z 0-9 - _); with a "
            "shopper's key, the browser session the events belong to."
        ),
    ] = None,
    aisle_session: Annotated[
        str | None, Cookie(description="The session id, when not sent as X-Session-Id.")
    ] = None,
) -> Visitor:
    session_id = x_session_id or aisle_session
    if session_id is not None and not SESSION_ID.match(session_id):
        raise InvalidRequest(
            "The session id must be 8 to 40 letters, digits, '-' or '_'.",
            loc=("header", "X-Session-Id"),
            kind="session_id",
        )
    if principal is not None:
        customer_id = principal.customer_id
        if customer_id is None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"These storefront routes are for shoppers and anonymous visitors; the "
                f"{principal.role} role has no customer to recommend for.",
            )
        # Events still need a session; a shopper's page sends one, a script may not.
        return Visitor(customer_id, session_id or customer_id[:40], customer_id)
    if session_id is None:
        raise InvalidRequest(
            "Send an API key for a signed-in shopper, or an X-Session-Id header for an "
            "anonymous visitor.",
            loc=("header", "X-Session-Id"),
            kind="missing",
        )
    return Visitor(f"session:{session_id}", session_id, None)


VisitorDep = Annotated[Visitor, Depends(visitor)]
