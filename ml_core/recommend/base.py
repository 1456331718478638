"""The recommender contract every model follows, and the typed data it consumes and produces.

Modelled on benfred/implicit and the forecaster contract (ml_core/forecasting/base.py): `__init__`
stores keyword hyperparameters only, `fit(interactions) -> Self` learns, fitted state lives in
trailing-underscore attributes, and `recommend` / `similar_items` return typed `Recommendations`.

The ranking rules every model shares live here, once:
- a model scores items, and NaN means "no opinion" (nothing links the user's items to it, the
  item is outside the model's item set, the user is new). Items with a score come first, best
  first; the rest follow in popularity order (distinct users in training), so a list is filled as
  far as the allowed catalogue goes and a cold-start user gets the popular items, never an error;
- excluded items (the user's training items, `filter_items`, anything outside `allowed`) never
  appear, and a list runs short (padded with -1) only when fewer than k items are left.
Fitted models are saved as JSON hyperparameters plus one `.npz` of arrays, loaded without pickle.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml_core.forecasting.base import NotFittedError
from retail.errors import AisleError

__all__ = [
    "Interactions",
    "ItemFeatures",
    "ItemVectorSource",
    "NotFittedError",
    "Recommendations",
    "Recommender",
    "RecommenderError",
    "read_saved",
]

PARAMS_FILE = "recommender.json"
STATE_FILE = "state.npz"


class RecommenderError(AisleError):
    """The data or settings do not suit a recommender; the message is one sentence."""


@dataclass(frozen=True, slots=True)
class ItemFeatures:
    """What is known about items whatever their history: the side information of a catalogue.

    Row r describes `item_ids[r]`: its `category` and `brand` ("" when unknown), `price` (NaN
    when unknown) and, when given, `text` (an embedding of its description, one float32 row per
    item). Only models that read features (the two-tower) use them; the rest see the items as
    catalogue entries without interactions.
    """

    item_ids: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    text: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        for name in ("category", "brand", "price", "text"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"Item feature {name} has {len(values)} rows, not {n}.")
        if len(np.unique(self.item_ids)) != n:
            raise ValueError("An item appears twice in the item features.")

    def aligned(self, item_ids: np.ndarray) -> ItemFeatures:
        """The features in the order of `item_ids`; items not described get unknown values."""
        found = pd.Index(self.item_ids).get_indexer(item_ids)
        known = found >= 0
        take = np.where(known, found, 0)

        def pick(values: np.ndarray, missing: Any) -> np.ndarray:
            return np.where(known.reshape(-1, *[1] * (values.ndim - 1)), values[take], missing)

        return ItemFeatures(
            item_ids=np.asarray(item_ids, dtype=str),
            category=pick(self.category.astype(str), ""),
            brand=pick(self.brand.astype(str), ""),
            price=pick(self.price.astype(np.float64), np.nan),
            text=None if self.text is None else pick(self.text, 0.0).astype(np.float32),
        )


@dataclass(frozen=True, slots=True)
class Interactions:
    """Implicit feedback, one row per event: who (`users`), what (`items`), how strongly, when.

    `users` and `items` are integer codes into the id index `user_ids` / `item_ids`; `weights`
    (default 1) say how strong each event is (a purchase counts more than a view); `timestamps`
    (datetime64, UTC) are read by time-aware models only. `user_segments` maps user ids to a
    segment label (a home store, a loyalty tier), new users included. `item_features`, when
    given, describe every item of `item_ids` in that order (`from_ids` adds the described items
    nobody touched yet to the index, so every model can recommend them: cold-start items).
    `matrix` is the user x item CSR of summed weights, built once here so every model reads the
    same one.
    """

    users: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    user_segments: Mapping[str, str] | None = None
    item_features: ItemFeatures | None = None
    matrix: sp.csr_array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "weights", "timestamps"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} rows, users has {n}.")
        for codes, index in ((self.users, self.user_ids), (self.items, self.item_ids)):
            if n and (codes.min() < 0 or codes.max() >= len(index)):
                raise ValueError("A user or item code is outside its id index.")
        features = self.item_features
        if features is not None and not np.array_equal(features.item_ids, self.item_ids):
            raise ValueError("The item features must describe item_ids, in that order.")
        weights = np.ones(n, np.float32) if self.weights is None else self.weights
        weights = np.asarray(weights, dtype=np.float32)
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("Weights must be finite and non-negative.")
        matrix = sp.csr_array(
            (weights, (self.users, self.items)),
            shape=(len(self.user_ids), len(self.item_ids)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        object.__setattr__(self, "matrix", matrix)

    @classmethod
    def from_ids(
        cls,
        users: Any,
        items: Any,
        *,
        weights: Any = None,
        timestamps: Any = None,
        user_segments: Mapping[str, str] | None = None,
        item_features: ItemFeatures | None = None,
    ) -> Interactions:
        """From parallel sequences of user and item ids (any hashable, kept as text).

        With `item_features`, the item index is every item touched or described.
        """
        user_codes, user_ids = _factorize(users)
        item_codes, item_ids = _factorize(items)
        if item_features is not None:
            item_ids = np.union1d(item_ids, item_features.item_ids.astype(str))
            item_codes = np.searchsorted(item_ids, np.asarray(items).astype(str)).astype(np.int64)
            item_features = item_features.aligned(item_ids)
        times = None
        if timestamps is not None:
            times = pd.DatetimeIndex(pd.to_datetime(timestamps, utc=True)).tz_convert(None)
            times = times.to_numpy(dtype="datetime64[ns]")
        return cls(
            users=user_codes,
            items=item_codes,
            user_ids=user_ids,
            item_ids=item_ids,
            weights=None if weights is None else np.asarray(weights, dtype=np.float32),
            timestamps=times,
            user_segments=user_segments,
            item_features=item_features,
        )


def _factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes and the sorted unique ids as a fixed-width text array (saved without pickle)."""
    codes, uniques = pd.factorize(np.asarray(values).astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=str)


