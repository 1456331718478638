"""Hierarchies: the summing matrix, aggregation, and reconciliation checked against solutions
worked out by hand (coherent input is left alone; OLS on a two-series hierarchy; the
non-negative optimum when the unconstrained one goes below zero)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS
from ml_core.forecasting.hierarchy import (
    METHODS,
    HierarchyError,
    build_hierarchy,
    reconcile,
)

DAYS = pd.date_range("2025-01-01", periods=2, freq="D")


@pytest.fixture
def grid():
    """Two categories x two stores, the stores in one region."""
    attributes = pd.DataFrame(
        {"category": ["c1", "c1", "c2", "c2"], "store": ["s1", "s2", "s1", "s2"]},
        index=pd.Index(["a@s1", "a@s2", "b@s1", "b@s2"]),
    )
    return build_hierarchy(attributes, [[], ["category"], ["store"]])


def _base(nodes: list[str], means: np.ndarray, width: np.ndarray | float = 2.0) -> pd.DataFrame:
    """One row per node and day; means has shape (nodes, days)."""
    frame = pd.DataFrame(
        {
            "node": np.repeat(nodes, len(DAYS)),
            DS: np.tile(DAYS, len(nodes)),
            "y_hat": means.ravel(),
        }
    )
    half = np.broadcast_to(np.asarray(width, dtype=float), means.shape).ravel() / 2
    frame["p10"] = np.maximum(frame["y_hat"] - half, 0)
    frame["p50"] = frame["y_hat"]
    frame["p90"] = frame["y_hat"] + half
    frame["p95"] = frame["y_hat"] + 1.3 * half
    return frame


def test_summing_matrix_crosses_the_levels(grid) -> None:
    assert grid.levels == ["total", "category", "store", "bottom"]
    assert grid.nodes["node"].tolist()[:5] == [
        "total=all",
        "category=c1",
        "category=c2",
        "store=s1",
        "store=s2",
    ]
    expected = np.array(
        [
            [1, 1, 1, 1],
            [1, 1, 0, 0],
            [0, 0, 1, 1],
            [1, 0, 1, 0],
            [0, 1, 0, 1],
            *np.eye(4, dtype=int).tolist(),
        ]
    )
    np.testing.assert_array_equal(grid.summing.toarray(), expected)


def test_aggregate_sums_values_and_averages_covariates(grid) -> None:
    frame = pd.DataFrame(
        {
            ID: ["a@s1", "a@s2", "b@s1", "b@s2", "a@s1"],
            DS: [DAYS[0]] * 4 + [DAYS[1]],
            "y": [1.0, 2.0, 3.0, 4.0, 5.0],
            "price": [1.0, 0.5, 1.0, 1.0, 0.8],
        }
    )
    out = grid.aggregate(frame, means=["price"]).set_index(["node", DS])
    assert out.loc[("total=all", DAYS[0]), "y"] == 10
    assert out.loc[("category=c1", DAYS[0]), "y"] == 3
    assert out.loc[("store=s1", DAYS[0]), "y"] == 4
    assert out.loc[("category=c1", DAYS[0]), "price"] == pytest.approx(0.75)
    # Only a@s1 has a row on day 2: the nodes above it have one, the others none.
    assert out.loc[("total=all", DAYS[1]), "y"] == 5
    assert out.loc[("total=all", DAYS[1]), "price"] == pytest.approx(0.8)
    assert ("b@s2", DAYS[1]) not in out.index
    assert ("category=c2", DAYS[1]) not in out.index


@pytest.mark.parametrize("method", METHODS)
def test_coherent_forecasts_are_left_alone(grid, method: str) -> None:
    bottom = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 1.0], [7.0, 4.0]])
    means = np.asarray(grid.summing @ bottom)
    out = reconcile(_base(grid.nodes["node"].tolist(), means), grid, method)  # type: ignore[arg-type]
    np.testing.assert_allclose(out["y_hat"], means.ravel(), atol=1e-6)
    assert (np.diff(out[list(QUANTILE_FIELDS)].to_numpy(), axis=1) >= 0).all()


def _pair():
    attributes = pd.DataFrame({"kind": ["x", "y"]}, index=pd.Index(["a", "b"]))
    return build_hierarchy(attributes, [[]])


def test_ols_matches_the_hand_solution() -> None:
    pair = _pair()
    # S = [[1, 1], [1, 0], [0, 1]], y^ = (10, 3, 5): b = (S'S)^-1 S'y^ = (11/3, 17/3).
    means = np.array([[10.0, 10.0], [3.0, 3.0], [5.0, 5.0]])
    out = reconcile(_base(["total=all", "a", "b"], means), pair, "ols").set_index("node")
    assert out.loc["a", "y_hat"].tolist() == pytest.approx([11 / 3] * 2)
    assert out.loc["b", "y_hat"].tolist() == pytest.approx([17 / 3] * 2)
    assert out.loc["total=all", "y_hat"].tolist() == pytest.approx([28 / 3] * 2)


def test_forecasts_stay_non_negative_at_the_constrained_optimum() -> None:
    pair = _pair()
    # Unconstrained OLS gives b = (10/3, -5/3); with b >= 0 the optimum is a = 2.5, b = 0.
    means = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0]])
    out = reconcile(_base(["total=all", "a", "b"], means), pair, "ols").set_index("node")
    assert out.loc["a", "y_hat"].tolist() == pytest.approx([2.5] * 2, abs=1e-6)
    assert out.loc["b", "y_hat"].tolist() == pytest.approx([0.0] * 2, abs=1e-6)
    assert out.loc["total=all", "y_hat"].tolist() == pytest.approx([2.5] * 2, abs=1e-6)
    assert (out[["y_hat", *QUANTILE_FIELDS]].to_numpy() >= 0).all()


def test_wls_var_trusts_the_node_with_the_narrow_interval() -> None:
    pair = _pair()
    means = np.array([[12.0, 12.0], [3.0, 3.0], [5.0, 5.0]])
    widths = np.array([[0.01, 0.01], [4.0, 4.0], [4.0, 4.0]])
    out = reconcile(_base(["total=all", "a", "b"], means, widths), pair, "wls_var")
    out = out.set_index("node")
    # The total is near certain, so the children absorb the whole gap of 4, half each.
    assert out.loc["total=all", "y_hat"].tolist() == pytest.approx([12.0] * 2, abs=1e-3)
    assert out.loc["a", "y_hat"].tolist() == pytest.approx([5.0] * 2, abs=1e-3)
    # Quantiles move with their mean: a's interval keeps its width around the new mean.
    assert (out.loc["a", "p90"] - out.loc["a", "p10"]).tolist() == pytest.approx([4.0] * 2)


def test_bottom_up_sums_the_bottom_forecasts(grid) -> None:
    nodes = grid.nodes["node"].tolist()
    means = np.full((len(nodes), 2), 100.0)
    means[-4:] = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    out = reconcile(_base(nodes, means), grid, "bottom_up").set_index(["node", DS])["y_hat"]
    assert out[("total=all", DAYS[0])] == 10
    assert out[("category=c2", DAYS[1])] == 7


def test_bad_input_is_a_clear_error(grid) -> None:
    nodes = grid.nodes["node"].tolist()
    base = _base(nodes, np.ones((len(nodes), 2)))
    with pytest.raises(HierarchyError, match="Unknown reconciliation"):
        reconcile(base, grid, "mint")  # type: ignore[arg-type]
    with pytest.raises(HierarchyError, match="exactly one base forecast per node"):
        reconcile(base.iloc[1:], grid)
    with pytest.raises(HierarchyError, match="unknown attributes"):
        build_hierarchy(pd.DataFrame({"a": [1]}, index=["x"]), [["region"]])
