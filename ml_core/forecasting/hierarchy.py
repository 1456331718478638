"""Forecast hierarchies: aggregate series over grouped levels and reconcile their forecasts.

A retailer reads demand at many levels at once (SKU x store, category x region, department x
chain, ...) and the forecasts must add up: the category's forecast is the sum of its SKUs'. A
`Hierarchy` is the summing matrix S (one row per node, one column per bottom series) of a
grouped structure: each level is a set of attribute columns, so product levels (SKU, category,
department) cross location levels (store, region, chain). Base forecasts are made for every node
and `reconcile` maps them onto coherent ones, y~ = S b with

    b = argmin_{b >= 0} (y^ - S b)' W^-1 (y^ - S b)

the MinT/WLS estimator (Wickramasuriya, Athanasopoulos & Hyndman 2019) with W diagonal: `ols`
(W = I), `wls_struct` (W = number of bottom series under each node) or `wls_var` (W = each
node's own forecast variance, read off the width of its P10-P90 interval, so no in-sample
residuals are needed). Forecasts stay non-negative because b >= 0 is a constraint of the least
squares problem (an active-set solve that checks the optimality conditions), not a clip applied
afterwards, so the result is still coherent.

Coherence is a property of the mean: a quantile of a sum is not the sum of quantiles. Each node
keeps the spread of its own base forecast, moved by the amount reconciliation moved its mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import lsq_linear
from scipy.sparse.linalg import splu

from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, Y
from retail.errors import AisleError

Method = Literal["bottom_up", "ols", "wls_struct", "wls_var"]
METHODS: tuple[str, ...] = ("bottom_up", "ols", "wls_struct", "wls_var")
BOTTOM = "bottom"
TOTAL = "total"
# P90 - P10 of a normal distribution is 2.563 standard deviations.
_P10_P90_SIGMAS = 2.5631


class HierarchyError(AisleError):
    """The hierarchy's levels or the forecasts handed to it do not fit together."""


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """The summing matrix of a grouped hierarchy and the names of its rows and columns."""

    summing: sparse.csr_matrix
    """S, shape (nodes, bottom series): S[i, j] = 1 when bottom series j is under node i."""
    nodes: pd.DataFrame
    """One row per node in the order of S's rows: node (its id), level (its level's name)."""
    bottom: np.ndarray
    """The bottom series' ids in the order of S's columns; their node ids are these ids."""

    @property
    def levels(self) -> list[str]:
        return list(dict.fromkeys(self.nodes["level"]))

    def aggregate(
        self, frame: pd.DataFrame, values: Sequence[str] = (Y,), means: Sequence[str] = ()
    ) -> pd.DataFrame:
        """Every node's series from the bottom series in long `frame` (unique_id, ds, ...).

        `values` are summed over the node's series and `means` (covariates such as a price
        ratio) averaged over those that have a row at that date. A node has a row at each date
        where at least one of its series has one; a series without a row there adds 0, as an
        unsold day does. Returns node, level, ds, then the `values` and `means` columns.
        """
        dates = np.sort(frame[DS].unique())
        rows = pd.Index(self.bottom).get_indexer(frame[ID])
        if (rows < 0).any():
            unknown = frame.loc[rows < 0, ID].iloc[0]
            raise HierarchyError(f"Series {unknown!r} is not a bottom series of the hierarchy.")
        cols = np.searchsorted(dates, frame[DS].to_numpy())

        def summed(column: np.ndarray) -> np.ndarray:
            bottom = np.zeros((len(self.bottom), len(dates)))
            np.add.at(bottom, (rows, cols), column)
            return np.asarray(self.summing @ bottom).ravel()

        present = summed(np.ones(len(frame)))
        out = pd.DataFrame(
            {
                "node": np.repeat(self.nodes["node"].to_numpy(), len(dates)),
                "level": np.repeat(self.nodes["level"].to_numpy(), len(dates)),
                DS: np.tile(dates, len(self.nodes)),
            }
        )
        for name in values:
            out[name] = summed(frame[name].to_numpy(dtype=float))
        for name in means:
            out[name] = summed(frame[name].to_numpy(dtype=float)) / np.maximum(present, 1.0)
        return out[present > 0].reset_index(drop=True)


