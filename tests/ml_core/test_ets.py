"""AutoETS on weekly data: the 52-week seasonal models, the costly part of its search, are
searched for the series whose history may have a season, and skipped for those whose two years
or more show none."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS as StatsAutoETS

from ml_core.forecasting.base import DS, ID, SeriesData, Y
from ml_core.forecasting.baselines import AutoETS, without_season

HORIZON = 8


def _panel() -> pd.DataFrame:
    """Three weekly series: 150 weeks with a yearly season (each week of the year its own
    effect, as holidays and events make it), 150 weeks of noise around a level, and 80 weeks
    of noise (too short to tell)."""
    rng = np.random.default_rng(4)
    profile = rng.normal(0, 20, 52)
    frames = []
    for uid, weeks, season in (("seasonal", 150, 1.0), ("flat", 150, 0.0), ("young", 80, 0.0)):
        t = np.arange(weeks)
        y = 100 + season * profile[t % 52] + rng.normal(0, 5, weeks)
        frames.append(
            pd.DataFrame({ID: uid, DS: pd.date_range("2021-01-03", periods=weeks, freq="7D"), Y: y})
        )
    return pd.concat(frames, ignore_index=True)


def _statsforecast(frame: pd.DataFrame, components: str) -> np.ndarray:
    model = StatsAutoETS(season_length=52, model=components, alias="fc")
    out = StatsForecast(models=[model], freq="7D").forecast(df=frame, h=HORIZON)
    return out["fc"].to_numpy(dtype=float)


def test_weekly_series_without_a_season_search_the_non_seasonal_models_only() -> None:
    panel = _panel()
    assert without_season(panel, 52) == {"flat"}
    forecast = AutoETS().fit(SeriesData(panel, "W")).predict(HORIZON).to_frame()
    by_series = {uid: part["y_hat"].to_numpy() for uid, part in forecast.groupby(ID)}
    # The flat series is fitted as statsforecast fits it among the non-seasonal models; the
    # others as it fits them among every model, the seasonal ones included.
    np.testing.assert_allclose(by_series["flat"], _statsforecast(panel[panel[ID] == "flat"], "ZZN"))
    for uid in ("seasonal", "young"):
        expected = _statsforecast(panel[panel[ID] == uid], "ZZZ")
        np.testing.assert_allclose(by_series[uid], expected)


def test_daily_series_search_every_model() -> None:
    # A week's season is cheap to search: every daily series is fitted among every model.
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {ID: "a", DS: pd.date_range("2024-01-01", periods=120), Y: 50 + rng.normal(0, 3, 120)}
    )
    forecast = AutoETS().fit(SeriesData(frame, "D")).predict(HORIZON)
    model = StatsAutoETS(season_length=7, alias="fc")
    expected = StatsForecast(models=[model], freq="D").forecast(df=frame, h=HORIZON)["fc"]
    np.testing.assert_allclose(forecast.mean, np.maximum(expected.to_numpy(dtype=float), 0.0))
