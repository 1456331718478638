"""EASE: the closed-form linear item-item model of Steck (2019), "Embarrassingly Shallow
Autoencoders for Sparse Data".

With X the user x item matrix and P = (X^T X + l2 I)^-1, the item-item weights are
B = I - P / diag(P) (each column j divided by P_jj) with a zero diagonal, and a user's scores are
x_u B. The fit is one dense inversion: memory 4 n^2 bytes in float32 (three n x n blocks at the
peak) and time O(n^3). So the model works on at most `max_items` items, the most popular ones
(distinct users) when the catalogue is larger: at the default 10,000 that is 0.4 GB per block and
under a minute on two cores, whereas 50,000 items would need 10 GB per block and hours. Items
outside that set have no EASE score and are filled in popularity order after every scored item;
the long tail they form is what the co-occurrence and two-tower models are for.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.linalg

from ml_core.recommend.base import Interactions, Recommender, RecommenderError, feedback


class EASE(Recommender):
    name = "ease"

    def __init__(self, *, l2: float = 200.0, max_items: int = 10_000, binary: bool = True) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.binary = binary

    weights_: np.ndarray
    item_set_: np.ndarray
    position_: np.ndarray

    def _fit(self, interactions: Interactions) -> None:
        if self.l2 <= 0:
            raise RecommenderError(f"The l2 penalty must be more than 0, not {self.l2}.")
        if self.max_items < 1:
            raise RecommenderError(f"max_items must be at least 1, not {self.max_items}.")
        n = len(self.item_ids_)
        if n > self.max_items:
            popular = np.argsort(-self.popularity_, kind="stable")[: self.max_items]
            item_set = np.sort(popular)
        else:
            item_set = np.arange(n)
        x = feedback(self.matrix_, self.binary)[:, item_set]
        gram = (x.T @ x).toarray().astype(np.float32)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = inverse / -np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights.astype(np.float32, copy=False)
        self.item_set_ = item_set
        self._positions()

    def _positions(self) -> None:
        """Each catalogue item's row in `weights_`, -1 outside the EASE item set."""
        self.position_ = np.full(len(self.item_ids_), -1, dtype=np.int64)
        self.position_[self.item_set_] = np.arange(len(self.item_set_))

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        history = feedback(self.matrix_[rows], self.binary)[:, self.item_set_]
        scores = np.full((len(rows), len(self.item_ids_)), np.nan, dtype=np.float32)
        scores[:, self.item_set_] = history @ self.weights_
        return scores

    def _item_scores(self, rows: np.ndarray) -> np.ndarray:
        scores = np.full((len(rows), len(self.item_ids_)), np.nan, dtype=np.float32)
        position = self.position_[rows]
        inside = np.flatnonzero(position >= 0)
        if len(inside):
            block = self.weights_[position[inside]]
            scores[np.ix_(inside, self.item_set_)] = block
        return scores

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "item_set": self.item_set_}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]
        self.item_set_ = arrays["item_set"]
        self._positions()