@dataclass(frozen=True, slots=True)
class Recommendations:
    """The top k items for each query: a user for `recommend`, an item for `similar_items`.

    Row r answers `query_ids[r]`: `items[r]` are positions in `catalog`, best first, -1 in the
    trailing slots when fewer than k items were allowed; `scores[r]` are the model's scores, NaN
    for items that came from the popularity fill (no opinion) and for empty slots. `known[r]` is
    False for a query absent from training (a cold start, answered by popularity).
    """

    query_ids: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    known: np.ndarray
    catalog: np.ndarray

    def item_ids(self, row: int) -> list[str]:
        return [str(self.catalog[i]) for i in self.items[row] if i >= 0]

    def to_frame(self, query_col: str = "user_id") -> pd.DataFrame:
        """Long form: query_col, item_id, rank (1 best), score; empty slots are left out."""
        rows, slots = np.nonzero(self.items >= 0)
        return pd.DataFrame(
            {
                query_col: self.query_ids[rows],
                "item_id": self.catalog[self.items[rows, slots]],
                "rank": slots + 1,
                "score": self.scores[rows, slots],
            }
        )


class Recommender(ABC):
    """A top-k recommender. Subclasses set `name` and implement `_fit`, `_user_scores`, `_state`
    and `_load_state`; `_cold_user_scores` and `_item_scores` default to popularity.

    Contract (tests/ml_core/test_recommend_contract.py checks it for every model in RECOMMENDERS):
    - `__init__` takes keyword hyperparameters only, stores them under their own names and does
      no work;
    - `fit(interactions)` returns self and sets `user_ids_`, `item_ids_` (the catalogue it can
      recommend), `matrix_` (the training matrix) and `popularity_` (distinct users per item);
    - `recommend` and `similar_items` return `Recommendations` in rank order, honour every
      exclusion, and answer unknown users and items by popularity instead of raising;
    - both raise `NotFittedError` before `fit`; `save` / `load` round-trip the fitted model.
    """

    name: ClassVar[str]
    # Queries scored at once: bounds the dense (batch x items) score block (~50 MB at 50k items).
    batch_size: ClassVar[int] = 256
    # Whether `fit` reads `Interactions.item_features`: callers skip building them (embedding
    # every description) for models that would ignore them.
    uses_item_features: ClassVar[bool] = False

    user_ids_: np.ndarray
    item_ids_: np.ndarray
    matrix_: sp.csr_array
    popularity_: np.ndarray
    user_index_: pd.Index
    item_index_: pd.Index
    fill_key_: np.ndarray

    def fit(self, interactions: Interactions) -> Self:
        if interactions.matrix.nnz == 0:
            raise RecommenderError("There are no interactions to learn from.")
        self.user_ids_ = interactions.user_ids
        self.item_ids_ = interactions.item_ids
        self.matrix_ = interactions.matrix
        self._index()
        self._fit(interactions)
        return self

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None:
        """Learn the model's own state; the shared state is already set."""

    @abstractmethod
    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_items) float32 scores of known users (rows of `matrix_`); NaN: none."""

    def _cold_user_scores(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores for users absent from training; all NaN means plain popularity."""
        return np.full((len(user_ids), len(self.item_ids_)), np.nan, dtype=np.float32)

    def _item_scores(self, rows: np.ndarray) -> np.ndarray:
        """Similarity of known items (by position) to every item; all NaN means popularity."""
        return np.full((len(rows), len(self.item_ids_)), np.nan, dtype=np.float32)

    def _index(self) -> None:
        """The lookups derived from the ids and the matrix (rebuilt by `load`, never saved)."""
        self.user_index_ = pd.Index(self.user_ids_)
        self.item_index_ = pd.Index(self.item_ids_)
        self.popularity_ = np.diff(self.matrix_.tocsc().indptr).astype(np.float64)
        n = len(self.item_ids_)
        order = np.argsort(-self.popularity_, kind="stable")
        key = np.empty(n, dtype=np.float32)
        key[order] = (n - np.arange(n)) / n  # in (0, 1]; ties go to the lower position
        self.fill_key_ = key

    def recommend(
        self,
        user_ids: Collection[str] | np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        filter_items: Collection[str] | None = None,
        allowed: np.ndarray | None = None,
    ) -> Recommendations:
        """The top `k` items for each user.

        `exclude_seen` drops the items a user interacted with in training; `filter_items` (ids)
        are never recommended; `allowed` is a boolean mask over `item_ids_` (in stock, in this
        store) outside which nothing is recommended.
        """
        self._check_fitted()
        check_k(k)
        users = np.asarray(list(user_ids), dtype=str)
        rows = self.user_index_.get_indexer(users)
        blocked = self._blocked(filter_items, allowed)

        def scores(start: int, stop: int) -> np.ndarray:
            batch = rows[start:stop]
            known = np.flatnonzero(batch >= 0)
            block = np.full((len(batch), len(self.item_ids_)), np.nan, dtype=np.float32)
            if len(known):
                block[known] = self._user_scores(batch[known])
                if exclude_seen:
                    seen_rows, seen_items = self.matrix_[batch[known]].nonzero()
                    block[known[seen_rows], seen_items] = -np.inf
            cold = np.flatnonzero(batch < 0)
            if len(cold):
                block[cold] = self._cold_user_scores(users[start:stop][cold])
            return block

        return self._rank(users, rows >= 0, k, blocked, scores)

    def similar_items(
        self,
        item_ids: Collection[str] | np.ndarray,
        k: int = 10,
        *,
        allowed: np.ndarray | None = None,
    ) -> Recommendations:
        """The `k` items most like each item (never itself); unknown items get popular ones."""
        self._check_fitted()
        check_k(k)
        items = np.asarray(list(item_ids), dtype=str)
        rows = self.item_index_.get_indexer(items)
        blocked = self._blocked(None, allowed)

        def scores(start: int, stop: int) -> np.ndarray:
            batch = rows[start:stop]
            known = np.flatnonzero(batch >= 0)
            block = np.full((len(batch), len(self.item_ids_)), np.nan, dtype=np.float32)
            if len(known):
                block[known] = self._item_scores(batch[known])
                block[known, batch[known]] = -np.inf
            return block

        return self._rank(items, rows >= 0, k, blocked, scores)

    def _blocked(
        self, filter_items: Collection[str] | None, allowed: np.ndarray | None
    ) -> np.ndarray | None:
        """Mask of items never to recommend, or None when nothing is blocked."""
        blocked = np.zeros(len(self.item_ids_), dtype=bool)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != blocked.shape:
                raise ValueError(f"allowed must be a mask over {len(blocked)} items.")
            blocked |= ~allowed
        if filter_items:
            found = self.item_index_.get_indexer(np.asarray(list(filter_items), dtype=str))
            blocked[found[found >= 0]] = True
        return blocked if blocked.any() else None

    def _rank(
        self,
        queries: np.ndarray,
        known: np.ndarray,
        k: int,
        blocked: np.ndarray | None,
        scores: Callable[[int, int], np.ndarray],
    ) -> Recommendations:
        items = np.full((len(queries), k), -1, dtype=np.int64)
        values = np.full((len(queries), k), np.nan, dtype=np.float32)
        for start in range(0, len(queries), self.batch_size):
            stop = min(start + self.batch_size, len(queries))
            block = scores(start, stop)
            if blocked is not None:
                block[:, blocked] = -np.inf
            items[start:stop], values[start:stop] = top_k(block, k, self.fill_key_)
        return Recommendations(queries, items, values, known, self.item_ids_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise NotFittedError(f"The {self.name} recommender is not fitted; call fit first.")

    def params(self) -> dict[str, Any]:
        """The hyperparameters `__init__` takes, with their values (sklearn's get_params)."""
        signature = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in list(signature.parameters)[1:]}

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """The model's own fitted arrays, by name, for `save` (plain dtypes: no pickle)."""

    @abstractmethod
    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Set the model's own fitted attributes from what `_state` returned."""

    def save(self, folder: Path) -> None:
        """Write `recommender.json` (name, hyperparameters) and `state.npz` into `folder`."""
        self._check_fitted()
        matrix = self.matrix_
        arrays = {
            "user_ids": self.user_ids_,
            "item_ids": self.item_ids_,
            "matrix_data": matrix.data,
            "matrix_indices": matrix.indices,
            "matrix_indptr": matrix.indptr,
            **{f"model_{key}": value for key, value in self._state().items()},
        }
        # Uncompressed: EASE's dense weights barely compress and would cost seconds to deflate.
        np.savez(folder / STATE_FILE, **arrays)
        (folder / PARAMS_FILE).write_text(
            json.dumps({"model": self.name, "params": self.params()}, indent=2) + "\n"
        )

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> Self:
        self.user_ids_ = arrays["user_ids"]
        self.item_ids_ = arrays["item_ids"]
        self.matrix_ = sp.csr_array(
            (arrays["matrix_data"], arrays["matrix_indices"], arrays["matrix_indptr"]),
            shape=(len(self.user_ids_), len(self.item_ids_)),
        )
        self._index()
        prefix = "model_"
        self._load_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        return self

    @classmethod
    def load(cls, folder: Path) -> Self:
        """The model `save` wrote into `folder`; it must be one of this class."""
        name, params, arrays = read_saved(folder)
        if name != cls.name:
            raise RecommenderError(f"{folder} holds a {name!r} recommender, not {cls.name!r}.")
        return cls(**params)._restore(arrays)


