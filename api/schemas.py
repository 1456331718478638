"""Schemas that belong to the HTTP API itself: error bodies and the health report.

Domain read models (products, variants, pages) live in `retail.schemas`, shared with the tools.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorPublic(BaseModel):
    """The body of every 4xx and 5xx response."""

    detail: str = Field(description="One sentence saying what went wrong.")


class ValidationErrorPublic(ErrorPublic):
    """The body of a 422 response: the sentence, then each problem as pydantic reports it."""

    errors: list[dict[str, Any]] = Field(
        description="Pydantic's error list: `type`, `loc`, `msg` and, where useful, `ctx`."
    )


class HealthPublic(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unavailable"]
    schema_revision: str | None = Field(
        description="The Alembic revision the database is at; null when it cannot be read."
    )
    version: str = Field(description="Aisle's version.")
