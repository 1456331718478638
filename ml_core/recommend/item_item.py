"""Item-item co-occurrence recommender: cosine-normalised co-counts, top-N neighbours, sparse.

Two items are similar when the same users touch both: co(i, j) = x_i . x_j over users, divided
by |x_i| |x_j| + shrink (cosine; the shrink term damps similarities resting on a handful of users).
Each item keeps only its `neighbours` most similar items, so the model stays sparse at any
catalogue size, and a user's score for item j is the sum over the user's items i of sim(i, j).
An item none of the user's items points to has no score (NaN), so it follows in popularity order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from ml_core.recommend.base import Interactions, Recommender, RecommenderError, feedback


class ItemItem(Recommender):
    name = "item_item"

    def __init__(self, *, neighbours: int = 100, shrink: float = 10.0, binary: bool = True) -> None:
        self.neighbours = neighbours
        self.shrink = shrink
        self.binary = binary

    similarity_: sp.csr_array

    def _fit(self, interactions: Interactions) -> None:
        if self.neighbours < 1:
            raise RecommenderError(f"neighbours must be at least 1, not {self.neighbours}.")
        x = feedback(self.matrix_, self.binary)
        co = (x.T @ x).tocoo()
        off_diagonal = co.row != co.col
        row, col, data = co.row[off_diagonal], co.col[off_diagonal], co.data[off_diagonal]
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0))).astype(np.float32)
        data = data / (norms[row] * norms[col] + self.shrink)
        keep = _top_per_row(row, data, self.neighbours)
        n = x.shape[1]
        self.similarity_ = sp.csr_array(
            (data[keep].astype(np.float32), (row[keep], col[keep])), shape=(n, n)
        )

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        history = feedback(self.matrix_[rows], self.binary)
        return _no_evidence_as_nan((history @ self.similarity_).toarray())

    def _item_scores(self, rows: np.ndarray) -> np.ndarray:
        return _no_evidence_as_nan(self.similarity_[rows].toarray())

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        n = len(self.item_ids_)
        self.similarity_ = sp.csr_array(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n)
        )


def _top_per_row(row: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` largest values of each row (entries given as parallel arrays)."""
    order = np.lexsort((-value, row))
    ordered_rows = row[order]
    first_of_row = np.searchsorted(ordered_rows, ordered_rows, side="left")
    rank = np.arange(len(order)) - first_of_row
    return order[rank < n]


def _no_evidence_as_nan(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float32, copy=False)
    scores[scores == 0] = np.nan
    return scores
