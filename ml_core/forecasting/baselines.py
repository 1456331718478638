"""Baseline forecasters under the Aisle contract: seasonal naive and statsforecast's ETS, Theta, TSB
and Croston-SBA, all probabilistic, plus `BASELINES`, the registry of them by name.

The statistical models wrap Nixtla's statsforecast rather than reimplementing it. Interval levels
map onto the contract's quantiles: the 80% interval gives p10 and p90, the upper end of the 90%
interval gives p95, and p50 is the mean (symmetric intervals). Every output is clipped at 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    QUANTILES,
    Forecast,
    Forecaster,
    NotFittedError,
    SeriesData,
    Y,
    future_index,
)
from ml_core.forecasting.data import SEASON_LENGTH


class SeasonalNaive(Forecaster):
    """Repeats each series' last season; quantiles from its own seasonal-naive residuals.

    The predictive distribution at step h is the point forecast plus the empirical quantiles of
    the in-sample residuals y_t - y_{t-m} (centred on their median), widened by sqrt(k) where k is
    how many seasons ahead h reaches (the error of a seasonal random walk grows that way). A
    series with no more than m observations uses the lag-1 naive (m = 1) instead.
    """

    name: ClassVar[str] = "seasonal_naive"
    per_series: ClassVar[bool] = True

    def __init__(self, *, season_length: int | None = None) -> None:
        self.season_length = season_length

    def fit(self, data: SeriesData) -> Self:
        frame = data.frame.sort_values([ID, DS], kind="stable")
        m = self.season_length or SEASON_LENGTH[data.freq]
        y = frame[Y].to_numpy(dtype=float)
        by_series = frame.groupby(ID, sort=True)
        length = by_series.size().to_numpy()
        lag = np.where(length > m, m, 1)
        end = np.cumsum(length)

        per_row_lag = np.repeat(lag, length)
        y_series = frame.groupby(ID, sort=False)[Y]
        residual = np.where(
            per_row_lag == m,
            y - y_series.shift(m).to_numpy(dtype=float),
            y - y_series.shift(1).to_numpy(dtype=float),
        )
        quantiles = (
            frame[[ID]]
            .assign(residual=residual)
            .groupby(ID, sort=True)["residual"]
            .quantile(list(QUANTILES))
            .unstack()
            .reindex(columns=list(QUANTILES))
        )
        # The last season of each series, left-aligned so column j is the value j steps into it.
        cols = np.arange(m)
        take = (end - lag)[:, None] + np.minimum(cols[None, :], lag[:, None] - 1)
        self.last_season_ = y[take]
        self.lag_ = lag
        spread = np.nan_to_num(quantiles.to_numpy(dtype=float), nan=0.0)
        # Centred on the residuals' median so that p50 is the seasonal naive itself: the point
        # forecast stays the textbook baseline and sits inside its own interval.
        median = spread[:, [QUANTILES.index(0.5)]]
        self.residual_quantiles_ = spread - median
        self.last_ = by_series[DS].max().reset_index()
        self.ids_ = self.last_[ID].to_numpy()
        self.freq_ = data.freq
        self.season_length_ = m
        return self

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "ids_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        index = future_index(self.last_, horizon, self.freq_)
        step = np.arange(horizon)[None, :]
        lag = self.lag_[:, None]
        point = np.take_along_axis(self.last_season_, step % lag, axis=1)
        widen = np.sqrt(step // lag + 1.0)
        frame = index.assign(y_hat=np.maximum(point.ravel(), 0.0))
        for j, name in enumerate(QUANTILE_FIELDS):
            offset = self.residual_quantiles_[:, j][:, None] * widen
            frame[name] = np.maximum(point + offset, 0.0).ravel()
        return Forecast.from_frame(frame, model=self.name)


class _StatsForecastModel(Forecaster):
    """Runs one statsforecast model over every series; short or constant series, and any series
    the model cannot fit, fall back to `SeasonalNaive` (listed in `Forecast.meta["fallback"]`).

    Fitting is done in `predict` through `StatsForecast.forecast`, which fits and forecasts each
    series in one pass without keeping thousands of fitted models in memory; `fit` validates and
    keeps the training data.
    """

    per_series: ClassVar[bool] = True
    # Below this many observations statsforecast's ETS and Theta refuse ("tiny datasets").
    min_length: ClassVar[int] = 10
    # Whether the model gives native prediction intervals (level=[80, 90]).
    native_intervals: ClassVar[bool] = True

    def __init__(self, *, season_length: int | None = None, n_jobs: int = 1) -> None:
        self.season_length = season_length
        self.n_jobs = n_jobs

    def _model(self, season_length: int) -> Any:
        raise NotImplementedError

    def fit(self, data: SeriesData) -> Self:
        train = data.frame[[ID, DS, Y]].sort_values([ID, DS], kind="stable")
        self.train_ = train.reset_index(drop=True)
        self.ids_ = np.sort(train[ID].unique())
        self.freq_ = data.freq
        self.season_length_ = self.season_length or SEASON_LENGTH[data.freq]
        return self

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "train_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        train = self.train_
        cols = ["y_hat", *QUANTILE_FIELDS]
        stats = train.groupby(ID, sort=True)[Y].agg(["size", "min", "max"])
        if self.native_intervals:
            usable = (stats["size"] >= self.min_length) & (stats["max"] > stats["min"])
        else:
            # Croston and TSB are built for the series others cannot fit: give them everything.
            usable = pd.Series(True, index=stats.index)
        fallback = set(stats.index[~usable])
        parts: list[pd.DataFrame] = []
        if usable.any():
            fitted = self._statsforecast(train[train[ID].isin(stats.index[usable])], horizon)
            broken = ~np.isfinite(fitted[cols].to_numpy(dtype=float)).all(axis=1)
            fallback |= set(fitted.loc[broken, ID])
            parts.append(fitted[~fitted[ID].isin(fallback)])
        fallback_ids = sorted(fallback)
        if fallback_ids:
            rest = train[train[ID].isin(fallback_ids)]
            naive = SeasonalNaive(season_length=self.season_length_)
            parts.append(naive.fit(SeriesData(rest, self.freq_)).predict(horizon).to_frame())
        result = pd.concat(parts, ignore_index=True)
        index = future_index(train, horizon, self.freq_)
        frame = index.merge(result, on=[ID, DS], how="left", validate="one_to_one")
        frame[cols] = np.maximum(frame[cols].to_numpy(dtype=float), 0.0)
        forecast = Forecast.from_frame(frame, model=self.name)
        forecast.meta["fallback"] = [str(i) for i in fallback_ids]
        return forecast

    def _statsforecast(
        self, train: pd.DataFrame, horizon: int, model: Any | None = None
    ) -> pd.DataFrame:
        """statsforecast's forecast of `model` (this class's own by default) on `train`."""
        from statsforecast import StatsForecast
        from statsforecast.models import Naive

        model = model if model is not None else self._model(self.season_length_)
        sf = StatsForecast(
            models=[model],
            freq="D" if self.freq_ == "D" else "7D",
            n_jobs=self.n_jobs,
            fallback_model=Naive(),
        )
        with warnings.catch_warnings():
            # statsforecast's optimisers divide by zero on flat stretches and say so; the
            # outputs are checked for finiteness below and such series fall back.
            warnings.simplefilter("ignore", RuntimeWarning)
            if self.native_intervals:
                out = sf.forecast(df=train, h=horizon, level=[80, 90])
            else:
                out = sf.forecast(df=train, h=horizon)
        alias = model.alias
        out = out.reset_index(drop=out.index.name != ID)
        frame = pd.DataFrame({ID: out[ID].astype(str).to_numpy(), DS: out[DS].to_numpy()})
        mean = out[alias].to_numpy(dtype=float)
        frame["y_hat"] = mean
        if self.native_intervals:
            frame["p10"] = out[f"{alias}-lo-80"].to_numpy(dtype=float)
            frame["p50"] = mean
            frame["p90"] = out[f"{alias}-hi-80"].to_numpy(dtype=float)
            frame["p95"] = out[f"{alias}-hi-90"].to_numpy(dtype=float)
        else:
            ratios = _quantile_ratios(train)
            per_row = ratios.reindex(frame[ID]).to_numpy(dtype=float)
            for j, name in enumerate(QUANTILE_FIELDS):
                frame[name] = mean * per_row[:, j]
        return frame


def _quantile_ratios(train: pd.DataFrame) -> pd.DataFrame:
    """Per series, each quantile of its history divided by its mean.

    Croston-type models forecast a rate, not a distribution; scaling the series' own empirical
    distribution to that rate keeps its share of zeros and its size spread, in any unit (counts
    or money), where a Poisson would assume counts.
    """
    history = train.assign(**{Y: train[Y].clip(lower=0.0)})
    by_series = history.groupby(ID, sort=True)[Y]
    quantiles = by_series.quantile(list(QUANTILES)).unstack().reindex(columns=list(QUANTILES))
    mean = by_series.mean()
    ratios = quantiles.div(mean.where(mean > 0), axis=0).fillna(0.0)
    ratios.columns = list(QUANTILE_FIELDS)
    return ratios


def without_season(train: pd.DataFrame, season_length: int) -> set[str]:
    """The series whose history shows no season of `season_length` periods: at least two
    seasons long, with the autocorrelation at that lag inside the 90% band (the test by which
    statsforecast's Theta, after Hyndman's forecast::thetaf, decides not to deseasonalise).
    A shorter history cannot tell, and is not listed."""
    from scipy.stats import norm
    from statsmodels.tsa.stattools import acf

    m = season_length
    flat = set()
    for uid, y in train.groupby(ID, sort=True)[Y]:
        values = y.to_numpy(dtype=float)
        if len(values) < 2 * m:
            continue
        if values.max() == values.min():
            flat.add(uid)
            continue
        r = acf(values, nlags=m, fft=False)[1:]
        stat = np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / len(values))
        if np.abs(r[-1]) / stat <= norm.ppf(0.95):
            flat.add(uid)
    return flat


class AutoETS(_StatsForecastModel):
    """statsforecast's AutoETS: error, trend and season chosen per series by AICc.

    With a season longer than `LONG_SEASON` periods (weekly data's 52), the series whose two
    seasons or more show none (`without_season`) choose among the non-seasonal models only
    (model "ZZN"); the others search every model, as before. A seasonal ETS carries one
    initial state per period of the season, which the optimiser fits with the rest: with 52
    that search was most of a backtest's ETS time and, on series without a season, won
    nothing (docs/BENCHMARKS.md, issue 24). R's forecast::ets does not search such seasons.
    """

    # forecast::ets's limit: seasons up to this long are searched for every series.
    LONG_SEASON: ClassVar[int] = 24

    name: ClassVar[str] = "ets"

    def _model(self, season_length: int, components: str = "ZZZ") -> Any:
        from statsforecast.models import AutoETS as _AutoETS

        return _AutoETS(season_length=season_length, model=components, alias="fc")

    def _statsforecast(
        self, train: pd.DataFrame, horizon: int, model: Any | None = None
    ) -> pd.DataFrame:
        if model is not None or self.season_length_ <= self.LONG_SEASON:
            return super()._statsforecast(train, horizon, model)
        plain = train[ID].isin(without_season(train, self.season_length_))
        parts = []
        for chosen, components in ((~plain, "ZZZ"), (plain, "ZZN")):
            if chosen.any():
                model = self._model(self.season_length_, components)
                parts.append(super()._statsforecast(train[chosen], horizon, model))
        return pd.concat(parts, ignore_index=True)


class Theta(_StatsForecastModel):
    """statsforecast's AutoTheta: the best of the standard, optimised and dynamic Theta models."""

    name: ClassVar[str] = "theta"

    def _model(self, season_length: int) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=season_length, alias="fc")