def level_name(columns: Sequence[str]) -> str:
    return "/".join(columns) if columns else TOTAL


def build_hierarchy(attributes: pd.DataFrame, levels: Sequence[Sequence[str]]) -> Hierarchy:
    """The hierarchy of the bottom series in `attributes` (index: their ids; one column per
    attribute) over `levels`, each a list of attribute columns ([] is the grand total).

    The bottom series themselves are always the last level. Aggregate node ids read
    "category_id/region=C01/North"; a missing attribute value counts as its own group, "-".
    """
    if attributes.index.has_duplicates:
        raise HierarchyError("Each bottom series must appear once in the attributes.")
    missing = sorted({col for level in levels for col in level} - set(attributes.columns))
    if missing:
        raise HierarchyError(f"The hierarchy's levels name unknown attributes: {missing}.")
    bottom = attributes.index.to_numpy()
    n_bottom = len(bottom)
    values = attributes.astype("string").fillna("-")
    blocks: list[sparse.csr_matrix] = []
    node_frames: list[pd.DataFrame] = []
    for columns in levels:
        name = level_name(columns)
        if columns:
            keys = values[list(columns)].agg("/".join, axis=1).to_numpy()
        else:
            keys = np.full(n_bottom, "all")
        codes, uniques = pd.factorize(keys, sort=True)
        blocks.append(
            sparse.csr_matrix(
                (np.ones(n_bottom), (codes, np.arange(n_bottom))), shape=(len(uniques), n_bottom)
            )
        )
        node_frames.append(pd.DataFrame({"node": [f"{name}={u}" for u in uniques], "level": name}))
    blocks.append(sparse.identity(n_bottom, format="csr"))
    node_frames.append(pd.DataFrame({"node": bottom.astype(str), "level": BOTTOM}))
    nodes = pd.concat(node_frames, ignore_index=True)
    if nodes["node"].duplicated().any():
        raise HierarchyError("Two nodes of the hierarchy share an id; rename the bottom series.")
    return Hierarchy(sparse.vstack(blocks, format="csr"), nodes, bottom)


def reconcile(base: pd.DataFrame, hierarchy: Hierarchy, method: Method = "ols") -> pd.DataFrame:
    """Coherent, non-negative forecasts for every node from base forecasts of every node.

    `base` has node, ds, y_hat and p10..p95, one row per node and date, every node over the
    same dates. Returns the same shape with the reconciled values (and the level column).
    """
    if method not in METHODS:
        raise HierarchyError(
            f"Unknown reconciliation {method!r}: choose from {', '.join(METHODS)}."
        )
    columns = ["y_hat", *QUANTILE_FIELDS]
    dates = np.sort(base[DS].unique())
    rows = pd.Index(hierarchy.nodes["node"]).get_indexer(base["node"])
    if (rows < 0).any():
        raise HierarchyError(
            f"Forecast for an unknown node {base.loc[rows < 0, 'node'].iloc[0]!r}."
        )
    n_nodes = len(hierarchy.nodes)
    if len(base) != n_nodes * len(dates) or base.duplicated(["node", DS]).any():
        raise HierarchyError(
            "Reconciliation needs exactly one base forecast per node and date, for every node."
        )
    cols = np.searchsorted(dates, base[DS].to_numpy())
    grids = {}
    for name in columns:
        grid = np.empty((n_nodes, len(dates)))
        grid[rows, cols] = base[name].to_numpy(dtype=float)
        grids[name] = grid

    summing = hierarchy.summing
    n_bottom = summing.shape[1]
    mean = grids["y_hat"]
    if method == "bottom_up":
        bottom = mean[-n_bottom:]
    else:
        bottom = _nonnegative_wls(summing, _variances(method, summing, grids), mean)
    coherent = np.asarray(summing @ bottom)
    shift = coherent - mean
    out = pd.DataFrame(
        {
            "node": np.repeat(hierarchy.nodes["node"].to_numpy(), len(dates)),
            "level": np.repeat(hierarchy.nodes["level"].to_numpy(), len(dates)),
            DS: np.tile(dates, n_nodes),
            "y_hat": coherent.ravel(),
        }
    )
    spread = np.stack([np.maximum(grids[q] + shift, 0.0).ravel() for q in QUANTILE_FIELDS], 1)
    spread.sort(axis=1)
    for j, name in enumerate(QUANTILE_FIELDS):
        out[name] = spread[:, j]
    return out


