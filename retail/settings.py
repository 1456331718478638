"""Aisle's configuration: one pydantic-settings model read from `AISLE_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retail.errors import AisleError

_PLACEHOLDER_SECRET = "change-me"


class Settings(BaseSettings):
    """Settings for every layer; read through `get_settings()`, never at import time."""

    model_config = SettingsConfigDict(env_prefix="AISLE_", env_file=".env", extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    var_dir: Path = Field(default=Path("var"), description="Where embedded state lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file under var_dir.",
    )
    database_pool_size: int = Field(
        default=5, ge=1, description="Connections each process keeps open to the database."
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Connections opened beyond the pool's size under load."
    )
    database_pool_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="How long a request waits for a free connection before it is answered 503 "
        "with Retry-After (a burst queues this long; a stuck pool fails fast).",
    )
    shared_data_dir: Path = Field(
        default=Path("../shared/data"), description="Public data sets, read in place."
    )
    qdrant_url: str | None = None
    redis_url: str | None = None
    shadow_sample: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="The share of placement requests a shadow recommender also answers (after "
        "the response, never shown): lower it when the serving processes run short of CPU.",
    )
    catalog_check_s: float = Field(
        default=0.5,
        ge=0.0,
        description="How often a serving process checks the catalogue's version (one primary-key "
        "read) and reloads its snapshot once a price or stock write moved it: a price change or "
        "a sell-out reaches recommendations within this plus one reload; 0 checks on every "
        "request.",
    )
    ray_address: str | None = Field(
        default=None,
        description="Run batch forecasting's series partitions as Ray tasks: `local` starts a "
        "Ray instance in this process, `auto` joins the node's cluster, `ray://HOST:10001` a "
        "remote one; unset, everything runs in process.",
    )
    llm_base_url: str | None = None
    llm_api_key: str = _PLACEHOLDER_SECRET
    llm_model: str = "smollm2-135m-instruct"
    llm_timeout_s: float = Field(
        default=90.0, gt=0, description="Per request; the small local model needs tens of seconds."
    )
    llm_price_input_per_mtok: float = Field(
        default=0.0, ge=0, description="Price of a million prompt tokens, for evaluation reports."
    )
    llm_price_output_per_mtok: float = Field(
        default=0.0, ge=0, description="Price of a million completion tokens, for reports."
    )
    secret_key: str = _PLACEHOLDER_SECRET
    audit_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key that signs the audit log's checkpoints (created on "
        "first use, mode 0600); defaults to var_dir/audit/checkpoint.key. It must live outside "
        "the database: a database writer who could read it could re-sign a rewritten chain.",
    )
    audit_checkpoint_every: int = Field(
        default=50,
        ge=1,
        description="Sign a checkpoint of the audit chain's head every this many events.",
    )
    price_zones: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Price zones as JSON, zone id -> its store and online location ids, every "
        "priced location in exactly one (`retail.price_zones`); empty: one zone, CHAIN, covering "
        "every store and online.",
    )
    nearby_store_km: float = Field(
        default=150.0,
        gt=0,
        description="How far (great-circle km) another store may be for an associate to offer it "
        "as nearby: a drive a customer would make for an item the store is out of.",
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _enforce_non_default_secrets(self) -> Settings:
        # A placeholder secret is fine on a laptop and dangerous anywhere else.
        if self.environment == "prod" and self.secret_key == _PLACEHOLDER_SECRET:
            raise ValueError("AISLE_SECRET_KEY must be set to a real secret when environment=prod")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'aisle.db').resolve()}"

    @property
    def resolved_audit_key_path(self) -> Path:
        return self.audit_key_path or self.var_dir / "audit" / "checkpoint.key"

    @property
    def world_dir(self) -> Path:
        """Ground truth of the generated world (expected demand, elasticities, preferences)."""
        return self.var_dir / "world"

    @property
    def quarantine_dir(self) -> Path:
        """Feed files that failed their checks, kept as they arrived (`retail.feeds`)."""
        return self.var_dir / "feeds" / "quarantine"


class SettingsError(AisleError):
    """The environment's AISLE_* configuration is not valid."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; an invalid value is one sentence naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = f"AISLE_{str(problem['loc'][0]).upper()}: " if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"Invalid configuration: {where}{message}.") from None
