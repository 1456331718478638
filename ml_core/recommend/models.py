"""Every recommender by the name the command line, benchmarks and the registry use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml_core.recommend.base import Recommender, RecommenderError, read_saved
from ml_core.recommend.ease import EASE
from ml_core.recommend.item_item import ItemItem
from ml_core.recommend.popularity import Popularity, Trending


def _two_tower(**hyperparameters: Any) -> Recommender:
    # Imported on use: torch costs seconds to import, and most commands never train this model.
    from ml_core.recommend.two_tower import TwoTower

    return TwoTower(**hyperparameters)


RECOMMENDERS: dict[str, Callable[..., Recommender]] = {
    Popularity.name: Popularity,
    Trending.name: Trending,
    ItemItem.name: ItemItem,
    EASE.name: EASE,
    "two_tower": _two_tower,
}


def resolve_recommenders(names: list[str]) -> dict[str, Callable[..., Recommender]]:
    """The factories for `names`, in order (a repeated name counts once); unknown is an error."""
    if not names:
        raise RecommenderError("Name at least one model.")
    chosen: dict[str, Callable[..., Recommender]] = {}
    for name in names:
        if name not in RECOMMENDERS:
            raise RecommenderError(
                f"Unknown model {name!r}: choose from {', '.join(RECOMMENDERS)}."
            )
        chosen[name] = RECOMMENDERS[name]
    return chosen


def load_recommender(folder: Path) -> Recommender:
    """Whichever recommender `Recommender.save` wrote into `folder`, ready to serve."""
    name, params, arrays = read_saved(folder)
    if name not in RECOMMENDERS:
        raise RecommenderError(f"{folder} holds an unknown recommender {name!r}.")
    return RECOMMENDERS[name](**params)._restore(arrays)
