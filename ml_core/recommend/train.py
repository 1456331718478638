"""`aisle recommend train`: fit a recommender on the store's own interactions and register it.

The model is saved in the artifact registry under the one name "recommender": the serving path
loads the active version by that name whichever model it is, and the manifest names the model
and its hyperparameters, so rolling back may also change the model. The files are JSON plus
`.npz` arrays, never pickle, so loading a model runs no code from the artifact.

Before the final fit the model is checked on a time split of the same data: trained on everything
up to `holdout_days` before the last event, asked for K items per customer who bought afterwards,
and scored on those purchases (new items only). The figures go into the manifest's metrics.

A model that reads item features (the two-tower) is also given every product's category, brand,
base price and embedded description (`store_data.store_item_features`), so products nobody has
touched yet are in its catalogue; the other models are trained without them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ml_core.recommend.base import ItemFeatures, Recommender
from ml_core.recommend.data import TIME
from ml_core.recommend.evaluate import evaluate_recommenders, interactions_from_frame
from ml_core.recommend.metrics import ITEM, USER
from ml_core.recommend.store_data import (
    EVENT,
    PURCHASE,
    store_interactions,
    store_item_features,
)
from ml_core.registry import ArtifactRegistry, Stage

ARTIFACT = "recommender"


@dataclass(frozen=True, slots=True)
class TrainResult:
    model: str
    model_version: str
    users: int
    items: int
    interactions: int
    fit_seconds: float
    holdout: dict[str, Any]
    """The time-split check's metrics at K (empty when the data has no times or no later buys)."""


def train_store_recommender(
    engine: Engine,
    registry: ArtifactRegistry,
    model: Recommender,
    *,
    k: int = 20,
    holdout_days: int = 14,
    text_cache: Path | None = None,
    stage: Stage = "champion",
    by: str = "system",
) -> TrainResult:
    """`text_cache`: where description embeddings are kept between runs (none: embed anew);
    `stage`: where the version enters the registry (a champion serves at once)."""
    frame, segments = store_interactions(engine)
    features = store_item_features(engine, text_cache) if model.uses_item_features else None
    data_hash = hashlib.sha256(
        pd.util.hash_pandas_object(frame[[USER, ITEM, EVENT]], index=False).to_numpy().tobytes()
    ).hexdigest()
    if frame[TIME].isna().any():
        frame = frame.drop(columns=TIME)  # no order has a date (tau2): no time-aware check
    holdout = _holdout_check(frame, segments, features, model, k, holdout_days)
    interactions = interactions_from_frame(frame, segments, features)
    started = time.perf_counter()
    model.fit(interactions)
    fit_seconds = time.perf_counter() - started
    users, items = len(interactions.user_ids), len(interactions.item_ids)
    parameters = {
        "model": model.name,
        "hyperparameters": model.params(),
        "users": users,
        "items": items,
        "interactions": len(frame),
        "holdout_days": holdout_days,
    }
    manifest = registry.save(
        name=ARTIFACT,
        kind="recommender",
        data_hash=data_hash,
        write=model.save,
        parameters=parameters,
        metrics=holdout,
        stage=stage,
        by=by,
    )
    return TrainResult(
        model=model.name,
        model_version=manifest.version,
        users=users,
        items=items,
        interactions=len(frame),
        fit_seconds=round(fit_seconds, 3),
        holdout=holdout,
    )


def _holdout_check(
    frame: pd.DataFrame,
    segments: dict[str, str],
    features: ItemFeatures | None,
    model: Recommender,
    k: int,
    holdout_days: int,
) -> dict[str, Any]:
    if TIME not in frame:
        return {}
    cutoff = frame[TIME].max() - pd.Timedelta(days=holdout_days)
    before = frame[frame[TIME] <= cutoff]
    after = frame[(frame[TIME] > cutoff) & (frame[EVENT] == PURCHASE)]
    if before.empty or after.empty:
        return {}
    result = evaluate_recommenders(
        before,
        after,
        {model.name: lambda: type(model)(**model.params())},
        k,
        show_progress=False,
        user_segments=segments,
        item_features=features,
    )
    report = result.metrics[model.name]
    return {
        "k": k,
        "cutoff": cutoff.isoformat(),
        **{key: report[key] for key in ("users", "precision", "recall", "ndcg", "map")},
        "catalog_coverage": report["catalog_coverage"],
        "cold_start_users": report["cold_start_users"],
    }
