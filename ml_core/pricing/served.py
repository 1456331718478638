"""The elasticity model as a registry kind: fitted per-product elasticities, versioned and served.

`train_elasticities` fits `DMLElasticity` on the store's daily sales (as the planner does) and
saves its per-product table (`elasticities.parquet`) as a version of `elasticity` in the
registry, with its lineage (data hash, last day of sales, method) and a signed manifest. The
planner and the pricing tools read the champion's table (`served_elasticities`, its files
verified), so `aisle models promote|rollback elasticity` changes the elasticities every plan
and answer uses from the next read on; without a champion they fit in process, as before the
kind existed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from ml_core.pricing.elasticity import DML, ITEM, DMLElasticity
from ml_core.pricing.store_data import CONTROLS, item_features, load_sales_records
from ml_core.registry import ArtifactRegistry, Manifest, Stage

ARTIFACT = "elasticity"
TABLE = "elasticities.parquet"
# The version an in-process fit is cited by (no champion in the registry).
IN_PROCESS = "ppml-fe-pooled-1"


def fit_elasticities(engine: Engine, daily: pd.DataFrame) -> pd.DataFrame:
    """Per-product elasticities by product id, fitted on the chain's daily panel with the brand
    tiers in the prior."""
    model = DMLElasticity().fit(daily, controls=CONTROLS, item_features=item_features(engine))
    return model.items_.set_index(ITEM)


def train_elasticities(
    engine: Engine,
    registry: ArtifactRegistry,
    *,
    stage: Stage = "champion",
    by: str = "system",
    reason: str = "trained",
) -> Manifest:
    """Fit the elasticities on every sale recorded and save them as a version in `stage`."""
    records = load_sales_records(engine)
    daily = records.daily_panel()
    table = fit_elasticities(engine, daily)
    data_hash = hashlib.sha256(
        pd.util.hash_pandas_object(daily, index=False).to_numpy().tobytes()
    ).hexdigest()

    def write(folder: Path) -> None:
        table.to_parquet(folder / TABLE)

    methods = table["method"].value_counts()
    return registry.save(
        name=ARTIFACT,
        kind=ARTIFACT,
        data_hash=data_hash,
        write=write,
        parameters={
            "model": DML,
            "controls": list(CONTROLS),
            "data_through": records.last_day.date().isoformat(),
            "products": int(len(table)),
        },
        metrics={
            "products": int(len(table)),
            "median_se": float(table["se"].median()),
            "mean_elasticity": float(table["elasticity"].mean()),
            **{f"method_{k}": int(v) for k, v in methods.items()},
        },
        stage=stage,
        by=by,
        reason=reason,
    )


def elasticity_champion(artifacts: Path) -> str | None:
    """The champion's version (one ledger read: cheap enough to key a cache by)."""
    return ArtifactRegistry(artifacts).ledger(ARTIFACT).champion


def served_elasticities(artifacts: Path) -> tuple[pd.DataFrame, str] | None:
    """The champion's elasticities by product id and its version, its files verified; None
    when there is no champion."""
    registry = ArtifactRegistry(artifacts)
    if registry.ledger(ARTIFACT).champion is None:
        return None
    manifest, folder = registry.active(ARTIFACT)
    return pd.read_parquet(folder / TABLE), manifest.version
