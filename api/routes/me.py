"""Who the request's API key acts as: the pages ask once when a person pastes a key, to say
"signed in as ann (associate)" and to know which pages are theirs."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import PrincipalDep
from api.schemas import AUTH_ERRORS, error_responses
from tools.base import Principal

router = APIRouter(prefix="/v1", tags=["identity"])


@router.get(
    "/me",
    operation_id="whoAmI",
    response_model=Principal,
    responses=error_responses(*AUTH_ERRORS),
)
def who_am_i(principal: PrincipalDep) -> Principal:
    """The principal this key acts as: its id, role, and the shopper's customer or the
    associate's store."""
    return principal
