"""Which stored forecasts serve: the runs of the champion forecaster.

Every `aisle forecast run` stores its rows under a `forecast_runs` row naming the model version
that made them. Planners, the replenishment plan and the forecast tools read the newest run of the
registry's champion; a challenger's runs are stored but never read until it is promoted, and a
rollback makes the previous champion's runs the served ones again, row for row. Before the
registry has a champion (forecasts stored by an older Aisle) the newest run serves.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Select, select

from ml_core.registry import ArtifactRegistry
from retail.store.models import ForecastRun

ARTIFACT = "forecaster"


def serving_version(artifacts: Path) -> str | None:
    """The champion forecaster's version in the registry at `artifacts`, if there is one."""
    return ArtifactRegistry(artifacts).ledger(ARTIFACT).champion


def served_runs(champion: str | None) -> Select[ForecastRun]:
    """The runs that may serve, newest first: the champion's, or every run without one."""
    query = select(ForecastRun).order_by(ForecastRun.created_at.desc(), ForecastRun.id.desc())
    return query if champion is None else query.where(ForecastRun.model_version == champion)
