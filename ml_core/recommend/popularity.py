"""Popularity recommenders: global, per customer segment, and trending (time-decayed).

Popularity is the baseline every personalised model must beat, and the answer for the customers
those models know nothing about. An item's score is the number of distinct users who touched it
(a heavy user viewing one item fifty times is one vote, not fifty); the trending variant counts
each user's vote as 2^(-age / half-life), age being the time from that user's latest event on the
item to the latest event in the data. When the interactions carry `user_segments`, a user in a
segment (including a new one) is ranked by their segment's counts, items the segment never
touched following in global order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml_core.recommend.base import Interactions, Recommender, RecommenderError

_NS_PER_DAY = 86_400 * 10**9


class Popularity(Recommender):
    """Most popular items, per segment when segments are given; time-decayed with a half-life."""

    name = "popularity"

    def __init__(self, *, half_life_days: float | None = None, by_segment: bool = True) -> None:
        self.half_life_days = half_life_days
        self.by_segment = by_segment

    scores_: np.ndarray
    segment_names_: np.ndarray
    segment_scores_: np.ndarray
    segment_user_ids_: np.ndarray
    segment_codes_: np.ndarray
    segment_index_: pd.Index

    def _fit(self, interactions: Interactions) -> None:
        votes = self._votes(interactions)
        self.scores_ = np.asarray(votes.sum(axis=0), dtype=np.float32)
        segments = interactions.user_segments if self.by_segment else None
        if not segments:
            self.segment_names_ = np.array([], dtype=str)
            self.segment_scores_ = np.zeros((0, len(self.item_ids_)), dtype=np.float32)
            self.segment_user_ids_ = np.array([], dtype=str)
            self.segment_codes_ = np.array([], dtype=np.int64)
            self.segment_index_ = pd.Index(self.segment_user_ids_)
        else:
            users = np.asarray(list(segments), dtype=str)
            codes, names = pd.factorize(np.asarray(list(segments.values()), dtype=str), sort=True)
            self.segment_names_ = np.asarray(names, dtype=str)
            self.segment_user_ids_ = users
            self.segment_codes_ = codes.astype(np.int64)
            self.segment_index_ = pd.Index(users)
            # Segment x user indicator times user x item votes: every segment's counts at once.
            row_code = self._segment_codes(self.user_ids_)
            member = np.flatnonzero(row_code >= 0)
            indicator = sp.csr_array(
                (np.ones(len(member), np.float32), (row_code[member], member)),
                shape=(len(names), len(self.user_ids_)),
            )
            self.segment_scores_ = np.asarray((indicator @ votes).toarray(), dtype=np.float32)

    def _votes(self, interactions: Interactions) -> sp.csr_array:
        """User x item votes: 1 per pair, or the decay of the pair's latest event."""
        matrix = interactions.matrix
        if self.half_life_days is None:
            return sp.csr_array(
                (np.ones(matrix.nnz, np.float32), matrix.indices, matrix.indptr), shape=matrix.shape
            )
        if self.half_life_days <= 0:
            raise RecommenderError(
                f"The half-life must be more than 0 days, not {self.half_life_days}."
            )
        if interactions.timestamps is None:
            raise RecommenderError(f"The {self.name} model needs the time of each interaction.")
        times = interactions.timestamps.astype("datetime64[ns]").astype(np.int64)
        age_days = (times.max() - times) / _NS_PER_DAY
        decay = np.exp2(-age_days / self.half_life_days)
        pairs = interactions.users * matrix.shape[1] + interactions.items
        latest = pd.Series(decay).groupby(pairs).max()
        keys = latest.index.to_numpy()
        return sp.csr_array(
            (latest.to_numpy(np.float32), (keys // matrix.shape[1], keys % matrix.shape[1])),
            shape=matrix.shape,
        )

    def _segment_codes(self, user_ids: np.ndarray) -> np.ndarray:
        """Each user's segment code, -1 for a user without a segment."""
        found = self.segment_index_.get_indexer(user_ids) if len(self.segment_index_) else None
        if found is None:
            return np.full(len(user_ids), -1, dtype=np.int64)
        return np.where(found >= 0, self.segment_codes_[found], -1)

    def _scores_for(self, user_ids: np.ndarray) -> np.ndarray:
        scores = np.broadcast_to(self.scores_, (len(user_ids), len(self.scores_))).copy()
        codes = self._segment_codes(user_ids)
        in_segment = np.flatnonzero(codes >= 0)
        if len(in_segment):
            segment = self.segment_scores_[codes[in_segment]]
            # Items the segment never touched: no opinion, so they follow in global order.
            scores[in_segment] = np.where(segment > 0, segment, np.nan)
        return scores

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self._scores_for(self.user_ids_[rows])

    def _cold_user_scores(self, user_ids: np.ndarray) -> np.ndarray:
        return self._scores_for(user_ids)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "scores": self.scores_,
            "segment_names": self.segment_names_,
            "segment_scores": self.segment_scores_,
            "segment_user_ids": self.segment_user_ids_,
            "segment_codes": self.segment_codes_,
        }

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.scores_ = arrays["scores"]
        self.segment_names_ = arrays["segment_names"]
        self.segment_scores_ = arrays["segment_scores"]
        self.segment_user_ids_ = arrays["segment_user_ids"]
        self.segment_codes_ = arrays["segment_codes"]
        self.segment_index_ = pd.Index(self.segment_user_ids_)


class Trending(Popularity):
    """Popularity whose votes halve every `half_life_days` (two weeks unless told otherwise)."""

    name = "trending"

    def __init__(self, *, half_life_days: float = 14.0, by_segment: bool = True) -> None:
        super().__init__(half_life_days=half_life_days, by_segment=by_segment)