def _variances(
    method: Method, summing: sparse.csr_matrix, grids: dict[str, np.ndarray]
) -> np.ndarray:
    """W's diagonal, one variance per node and date (shape nodes x dates)."""
    n_nodes, n_dates = grids["y_hat"].shape
    if method == "ols":
        return np.ones((n_nodes, n_dates))
    if method == "wls_struct":
        under = np.asarray(summing.sum(axis=1), dtype=float).ravel()
        return np.repeat(under[:, None], n_dates, axis=1)
    sigma = (grids["p90"] - grids["p10"]) / _P10_P90_SIGMAS
    # A node whose interval collapsed (it never sells) would get zero variance, an infinite
    # weight; floor it at a small share of the typical spread so it pins its forecast without
    # making the solve singular.
    positive = sigma[sigma > 0]
    floor = 1e-3 * (float(np.median(positive)) if positive.size else 1.0)
    return np.maximum(sigma, floor) ** 2


def _nonnegative_wls(
    summing: sparse.csr_matrix, variance: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """b >= 0 minimising sum_i (y^_i - (S b)_i)^2 / w_i, one column (date) at a time.

    Active set: solve with the free bottom series, fix the ones that came out negative at 0,
    and free again any fixed one whose gradient says the objective would fall if it rose (the
    KKT conditions); a date that does not settle within `_MAX_ROUNDS` is solved by bounded least
    squares instead. Each solve uses the Woodbury form of the normal equations, so it factors a
    matrix of the aggregate nodes (S_a W_b S_a' + W_a, sparse) rather than the bottom series'
    normal matrix, which the grand total makes dense.
    """
    n_nodes, n_bottom = summing.shape
    n_upper = n_nodes - n_bottom
    upper = summing[:n_upper].tocsc()
    bottom = np.zeros((n_bottom, mean.shape[1]))
    for t in range(mean.shape[1]):
        w, y = variance[:, t], mean[:, t]
        tol = 1e-9 * max(1.0, float(np.abs(y).max()))
        free = np.ones(n_bottom, dtype=bool)
        for _ in range(_MAX_ROUNDS):
            b = np.zeros(n_bottom)
            b[free] = _woodbury_solve(
                upper, w[:n_upper], w[n_upper:], y[:n_upper], y[n_upper:], free
            )
            negative = free & (b < -tol)
            if negative.any():
                free &= ~negative
                continue
            b = np.maximum(b, 0.0)
            gradient = summing.T @ ((summing @ b - y) / w)
            wants = ~free & (gradient < -tol)
            if not wants.any():
                break
            free |= wants
        else:
            root = 1.0 / np.sqrt(w)
            b = lsq_linear(
                sparse.diags(root) @ summing, root * y, bounds=(0.0, np.inf), lsmr_tol="auto"
            ).x
        bottom[:, t] = np.maximum(b, 0.0)
    return bottom


_MAX_ROUNDS = 50


def _woodbury_solve(
    upper: sparse.csc_matrix,
    w_upper: np.ndarray,
    w_bottom: np.ndarray,
    y_upper: np.ndarray,
    y_bottom: np.ndarray,
    free: np.ndarray,
) -> np.ndarray:
    """The free bottom series' least-squares values, the others held at 0.

    With M = W_b^-1 + S_a' W_a^-1 S_a the normal matrix of the free columns,
    M^-1 = W_b - W_b S_a' (W_a + S_a W_b S_a')^-1 S_a W_b.
    """
    s_a = upper[:, free]
    w_b = w_bottom[free]
    rhs = y_bottom[free] / w_b + s_a.T @ (y_upper / w_upper)
    x = w_b * rhs
    if s_a.shape[0] == 0:
        return x
    inner = (sparse.diags(w_upper) + s_a @ sparse.diags(w_b) @ s_a.T).tocsc()
    return x - w_b * (s_a.T @ splu(inner).solve(s_a @ x))
