"""The forecast combination: its rows are the members' per-row median (or mean), quantile by
quantile, and it refuses members it does not know."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.base import DS, ID, QUANTILE_FIELDS, SeriesData
from ml_core.forecasting.ensemble import Ensemble
from ml_core.forecasting.models import MODELS

MEMBERS = ("seasonal_naive", "ets", "theta")


@pytest.fixture(scope="module")
def panel() -> SeriesData:
    rng = np.random.default_rng(3)
    t = np.arange(120)
    frames = [
        pd.DataFrame(
            {
                ID: uid,
                DS: pd.Timestamp("2024-01-01") + pd.to_timedelta(t, unit="D"),
                "y": rng.poisson(level * (1 + 0.4 * np.sin(2 * np.pi * t / 7))).astype(float),
            }
        )
        for uid, level in (("a", 20.0), ("b", 5.0), ("c", 60.0))
    ]
    return SeriesData(frame=pd.concat(frames, ignore_index=True), freq="D")


def _members(panel: SeriesData, horizon: int) -> np.ndarray:
    frames = [
        MODELS[name]().fit(panel).predict(horizon).to_frame().sort_values([ID, DS])
        for name in MEMBERS
    ]
    return np.stack([frame[["y_hat", *QUANTILE_FIELDS]].to_numpy(dtype=float) for frame in frames])


@pytest.mark.parametrize("combine", ["median", "mean"])
def test_rows_combine_the_members_forecasts(panel: SeriesData, combine: str) -> None:
    members = _members(panel, 10)
    expected = np.median(members, axis=0) if combine == "median" else members.mean(axis=0)
    model = Ensemble(registry=MODELS, members=MEMBERS, combine=combine)  # type: ignore[arg-type]
    forecast = model.fit(panel).predict(10)
    got = forecast.to_frame().sort_values([ID, DS])
    np.testing.assert_allclose(got["y_hat"], expected[:, 0])
    for j, name in enumerate(QUANTILE_FIELDS, start=1):
        np.testing.assert_allclose(got[name], expected[:, j])
    assert forecast.meta["members"] == list(MEMBERS)


def test_unknown_members_are_refused(panel: SeriesData) -> None:
    with pytest.raises(ValueError, match="Unknown ensemble members"):
        Ensemble(registry=MODELS, members=("seasonal_naive", "prophet")).fit(panel)
