"""The model registry for admins: each kind's versions and stages, a version's signed manifest and
history, the difference of two versions, promotion through the kind's gate and rollback.

The same operations as `aisle models ...` (`evals.promotion`). A promotion the gate refuses, a
stage change the registry's state refuses, or an artifact whose signature fails is a 409 with one
sentence; an unknown kind or version is a 404.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import RoleGuard, principal_spec
from api.deps import EngineDep, SettingsDep
from api.schemas import AUTH_ERRORS, error_responses
from evals import promotion
from ml_core.registry import (
    ArtifactRegistry,
    describe_kind,
    describe_version,
    describe_versions,
    diff_manifests,
)
from retail.errors import NotFoundError
from retail.identity import Principal
from retail.settings import Settings

router = APIRouter(prefix="/v1/models", tags=["models"])

Admin = Annotated[Principal, Depends(RoleGuard([]))]
Kind = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="The model kind: forecaster, recommender, knowledge-graph.",
    ),
]
# A version names a folder: no separators, no leading dot.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.:_-]*$"
Version = Annotated[str, Path(min_length=1, max_length=80, pattern=VERSION_PATTERN)]
READ_ERRORS = error_responses(*AUTH_ERRORS, 404, 409)
CHANGE_ERRORS = error_responses(*AUTH_ERRORS, 400, 404, 409)


class KindPublic(BaseModel):
    kind: str
    champion: str | None
    model: str | None
    challengers: list[str]
    versions: int


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        pattern=VERSION_PATTERN,
        description="The version to promote (default: the newest candidate or shadow).",
    )
    to: Literal["champion", "shadow", "retired"] = "champion"
    force: bool = Field(default=False, description="Override a refused gate; needs a reason.")
    reason: str = Field(default="", max_length=500)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class GatePublic(BaseModel):
    metric: str
    champion: float | None
    challenger: float | None
    rule: str
    passed: bool


class PromotionPublic(BaseModel):
    kind: str
    version: str
    stage: str
    previous: str | None = Field(description="The champion it replaced, if any.")
    forced: bool
    basis: str | None = Field(description="What both versions were scored on.")
    gates: list[GatePublic]
    scores: dict[str, dict[str, float]]


class StageChangePublic(BaseModel):
    version: str
    stage: str
    at: str
    by: str
    reason: str
    action: str
    forced: bool
    previous: str | None
    evidence: dict[str, Any]


def _registry(settings: Settings, kind: str | None = None) -> ArtifactRegistry:
    registry = ArtifactRegistry(settings.var_dir / "artifacts")
    if kind is not None and not registry.version_ids(kind):
        raise NotFoundError(f"No model kind {kind!r} in the registry.")
    return registry


@router.get("", operation_id="listModels", response_model=list[KindPublic], responses=READ_ERRORS)
def list_models(settings: SettingsDep, principal: Admin) -> list[dict[str, Any]]:
    """Every model kind with its champion, challengers and number of versions."""
    registry = _registry(settings)
    return [describe_kind(registry, name) for name in registry.names()]


@router.get(
    "/{kind}",
    operation_id="listModelVersions",
    response_model=list[dict[str, Any]],
    responses=READ_ERRORS,
)
def list_versions(kind: Kind, settings: SettingsDep, principal: Admin) -> list[dict[str, Any]]:
    """A kind's versions, oldest first, with stage, lineage and metrics."""
    return describe_versions(_registry(settings, kind), kind)


@router.get(
    "/{kind}/history",
    operation_id="listModelStageChanges",
    response_model=list[StageChangePublic],
    responses=READ_ERRORS,
)
def list_stage_changes(kind: Kind, settings: SettingsDep, principal: Admin) -> list[dict[str, Any]]:
    """Every stage change of a kind's versions, oldest first: who, when, why, and whether a
    refused gate was overridden."""
    return [asdict(c) for c in _registry(settings, kind).ledger(kind).history]


@router.get(
    "/{kind}/versions/{version}",
    operation_id="getModelVersion",
    response_model=dict[str, Any],
    responses=READ_ERRORS,
)
def show_version(
    kind: Kind, version: Version, settings: SettingsDep, principal: Admin
) -> dict[str, Any]:
    """A version's signed manifest, stage, stage history and whether its files verify."""
    return describe_version(_registry(settings, kind), kind, version)


@router.get(
    "/{kind}/diff",
    operation_id="diffModelVersions",
    response_model=list[dict[str, Any]],
    responses=READ_ERRORS,
)
def diff_versions(
    kind: Kind,
    settings: SettingsDep,
    principal: Admin,
    version: Annotated[str, Query(min_length=1, max_length=80, pattern=VERSION_PATTERN)],
    against: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=80,
            pattern=VERSION_PATTERN,
            description="Default: the champion.",
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Every lineage field, parameter, metric and file digest that differs between two
    versions."""
    registry = _registry(settings, kind)
    base = against or registry.ledger(kind).champion
    if base is None:
        raise NotFoundError(f"{kind!r} has no champion yet; name the version to diff against.")
    return diff_manifests(
        registry.read_manifest(kind, base)[0], registry.read_manifest(kind, version)[0]
    )


@router.post(
    "/{kind}/promote",
    operation_id="promoteModel",
    response_model=PromotionPublic,
    responses=CHANGE_ERRORS,
)
def promote_model(
    kind: Kind, body: PromoteRequest, engine: EngineDep, settings: SettingsDep, principal: Admin
) -> dict[str, Any]:
    """Promote a version through its kind's gate (scored against the champion on the same
    backtest or holdout); a refusal is a 409 saying why, unless forced with a reason."""
    outcome = promotion.promote(
        engine,
        _registry(settings, kind),
        kind,
        body.version,
        by=principal_spec(principal),
        to=body.to,
        reason=body.reason,
        force=body.force,
    )
    return outcome.as_dict()


@router.post(
    "/{kind}/rollback",
    operation_id="rollbackModel",
    response_model=StageChangePublic,
    responses=CHANGE_ERRORS,
)
def rollback_model(
    kind: Kind, body: RollbackRequest, settings: SettingsDep, principal: Admin
) -> dict[str, Any]:
    """Restore the previous champion; the current one is retired."""
    change = promotion.rollback(
        _registry(settings, kind), kind, by=principal_spec(principal), reason=body.reason
    )
    return asdict(change)
