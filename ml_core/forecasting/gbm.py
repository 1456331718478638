"""A gradient-boosted global forecaster: LightGBM over lag, calendar, price and static features.

The family retail planners compare against (the M5 winners'): one tree ensemble learned across
every series, fed the series' own recent history, the calendar, known-future prices and
promotions, and what the series is (store, brand, category).

Direct multi-horizon, with the horizon step as a feature: each training row is one (series,
origin, step h) triple whose features are read at the origin (lags, rolling means and spreads,
zero share, time since the last sale, the level a year before the target) and at the target
period (calendar, covariates, their change against the recent level, the price against the
series' usual price and against its segment's prices). No forecast is fed back as a lag, so the
quantile models (LightGBM's quantile objective, one per level) can be trained on the same rows
without the drift a recursive P90 would compound. The history features are the torch global
model's (`ml_core.forecasting.features`): one definition of the features serves both models.

The target transform is chosen per panel by a time-series cross-validation on the training
data only: the last `cv_windows` blocks of `horizon` periods before the data's end are held out
in turn, the point model is fitted on what came before each block with early stopping on the
block's WAPE, and the transform and number of trees with the lowest mean WAPE win. Candidates:
- `scale`: the target divided by the series' scale (1 + its recent mean level), squared error;
- `log1p`: log1p of the target less log1p of the recent level (non-negative data only);
- `diff`: the change from the level a year before the target (a seasonal difference), scaled;
  the recent level stands in where there is no year of history.

The point forecast (`mean`) is the squared-error model's, the expected value the contract asks
for: under `log1p` the model's geometric mean is multiplied by Duan's smearing factor, estimated
on the CV windows' held-out residuals. The CV scores the transforms by the WAPE of that mean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILES,
    Forecast,
    Forecaster,
    Freq,
    NotFittedError,
    SeriesData,
    Y,
    future_index,
)
from ml_core.forecasting.features import (
    FeatureSpec,
    Panel,
    build_panel,
    calendar_features,
    check_training_data,
    default_spec,
    future_covariates,
    history_features,
    n_history_features,
    n_step_features,
    step_features,
    targets,
    training_step_features,
    year_ago_features,
)

TRANSFORMS: tuple[str, ...] = ("scale", "log1p", "diff")
_DEFAULT_HORIZON: dict[str, int] = {"D": 28, "W": 13}
# Quantile forecasts below this share of the series' scale are read as zero: demand has a point
# mass there that a regression tree's leaf values only approach.
_ZERO = 0.01
# Held-out rows after which the conformal shifts stop using older CV windows.
_CONFORMAL_ROWS = 20_000


def is_price_column(name: str) -> bool:
    """Covariates read as prices: their name says so (price, unit_price, price1, Fuel_Price)."""
    return "price" in name.lower()


@dataclass(slots=True)
class _Rows:
    """The design rows of a batch of (series, origin) pairs, flattened over the steps."""

    X: np.ndarray  # (R, F) float32
    y: np.ndarray  # (R,) the target in units, NaN where unknown
    scale: np.ndarray  # (R,) the series' scale at the origin
    base: np.ndarray  # (R,) the level a year before the target, or the recent level


def _smearing(residuals: np.ndarray) -> float:
    """Duan's (1983) smearing factor: the mean of exp(residual) of a model fitted on logs.
    exp(mean log) is the geometric mean, below the mean of a skewed series; times this factor
    it is the mean again, without assuming the residuals are normal."""
    return float(np.mean(np.exp(np.clip(residuals, -20.0, 20.0)))) if len(residuals) else 1.0


class GBMForecaster(Forecaster):
    """LightGBM, one model across all series, direct multi-horizon, quantile objectives.

    Hyperparameters (keyword only; `__init__` stores them and does nothing else):
    - horizon: the longest horizon trained for (default 28 daily, 13 weekly); `predict` accepts
      any horizon up to it.
    - lags: recent values given one by one (the torch model's defaults: 28 daily, 13 weekly).
    - transforms: the target transforms the cross-validation chooses among (see the module).
    - cv_windows: held-out blocks of `horizon` periods at the end of the training data.
    - max_rounds, early_stopping: the most trees, and the rounds without improvement of the
      held-out WAPE after which the search stops; the final model is fitted on all the data
      with 10% more trees than the best round (it sees more data than the CV fits did).
    - learning_rate, num_leaves, min_data_in_leaf, feature_fraction, bagging_fraction,
      lambda_l2: LightGBM's.
    - max_rows, cv_max_rows: training rows (series x origin x step) drawn at most, for the final
      fits and for each CV fit; origins are drawn at random beyond that.
    - id_feature: also give the series id as a categorical feature (off: an id learns that
      series' level, which the scaled features already carry, and overfits on short panels).
    - price_group: the static column whose members' prices a price is compared with (the
      category, or the store for store x brand panels); default: the first static column.
    - seed, n_jobs: the same seed and thread count give the same forecasts.
    - warm_start: a refit of a fitted model keeps the transform, number of trees, conformal
      shifts and smearing factor its first fit's cross-validation chose, and trains only the
      five final models on the new data (scikit-learn's `warm_start`; a backtest with
      `--warm-start` refits the GBM window after window this way, each window's choice made
      on older data only). A cross-validated fit trains nineteen models.
    """

    name: ClassVar[str] = "gbm"

    def __init__(
        self,
        *,
        horizon: int | None = None,
        lags: int | None = None,
        transforms: Sequence[str] = TRANSFORMS,
        cv_windows: int = 2,
        max_rounds: int = 800,
        early_stopping: int = 50,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 20,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        max_rows: int = 400_000,
        cv_max_rows: int = 200_000,
        id_feature: bool = False,
        price_group: str | None = None,
        seed: int = 0,
        n_jobs: int = 1,
        warm_start: bool = False,
    ) -> None:
        self.horizon = horizon
        self.lags = lags
        self.transforms = tuple(transforms)
        self.cv_windows = cv_windows
        self.max_rounds = max_rounds
        self.early_stopping = early_stopping
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.max_rows = max_rows
        self.cv_max_rows = cv_max_rows
        self.id_feature = id_feature
        self.price_group = price_group
        self.seed = seed
        self.n_jobs = n_jobs
        self.warm_start = warm_start

    # ----------------------------------------------------------------------------------- fit

    def _panel(self, data: SeriesData) -> Panel:
        """The dense panel of `data` with the fitted covariate scaling, `horizon_` periods past
        its last date."""
        return build_panel(
            data.frame,
            data.freq,
            self.future_exog_,
            self.exog_mean_,
            self.exog_std_,
            self.horizon_,
            self.spec_.fourier_terms,
        )

    def fit(self, data: SeriesData) -> Self:
        import lightgbm as lgb

        check_training_data(data)
        frame = data.frame
        unknown = [t for t in self.transforms if t not in TRANSFORMS]
        if unknown or not self.transforms:
            raise ValueError(f"unknown target transform(s) {unknown}; choose from {TRANSFORMS}")
        started = time.perf_counter()
        self.freq_: Freq = data.freq
        horizon = self.horizon or _DEFAULT_HORIZON[data.freq]
        self.horizon_ = horizon
        self.spec_: FeatureSpec = default_spec(data.freq, self.lags)
        self.future_exog_ = tuple(data.future_exog)
        self.static_cols_ = tuple(data.static_cols)
        values = frame[list(self.future_exog_)].to_numpy(dtype=np.float64)
        if self.future_exog_:
            self.exog_mean_ = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0)
            self.exog_std_ = np.where(std > 0, std, 1.0)
        else:
            self.exog_mean_, self.exog_std_ = np.zeros(0), np.ones(0)
        panel = self._panel(data)
        self.ids_ = panel.ids
        self.history_width_ = n_history_features(self.spec_, len(self.future_exog_))
        self.step_width_ = n_step_features(
            data.freq, self.spec_.fourier_terms, len(self.future_exog_)
        )
        self._fit_statics(data, panel.ids)
        self._fit_prices(frame, panel)
        nonnegative = bool((frame[Y].to_numpy(dtype=float) >= 0).all())
        transforms = [t for t in self.transforms if t != "log1p" or nonnegative]
        if not transforms:
            transforms = ["scale"]
        rng = np.random.default_rng(self.seed)
        self._datasets: dict[int, tuple[np.ndarray, Any]] = {}

        last = panel.n_periods - 1
        self.warm_started_ = self.warm_start and getattr(self, "transform_", None) in transforms
        if not self.warm_started_:
            self._cross_validate(lgb, panel, rng, transforms, horizon)
        chosen, rounds = self.transform_, self.rounds_

        full = self._sample(panel, rng, last, self.max_rows, horizon)
        if full is None:
            raise ValueError("every series has a single observation; nothing to learn from")
        z = self._encode(full, chosen)
        self.point_ = self._train(lgb, full.X, z, {"objective": "regression"}, rounds)
        self.quantile_models_ = [
            self._train(lgb, full.X, z, {"objective": "quantile", "alpha": q}, rounds)
            for q in QUANTILES
        ]
        self._read_origin(frame, panel)
        self.train_rows_ = len(full.y)
        self.forwarded_ = False
        del self._price_design  # the training rows' prices; predict reads `future`
        del self._datasets
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def forward(self, data: SeriesData) -> Self:
        """The fitted trees set to forecast from the end of `data`: each series' features are
        read off its own history in `data` (lags, levels, usual prices, static codes), the
        trees, transform, conformal shifts and covariate standardisation stay as they were
        fitted (statsforecast's `forward`; mlforecast's `predict(new_df=...)`). A backtest
        refitting every K windows forecasts the windows in between this way: a model trained
        at an earlier cutoff, fed nothing past the window's own cutoff. Series the fit never
        saw are forecast too; a static value it never saw is missing to the trees."""
        if not hasattr(self, "point_"):
            raise NotFittedError("GBMForecaster.forward called before fit")
        check_training_data(data)
        if tuple(data.future_exog) != self.future_exog_ or (
            tuple(data.static_cols) != self.static_cols_
        ):
            raise ValueError(
                "forward needs the covariates and static columns the model was fitted on: "
                f"{list(self.future_exog_)} and {list(self.static_cols_)}"
            )
        started = time.perf_counter()
        frame = data.frame
        panel = self._panel(data)
        self.ids_ = panel.ids
        self._series_codes(data, panel.ids)
        self.usual_price_ = self._usual_prices(frame, panel.ids)
        self._read_origin(frame, panel)
        self.forwarded_ = True
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _read_origin(self, frame: pd.DataFrame, panel: Panel) -> None:
        """What predict needs, read off the panel at each series' last period: the panel
        itself is not kept."""
        rows = np.arange(len(panel.ids))
        origin = panel.last
        hist, scale, exog_level = history_features(panel, self.spec_, rows, origin)
        self.history_features_ = hist
        self.scale_ = scale
        self.exog_level_ = exog_level
        self.year_ago_ = year_ago_features(panel, self.spec_, rows, origin, self.horizon_, scale)
        self.index_ = future_index(frame, self.horizon_, self.freq_)

    def _cross_validate(
        self,
        lgb: Any,
        panel: Panel,
        rng: np.random.Generator,
        transforms: list[str],
        horizon: int,
    ) -> None:
        """Choose the transform and the number of trees on blocks of `horizon` periods at the
        end of the training data, and the conformal shifts and smearing factor that go with
        them (see the module)."""
        scores: dict[str, np.ndarray] = {}
        last = panel.n_periods - 1
        windows = []
        for w in range(1, self.cv_windows + 1):
            cutoff = last - w * horizon
            alive = np.flatnonzero((panel.first <= cutoff) & (panel.last >= cutoff))
            if cutoff - horizon < 0 or len(alive) == 0:
                break
            train = self._sample(panel, rng, cutoff, self.cv_max_rows, horizon)
            valid = self._rows(panel, alive, np.full(len(alive), cutoff), horizon, last)
            if train is None or len(valid.y) == 0 or np.abs(valid.y).sum() == 0:
                break
            windows.append((train, valid))
        residuals: dict[str, np.ndarray] = {}
        for transform in transforms:
            fits = [self._cv_curve(lgb, transform, tr, va) for tr, va in windows]
            curves = [curve for curve, _ in fits]
            if fits:
                residuals[transform] = np.concatenate([r for _, r in fits])
                width = max(len(c) for c in curves)
                padded = [np.pad(c, (0, width - len(c)), mode="edge") for c in curves]
                scores[transform] = np.mean(padded, axis=0)
        if scores:
            chosen = min(scores, key=lambda t: float(scores[t].min()))
            rounds = int(np.argmin(scores[chosen])) + 1
            rounds = max(10, int(np.ceil(rounds * 1.1)))
        else:  # too short a history to hold anything out
            chosen, rounds = transforms[0], min(200, self.max_rounds)
        self.transform_ = chosen
        self.rounds_ = rounds
        self.cv_wape_ = {t: round(float(s.min()), 5) for t, s in scores.items()}
        self.quantile_shift_ = self._conformal_shift(lgb, windows, chosen, rounds)
        self.smearing_ = (
            _smearing(residuals[chosen]) if chosen == "log1p" and chosen in residuals else 1.0
        )

    def _fit_statics(self, data: SeriesData, ids: np.ndarray) -> None:
        """Integer codes of each static column (and the id), LightGBM's categorical features."""
        self.vocabularies_ = {
            name: {v: i for i, v in enumerate(sorted(set(col)))}
            for name, col in self._static_values(data, ids).items()
        }
        group = self.price_group or (self.static_cols_[0] if self.static_cols_ else None)
        if group is not None and group not in self.static_cols_:
            raise ValueError(f"price_group {group!r} is not one of the static columns")
        self.group_ = group
        self._series_codes(data, ids)

    def _static_values(self, data: SeriesData, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Each static column's value per series (and the id, with `id_feature`), as text."""
        statics = data.statics().reindex(ids)
        values = {c: statics[c].astype(str).to_numpy() for c in self.static_cols_}
        if self.id_feature:
            values[ID] = np.asarray(ids, dtype=str)
        return values

    def _series_codes(self, data: SeriesData, ids: np.ndarray) -> None:
        """Each series' static codes by the fitted vocabularies (NaN, missing to LightGBM, for
        a value they lack) and its price group."""
        values = self._static_values(data, ids)
        self.codes_ = np.column_stack(
            [
                np.array([self.vocabularies_[name].get(v, np.nan) for v in col], dtype=np.float32)
                for name, col in values.items()
            ]
            or [np.zeros((len(ids), 0), dtype=np.float32)]
        ).reshape(len(ids), len(values))
        self.group_of_ = (
            values[self.group_] if self.group_ is not None else np.zeros(len(ids), dtype=str)
        )

    def _fit_prices(self, frame: pd.DataFrame, panel: Panel) -> None:
        """Each price column's usual value per series (its median over the training data) and
        the dense relative prices the training rows read."""
        self.price_cols_ = tuple(c for c in self.future_exog_ if is_price_column(c))
        self.usual_price_ = self._usual_prices(frame, panel.ids)
        # Raw (unstandardised) prices on the panel's grid, to divide by the usual price.
        n, width = len(panel.ids), len(panel.grid)
        if not self.price_cols_:
            self._price_design = np.zeros((n, width, 0), dtype=np.float32)
            return
        codes = pd.Index(panel.ids).get_indexer(frame[ID])
        step = panel.grid[1] - panel.grid[0] if len(panel.grid) > 1 else np.timedelta64(1, "D")
        index = ((frame[DS].to_numpy(dtype="datetime64[ns]") - panel.grid[0]) // step).astype(
            np.int64
        )
        prices = np.full((n, width, len(self.price_cols_)), np.nan)
        for j, col in enumerate(self.price_cols_):
            prices[codes, index, j] = frame[col].to_numpy(dtype=float)
        # Computed over the whole panel at once, so that a period's segment index averages
        # every series of the segment, not only those of one batch of training rows.
        grid = np.broadcast_to(panel.grid[None, :], (n, width))
        self._price_design = self._price_features(np.arange(n), prices, grid)

    def _usual_prices(self, frame: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
        """(series, price columns): each series' median price over `frame`."""
        by_series = frame.groupby(ID, sort=True)
        return np.column_stack(
            [by_series[c].median().reindex(ids).to_numpy(dtype=float) for c in self.price_cols_]
            or [np.zeros((len(ids), 0))]
        ).reshape(len(ids), len(self.price_cols_))

    # ------------------------------------------------------------------------------- design

    def _price_features(self, rows: np.ndarray, prices: np.ndarray, ds: np.ndarray) -> np.ndarray:
        """(B, H, 2P): each price against the series' usual price, and that ratio against the
        mean ratio of the series' price group at the same period (a segment price index)."""
        if not self.price_cols_:
            return np.zeros((*prices.shape[:2], 0), dtype=np.float32)
        usual = self.usual_price_[rows][:, None, :]
        ratio = prices / np.where(np.abs(usual) > 0, usual, np.nan)
        groups = self.group_of_[rows]
        b, h, p = ratio.shape
        keys = pd.MultiIndex.from_arrays(
            [np.repeat(groups, h), np.asarray(ds, dtype="datetime64[ns]").ravel()]
        )
        codes, _ = pd.factorize(keys)
        flat = ratio.reshape(b * h, p)
        valid = ~np.isnan(flat)
        sums = np.zeros((codes.max() + 1, p))
        counts = np.zeros((codes.max() + 1, p))
        np.add.at(sums, codes, np.nan_to_num(flat))
        np.add.at(counts, codes, valid)
        index = flat / (sums[codes] / np.maximum(counts[codes], 1))
        return np.concatenate([ratio, index.reshape(b, h, p)], axis=2).astype(np.float32)

    def _design(
        self,
        rows: np.ndarray,
        hist: np.ndarray,
        steps: np.ndarray,
        prices: np.ndarray,
    ) -> np.ndarray:
        """(B * H, F): history features repeated per step, the step's own features, the step
        number, the static codes and the price features."""
        b, h = steps.shape[:2]
        step_number = np.broadcast_to(
            np.arange(1, h + 1, dtype=np.float32)[None, :, None], (b, h, 1)
        )
        codes = np.broadcast_to(self.codes_[rows][:, None, :], (b, h, self.codes_.shape[1]))
        parts = [
            np.broadcast_to(hist[:, None, :], (b, h, hist.shape[1])),
            steps,
            step_number,
            codes,
            prices,
        ]
        return np.concatenate(parts, axis=2).reshape(b * h, -1).astype(np.float32)

    def _rows(
        self, panel: Panel, rows: np.ndarray, origin: np.ndarray, horizon: int, limit: int
    ) -> _Rows:
        """Design rows of origins inside the panel, targets up to period `limit`; rows whose
        target is unknown are dropped."""
        spec = self.spec_
        hist, scale, exog_level = history_features(panel, spec, rows, origin)
        steps = training_step_features(panel, spec, rows, origin, horizon, scale, exog_level)
        target = origin[:, None] + 1 + np.arange(horizon)[None, :]
        inside = np.minimum(target, panel.n_periods - 1)
        X = self._design(rows, hist, steps, self._price_design[rows[:, None], inside])
        y = targets(panel, rows, origin, horizon, np.minimum(panel.last[rows], limit)).ravel()
        year_ago = steps[..., -2:]  # year_ago_features: (value / scale, known)
        base = np.where(
            year_ago[..., 1] > 0, year_ago[..., 0], (scale - 1.0)[:, None] / scale[:, None]
        )
        keep = ~np.isnan(y)
        scale_rows = np.repeat(scale, horizon)
        return _Rows(
            X=X[keep],
            y=y[keep].astype(np.float64),
            scale=scale_rows[keep],
            base=(base.ravel() * scale_rows)[keep],
        )

    def _sample(
        self, panel: Panel, rng: np.random.Generator, limit: int, max_rows: int, horizon: int
    ) -> _Rows | None:
        """Training rows whose targets end by period `limit`: every origin of every series, or
        a random draw of origins when that would exceed `max_rows` rows."""
        end = np.minimum(panel.last, limit) - 1  # the last origin with a target
        count = np.maximum(end - panel.first + 1, 0)
        total = int(count.sum())
        if total == 0:
            return None
        series = np.repeat(np.arange(len(panel.ids)), count)
        origin = panel.first[series] + (
            np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        )
        if total * horizon > max_rows:
            pick = np.sort(rng.choice(total, max(1, max_rows // horizon), replace=False))
            series, origin = series[pick], origin[pick]
        parts = [
            self._rows(panel, series[i : i + 20_000], origin[i : i + 20_000], horizon, limit)
            for i in range(0, len(series), 20_000)
        ]
        return _Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Rows.__slots__))

    # ------------------------------------------------------------------------------ targets

    @staticmethod
    def _encode(rows: _Rows, transform: str) -> np.ndarray:
        if transform == "log1p":
            return np.log1p(np.maximum(rows.y, 0.0)) - np.log1p(rows.scale - 1.0)
        if transform == "diff":
            return (rows.y - rows.base) / rows.scale
        return rows.y / rows.scale

    @staticmethod
    def _decode(
        z: np.ndarray, scale: np.ndarray, base: np.ndarray, transform: str, smear: float = 1.0
    ) -> np.ndarray:
        """Units from the transformed target; `smear` turns a log1p model's conditional mean of
        logs into a mean of units (quantiles map through exactly and take none)."""
        if transform == "log1p":
            return np.exp(z + np.log1p(scale - 1.0)) * smear - 1.0
        if transform == "diff":
            return base + z * scale
        return z * scale

    # ----------------------------------------------------------------------------- training

    def _params(self, n_rows: int, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            # Small panels (a few thousand rows) would otherwise grow leaves of a handful.
            "min_data_in_leaf": int(min(self.min_data_in_leaf, max(5, n_rows // 100))),
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": 127,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **extra,
        }

    def _categorical(self) -> list[int]:
        """Column positions of the static codes in the design matrix."""
        start = self.history_width_ + self.step_width_ + 1
        return list(range(start, start + self.codes_.shape[1]))

    def _dataset(self, lgb: Any, X: np.ndarray, z: np.ndarray) -> Any:
        """LightGBM's binned copy of the design matrix `X`, labelled `z`. A fit trains up to
        nineteen models on three matrices (the CV windows' and the full one): each is binned
        once and relabelled for the next model, since binning reads the features only (the
        models are the ones a fresh copy gives; it took a good part of a fit's time)."""
        kept = self._datasets.get(id(X))
        if kept is None:
            dataset = lgb.Dataset(
                X, label=z, categorical_feature=self._categorical(), free_raw_data=True
            )
            # X is kept with it: its id names it only while it lives.
            self._datasets[id(X)] = (X, dataset)
            return dataset
        return kept[1].set_label(z)

    def _cv_curve(
        self, lgb: Any, transform: str, train: _Rows, valid: _Rows
    ) -> tuple[np.ndarray, np.ndarray]:
        """WAPE of the mean in units on `valid` after each boosting round (stopped early), and
        the residuals of the transformed target at the best round."""
        z = self._encode(train, transform)
        abs_y = np.abs(valid.y).sum()

        z_valid = self._encode(valid, transform)

        def wape(preds: np.ndarray, _: Any) -> tuple[str, float, bool]:
            smear = _smearing(z_valid - preds) if transform == "log1p" else 1.0
            units = self._decode(preds, valid.scale, valid.base, transform, smear)
            return "wape", float(np.abs(valid.y - np.maximum(units, 0.0)).sum() / abs_y), False

        history: dict[str, Any] = {}
        dtrain = self._dataset(lgb, train.X, z)
        dvalid = lgb.Dataset(valid.X, label=z_valid, reference=dtrain)
        booster = lgb.train(
            self._params(len(z), {"objective": "regression", "metric": "None"}),
            dtrain,
            num_boost_round=self.max_rounds,
            valid_sets=[dvalid],
            valid_names=["cv"],
            feval=wape,
            callbacks=[
                lgb.early_stopping(self.early_stopping, verbose=False),
                lgb.record_evaluation(history),
            ],
        )
        curve = np.asarray(history["cv"]["wape"], dtype=float)
        residuals = z_valid - booster.predict(valid.X, num_iteration=int(np.argmin(curve)) + 1)
        return curve, residuals

    def _conformal_shift(
        self, lgb: Any, windows: list[tuple[_Rows, _Rows]], transform: str, rounds: int
    ) -> np.ndarray:
        """Per quantile level, the shift (in the transformed target) that makes the quantile
        model's held-out forecasts cover their level: conformalised quantile regression
        (Romano et al., 2019), one-sided per level, pooled over the CV windows.

        Quantile trees fitted in sample are over-confident (their leaves have seen the rows
        they predict), so their intervals come out narrow; the shift is what the held-out
        windows say it takes to cover. Zero without CV windows."""
        if not windows:
            return np.zeros(len(QUANTILES))
        residuals: list[list[np.ndarray]] = [[] for _ in QUANTILES]
        # The most recent windows, until they hold enough residuals: more windows only add
        # fits (four per window) once the quantiles of the residuals are settled.
        used, seen = [], 0
        for window in windows:
            if seen >= _CONFORMAL_ROWS:
                break
            used.append(window)
            seen += len(window[1].y)
        for train, valid in used:
            z = self._encode(train, transform)
            z_valid = self._encode(valid, transform)
            for j, q in enumerate(QUANTILES):
                model = self._train(lgb, train.X, z, {"objective": "quantile", "alpha": q}, rounds)
                residuals[j].append(z_valid - model.predict(valid.X))
        return np.array(
            [
                float(np.quantile(np.concatenate(r), q))
                for r, q in zip(residuals, QUANTILES, strict=True)
            ]
        )

    def _train(
        self, lgb: Any, X: np.ndarray, z: np.ndarray, extra: dict[str, Any], rounds: int
    ) -> Any:
        return lgb.train(self._params(len(z), extra), self._dataset(lgb, X, z), rounds)

    # ------------------------------------------------------------------------------ predict

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "point_"):
            raise NotFittedError("GBMForecaster.predict called before fit")
        if not 1 <= horizon <= self.horizon_:
            raise ValueError(
                f"horizon must be between 1 and {self.horizon_}, the horizon the model was "
                f"trained for; got {horizon} (fit with horizon={horizon} to forecast further)"
            )
        index = self.index_[self.index_.groupby(ID).cumcount() < horizon].reset_index(drop=True)
        n = len(self.ids_)
        raw = future_covariates(index, future, self.future_exog_)
        exog = ((raw - self.exog_mean_) / self.exog_std_).astype(np.float32)
        exog = exog.reshape(n, horizon, len(self.future_exog_))
        ds = index[DS].to_numpy().reshape(n, horizon)
        calendar = calendar_features(ds, self.freq_, self.spec_.fourier_terms)
        steps = step_features(calendar, exog, self.exog_level_, self.year_ago_[:, :horizon])
        positions = [self.future_exog_.index(c) for c in self.price_cols_]
        prices = raw[:, positions].reshape(n, horizon, len(positions))
        rows = np.arange(n)
        X = self._design(
            rows, self.history_features_, steps, self._price_features(rows, prices, ds)
        )
        scale = np.repeat(self.scale_, horizon)
        year_ago = self.year_ago_[:, :horizon]
        level = ((self.scale_ - 1.0) / self.scale_)[:, None]
        base = np.where(year_ago[..., 1] > 0, year_ago[..., 0], level).ravel() * scale
        transform = self.transform_
        mean = self._decode(self.point_.predict(X), scale, base, transform, self.smearing_)
        quantiles = np.column_stack(
            [
                self._decode(m.predict(X) + shift, scale, base, transform)
                for m, shift in zip(self.quantile_models_, self.quantile_shift_, strict=True)
            ]
        )
        quantiles = np.where(quantiles < _ZERO * scale[:, None], 0.0, quantiles)
        quantiles = np.sort(np.maximum(quantiles, 0.0), axis=1)
        return Forecast(
            unique_id=index[ID].to_numpy(),
            ds=index[DS].to_numpy(),
            mean=np.maximum(mean, 0.0),
            p10=quantiles[:, 0],
            p50=quantiles[:, 1],
            p90=quantiles[:, 2],
            p95=quantiles[:, 3],
            model=self.name,
            meta={
                "fit_seconds": self.fit_seconds_,
                "transform": transform,
                "rounds": self.rounds_,
                "smearing": round(float(self.smearing_), 4),
                "cv_wape": self.cv_wape_,
                "quantile_shift": [round(float(v), 4) for v in self.quantile_shift_],
                "train_rows": self.train_rows_,
                "warm_started": self.warm_started_,
                "forwarded": self.forwarded_,
            },
        )