class CrostonTSB(_StatsForecastModel):
    """Teunter-Syntetos-Babai for intermittent demand: smoothed demand probability x size.

    Quantiles scale the series' own history to the forecast rate (see `_quantile_ratios`).
    """

    name: ClassVar[str] = "tsb"
    min_length: ClassVar[int] = 1
    native_intervals: ClassVar[bool] = False

    def __init__(
        self,
        *,
        alpha_d: float = 0.1,
        alpha_p: float = 0.1,
        season_length: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(season_length=season_length, n_jobs=n_jobs)
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p

    def _model(self, season_length: int) -> Any:
        from statsforecast.models import TSB

        return TSB(alpha_d=self.alpha_d, alpha_p=self.alpha_p, alias="fc")


class CrostonSBA(_StatsForecastModel):
    """Croston with the Syntetos-Boylan debiasing for intermittent demand.

    Quantiles scale the series' own history to the forecast rate (see `_quantile_ratios`).
    """

    name: ClassVar[str] = "croston_sba"
    min_length: ClassVar[int] = 1
    native_intervals: ClassVar[bool] = False

    def _model(self, season_length: int) -> Any:
        from statsforecast.models import CrostonSBA as _CrostonSBA

        return _CrostonSBA(alias="fc")


# The statistical baselines by the names the command line uses; ml_core.forecasting.models adds
# the global model to them.
BASELINES: dict[str, Callable[..., Forecaster]] = {
    SeasonalNaive.name: SeasonalNaive,
    AutoETS.name: AutoETS,
    Theta.name: Theta,
    CrostonTSB.name: CrostonTSB,
    CrostonSBA.name: CrostonSBA,
}