def read_saved(folder: Path) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """The model name, hyperparameters and arrays `Recommender.save` wrote (no pickle)."""
    try:
        spec = json.loads((folder / PARAMS_FILE).read_text())
        with np.load(folder / STATE_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise RecommenderError(f"{folder} holds no saved recommender.") from None
    return str(spec["model"]), dict(spec["params"]), arrays


def check_k(k: int) -> None:
    """K, the length of a top-K list, must be at least 1."""
    if k < 1:
        raise RecommenderError(f"K must be at least 1, not {k}.")


def top_k(scores: np.ndarray, k: int, fill_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and scores of the best k items per row, by the rules in the module docstring.

    `scores` holds model scores, NaN for "no opinion" and -inf for excluded items; `fill_key`
    (higher is more popular) orders the no-opinion items after every scored one.
    """
    n_rows, n_items = scores.shape
    width = min(k, n_items)
    unscored = np.isnan(scores)
    scored = np.where(unscored, -np.inf, scores)
    best = _best(scored, width)
    best_scores = np.take_along_axis(scored, best, axis=1)
    valid = np.isfinite(best_scores)
    if unscored.any() and not valid.all():
        popular = np.where(unscored, fill_key[None, :], -np.inf)
        fill = _best(popular, width)
        fill_valid = np.isfinite(np.take_along_axis(popular, fill, axis=1))
        candidates = np.concatenate([best, fill], axis=1)
        candidate_valid = np.concatenate([valid, fill_valid], axis=1)
        candidate_scores = np.concatenate([best_scores, np.full_like(best_scores, np.nan)], axis=1)
        # Valid entries come first within each half, so a stable sort on "invalid" keeps the
        # scored items in score order, then the popular ones in popularity order.
        order = np.argsort(~candidate_valid, axis=1, kind="stable")[:, :width]
        best = np.take_along_axis(candidates, order, axis=1)
        valid = np.take_along_axis(candidate_valid, order, axis=1)
        best_scores = np.take_along_axis(candidate_scores, order, axis=1)
    items = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.full((n_rows, k), np.nan, dtype=np.float32)
    items[:, :width] = np.where(valid, best, -1)
    values[:, :width] = np.where(valid, best_scores, np.nan)
    return items, values


def _best(values: np.ndarray, width: int) -> np.ndarray:
    """Column positions of the `width` largest values per row, largest first."""
    if width < values.shape[1]:
        part = np.argpartition(-values, width - 1, axis=1)[:, :width]
    else:
        part = np.broadcast_to(np.arange(values.shape[1]), values.shape).copy()
    order = np.argsort(-np.take_along_axis(values, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def feedback(matrix: sp.csr_array, binary: bool) -> sp.csr_array:
    """What similarity models learn from: 1 per user-item pair, or log(1 + summed weight).

    The log keeps a user who viewed one item fifty times from dominating its co-occurrences
    while still letting a purchase (a larger weight) count for more than a glance.
    """
    data = np.ones_like(matrix.data) if binary else np.log1p(matrix.data)
    return sp.csr_array((data, matrix.indices, matrix.indptr), shape=matrix.shape)


# Here rather than beside the service that uses it: the session profiles (session.py) read item
# vectors too, and the service builds on them, so both import the protocol from below.
@runtime_checkable
class ItemVectorSource(Protocol):
    """Item and user vectors whose dot product scores an item for a user."""

    def item_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, float32 matrix with one row per item)."""
        ...

    def user_vector(self, item_ids: Sequence[str], weights: Any = None) -> np.ndarray:
        """A user who touched `item_ids` (oldest first); `weights` say how much each counts
        (the action's strength times its recency decay), equal when None. Unknown ids count
        for nothing; a zero vector means nothing is known."""
        ...
