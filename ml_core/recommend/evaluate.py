"""Train recommenders on one interactions frame and score their top-K lists on another.

The semantics are fixed by the CLI contract (`aisle recommend eval`): every model trains on all
of TRAIN and recommends K items to every user in TEST, never one of that user's TRAIN items. A
user's relevant items are their distinct TEST items minus their TRAIN items: the protocol forbids
recommending those, so counting them would only lower every model by the same unreachable amount
(how many pairs were dropped is reported). Test users absent from TRAIN are cold-start users,
test items absent from TRAIN cold-start items: only a model given item features that describe
them (the two-tower) can rank the latter by anything but their zero popularity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ml_core.recommend.base import Interactions, ItemFeatures, Recommender
from ml_core.recommend.data import TIME, WEIGHT
from ml_core.recommend.metrics import ITEM, RANK, USER, topk_report

# Users recommended to per progress step; small enough to show movement on large test sets.
_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    recommendations: dict[str, pd.DataFrame]
    """Per model: user_id, item_id, rank (1 best), K rows per test user at most."""
    metrics: dict[str, dict[str, Any]]
    """Per model: `metrics.topk_report` plus fit and recommend seconds."""
    data: dict[str, Any]
    """Counts describing TRAIN and TEST."""


def interactions_from_frame(
    frame: pd.DataFrame,
    user_segments: Mapping[str, str] | None = None,
    item_features: ItemFeatures | None = None,
) -> Interactions:
    """The `Interactions` of a frame with user_id, item_id, weight and maybe timestamp."""
    return Interactions.from_ids(
        frame[USER].to_numpy(),
        frame[ITEM].to_numpy(),
        weights=frame[WEIGHT].to_numpy(dtype=np.float32),
        timestamps=frame.get(TIME),
        user_segments=user_segments,
        item_features=item_features,
    )


def relevant_pairs(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Distinct TEST (user, item) pairs that are not TRAIN pairs, and how many were."""
    pairs = test[[USER, ITEM]].drop_duplicates()
    train_pairs = train[[USER, ITEM]].drop_duplicates()
    merged = pairs.merge(train_pairs, on=[USER, ITEM], how="left", indicator=True)
    fresh = (merged["_merge"] == "left_only").to_numpy()
    return pairs[fresh].reset_index(drop=True), int((~fresh).sum())


def evaluate_recommenders(
    train: pd.DataFrame,
    test: pd.DataFrame,
    models: Mapping[str, Callable[..., Recommender]],
    k: int,
    *,
    show_progress: bool = True,
    console: Console | None = None,
    user_segments: Mapping[str, str] | None = None,
    item_features: ItemFeatures | None = None,
) -> EvaluationResult:
    """Fit each model on `train`, recommend `k` items to each `test` user, score the lists.

    `item_features` (optional) add the items they describe to every model's catalogue; test
    items among them that TRAIN never touched are the cold-start items a feature-aware model
    can recommend.
    """
    interactions = interactions_from_frame(train, user_segments, item_features)
    users = np.sort(test[USER].unique().astype(str))
    relevant, dropped = relevant_pairs(train, test)
    train_users = pd.Index(interactions.user_ids)
    train_items = pd.Index(np.sort(train[ITEM].unique().astype(str)))
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} users"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not show_progress,
    )
    lists: dict[str, pd.DataFrame] = {}
    metrics: dict[str, dict[str, Any]] = {}
    with progress:
        for name, factory in models.items():
            task = progress.add_task(f"{name}: fitting", total=len(users))
            started = time.perf_counter()
            model = factory().fit(interactions)
            fitted = time.perf_counter()
            progress.update(task, description=f"{name}: recommending")
            parts = []
            for start in range(0, len(users), _CHUNK):
                chunk = users[start : start + _CHUNK]
                parts.append(model.recommend(chunk, k, exclude_seen=True).to_frame())
                progress.advance(task, len(chunk))
            done = time.perf_counter()
            frame = pd.concat(parts, ignore_index=True)[[USER, ITEM, RANK]]
            lists[name] = frame
            metrics[name] = {
                **topk_report(frame, relevant, k, train_users, train_items),
                "fit_seconds": round(fitted - started, 3),
                "recommend_seconds": round(done - fitted, 3),
            }
    data = {
        "train_interactions": len(train),
        "train_users": len(train_users),
        "train_items": len(train_items),
        "test_interactions": len(test),
        "test_users": len(users),
        "relevant_pairs": len(relevant),
        "test_pairs_in_train": dropped,
        "timestamps": TIME in train,
    }
    return EvaluationResult(lists, metrics, data)
