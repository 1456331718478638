"""The global model: one small torch network trained across every series with a quantile loss.

Direct multi-horizon in the style of MQ-CNN (Wen et al., 2017): an encoder reads the scaled
history of a series (lags, rolling statistics, zeros, time since the last sale, the level a
year ago) and learned embeddings of its id and static attributes (category, store); a decoder
shared by every horizon step combines that context with the step's own known-future features
(calendar, Fourier terms, price, promotion, holiday flags) and emits the mean and the quantiles
of that step. Sharing the decoder across steps means a promotion on day 5 acts on day 5's
output through the same weights as on day 1, which a flat multi-output head would have to learn
28 times.

Training samples random origins from every series, so an epoch costs the same for a short panel
as for a long one; early stopping watches the last `horizon` periods of each series. A series
with little history forecasts from its category and store embeddings: training drops the series
id to an "unknown" slot at random and oversamples young origins, so that case is learned.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILES,
    Forecast,
    Forecaster,
    Freq,
    NotFittedError,
    SeriesData,
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

_DEFAULT_HORIZON: dict[str, int] = {"D": 28, "W": 13}
# Quantiles below this many scale units (1 + the series' recent mean) are read as exactly zero.
_ZERO = 0.01


class _Network(nn.Module):
    """Encoder MLP over the history and embeddings; decoder MLP shared by every horizon step."""

    def __init__(
        self,
        n_history: int,
        n_step: int,
        cardinalities: list[int],
        embedding_dims: list[int],
        hidden: int,
        decoder_hidden: int,
        horizon: int,
        n_outputs: int,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(c, d) for c, d in zip(cardinalities, embedding_dims, strict=True)
        )
        n_in = n_history + sum(embedding_dims)
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.horizon = horizon
        self.step_context = 8
        # Horizon-specific contexts (MQ-RNN's "global MLP"): what the history says about step h.
        self.to_steps = nn.Linear(hidden, horizon * self.step_context)
        self.to_shared = nn.Linear(hidden, decoder_hidden)
        self.step_embedding = nn.Embedding(horizon, 4)
        self.from_step = nn.Linear(n_step + self.step_context + 4, decoder_hidden)
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.Linear(decoder_hidden, decoder_hidden),
            nn.ReLU(),
            nn.Linear(decoder_hidden, n_outputs),
        )

    def forward(
        self, history: torch.Tensor, codes: torch.Tensor, steps: torch.Tensor
    ) -> torch.Tensor:
        batch, horizon = steps.shape[0], steps.shape[1]
        embedded = [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
        context = self.encoder(torch.cat([history, *embedded], dim=1))
        per_step = self.to_steps(context).view(batch, self.horizon, self.step_context)
        step_ids = self.step_embedding.weight[:horizon].expand(batch, horizon, -1)
        local = torch.cat([steps, per_step[:, :horizon], step_ids], dim=2)
        hidden = self.to_shared(context).unsqueeze(1) + self.from_step(local)
        return self.decoder(hidden)


def _outputs(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, quantiles) from raw outputs: softplus keeps every value non-negative and the
    quantiles are a cumulative sum of non-negative increments, so they can never cross."""
    mean = F.softplus(raw[..., 0])
    quantiles = torch.cumsum(F.softplus(raw[..., 1:]), dim=-1)
    return mean, quantiles


def _loss(
    raw: torch.Tensor, y: torch.Tensor, levels: torch.Tensor, point_weight: float
) -> torch.Tensor:
    """Pinball loss over the quantile levels plus a Poisson deviance for the mean head.

    The mean has its own head rather than reusing P50 because the two differ where it matters:
    for a slow mover the median is often 0 while the expected units (what a replenishment
    policy sums over the lead time) are not. The Poisson deviance is consistent for the mean,
    like squared error, but weighs errors by the level, so the over-dispersed spikes of retail
    counts do not dominate the gradient the way they do under squared error.
    """
    mask = ~torch.isnan(y)
    target = torch.nan_to_num(y)
    n = mask.sum().clamp(min=1)
    mean, quantiles = _outputs(raw)
    error = target.unsqueeze(-1) - quantiles
    pinball = torch.maximum(levels * error, (levels - 1) * error).mean(dim=-1)
    # Net returns (negative units) would make the deviance unbounded below: not for the mean.
    poisson = mean - target.clamp(min=0) * torch.log(mean + 1e-6)
    total = (pinball + point_weight * poisson) * mask
    return total.sum() / n


_Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _prefetched(
    pool: ThreadPoolExecutor,
    build: Callable[[tuple[np.ndarray, np.ndarray]], _Batch],
    parts: list[tuple[np.ndarray, np.ndarray]],
) -> Iterator[_Batch]:
    """Yield build(part) for each part, building the next one on the second core meanwhile.

    numpy releases the GIL while it gathers, so the features of batch k + 1 are ready when
    torch is done with batch k. Nothing random happens in `build`, so the result is the same
    as a serial loop's.
    """
    pending = pool.submit(build, parts[0])
    for following in [*parts[1:], None]:
        batch = pending.result()
        if following is not None:
            pending = pool.submit(build, following)
        yield batch


class GlobalQuantileForecaster(Forecaster):
    """A global MLP forecaster trained on every series at once with a quantile loss.

    Hyperparameters (keyword only; `__init__` stores them and does nothing else):
    - horizon: the longest horizon it is trained for (default 28 daily, 13 weekly); `predict`
      accepts any horizon up to it.
    - lags: recent values given one by one (default 28 daily, 13 weekly).
    - hidden, decoder_hidden: widths of the encoder and of the per-step decoder.
    - id_embedding_dim, static_embedding_dim: sizes of the learned embeddings of the series id
      and of each static column (capped by the column's cardinality).
    - windows_per_series, min_samples_per_epoch, max_samples_per_epoch: training origins drawn
      per series per epoch, bounded below (a small panel's origins repeat, but a handful of
      optimiser steps would leave the network untrained) and above (large panels).
    - batch_size, learning_rate, max_epochs, patience: Adam with a cosine-decaying learning
      rate over `max_epochs`; training stops after `patience` epochs without improvement of the
      validation loss and keeps the best epoch's weights. The batch shrinks (to 128 at least)
      on panels with few distinct origins.
    - point_weight: weight of the mean head's loss against the pinball loss.
    - id_dropout: share of training samples whose series id is replaced by the unknown slot,
      young_share: share of origins drawn from a series' first weeks; both teach cold start.
    - warm_start, warm_epochs: with warm_start, fitting a model that is already fitted starts
      from its network (series and static labels it knew keep their learned embeddings, new
      ones start fresh) and trains at most `warm_epochs` epochs, keeping the starting weights
      unless an epoch beats them on the validation periods. A rolling-origin backtest refits on
      a few more periods each window, where most of what the network knows still holds.
    - seed, n_threads: the same seed and thread count give the same forecasts. One torch
      thread by default: on a shared two-core machine OpenMP's spinning threads fight other
      processes for the cores (measured 5x slower under load), while one thread plus feature
      prefetching on the other core is as fast as two on an idle machine.
    """

    name: ClassVar[str] = "global"

    def __init__(
        self,
        *,
        horizon: int | None = None,
        lags: int | None = None,
        hidden: int = 64,
        decoder_hidden: int = 32,
        id_embedding_dim: int = 8,
        static_embedding_dim: int = 8,
        windows_per_series: int = 32,
        min_samples_per_epoch: int = 16_384,
        max_samples_per_epoch: int = 131_072,
        batch_size: int = 1024,
        learning_rate: float = 4e-3,
        max_epochs: int = 12,
        patience: int = 3,
        point_weight: float = 1.0,
        id_dropout: float = 0.15,
        young_share: float = 0.1,
        warm_start: bool = False,
        warm_epochs: int = 6,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.horizon = horizon
        self.lags = lags
        self.hidden = hidden
        self.decoder_hidden = decoder_hidden
        self.id_embedding_dim = id_embedding_dim
        self.static_embedding_dim = static_embedding_dim
        self.windows_per_series = windows_per_series
        self.min_samples_per_epoch = min_samples_per_epoch
        self.max_samples_per_epoch = max_samples_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.patience = patience
        self.point_weight = point_weight
        self.id_dropout = id_dropout
        self.young_share = young_share
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.seed = seed
        self.n_threads = n_threads

    # ----------------------------------------------------------------------------------- fit

    def fit(self, data: SeriesData) -> Self:
        check_training_data(data)
        frame = data.frame
        started = time.perf_counter()
        horizon = self.horizon or _DEFAULT_HORIZON[data.freq]
        spec = default_spec(data.freq, self.lags)
        exog_cols = tuple(data.future_exog)
        values = frame[list(exog_cols)].to_numpy(dtype=np.float64) if exog_cols else None
        exog_mean = np.nanmean(values, axis=0) if values is not None else np.zeros(0)
        exog_std = np.nanstd(values, axis=0) if values is not None else np.ones(0)
        exog_std = np.where(exog_std > 0, exog_std, 1.0)
        panel = build_panel(
            frame, data.freq, exog_cols, exog_mean, exog_std, horizon, spec.fourier_terms
        )
        n = len(panel.ids)
        # Code 0 of every embedding is reserved for "unknown"; training drops series ids to it
        # at random (id_dropout), so it holds what a series without an identity looks like.
        vocabularies: dict[str, dict[str, int]] = {}
        codes = np.zeros((n, 1 + len(data.static_cols)), dtype=np.int64)
        codes[:, 0] = np.arange(1, n + 1)
        statics = data.statics().reindex(panel.ids)
        for j, col in enumerate(data.static_cols, start=1):
            labels = statics[col].astype(str).to_numpy()
            vocab = {v: i + 1 for i, v in enumerate(sorted(set(labels)))}
            vocabularies[col] = vocab
            codes[:, j] = [vocab[v] for v in labels]
        cardinalities = [n + 1] + [len(v) + 1 for v in vocabularies.values()]
        dims = [self.id_embedding_dim] + [
            min(self.static_embedding_dim, max(2, (len(v) + 1) // 2)) for v in vocabularies.values()
        ]

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                network = _Network(
                    n_history_features(spec, len(exog_cols)),
                    n_step_features(data.freq, spec.fourier_terms, len(exog_cols)),
                    cardinalities,
                    dims,
                    self.hidden,
                    self.decoder_hidden,
                    horizon,
                    1 + len(QUANTILES),
                )
                warm = self.warm_start and self._warm_from(
                    network, panel.ids, vocabularies, data.static_cols
                )
                history = self._train(network, panel, spec, codes, horizon, warm)
        finally:
            torch.set_num_threads(previous_threads)

        # Everything predict needs is read off the panel now, so the panel need not be kept.
        rows = np.arange(n)
        origin = panel.last
        hist, scale, exog_level = history_features(panel, spec, rows, origin)
        self.network_ = network
        self.spec_ = spec
        self.freq_: Freq = data.freq
        self.ids_ = panel.ids
        self.horizon_ = horizon
        self.future_exog_ = exog_cols
        self.static_cols_ = tuple(data.static_cols)
        self.vocabularies_ = vocabularies
        self.exog_mean_ = exog_mean
        self.exog_std_ = exog_std
        self.codes_ = codes
        self.history_features_ = hist
        self.scale_ = scale
        self.exog_level_ = exog_level
        self.year_ago_ = year_ago_features(panel, spec, rows, origin, horizon, scale)
        self.index_ = future_index(frame, horizon, data.freq)
        self.history_ = history
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _train(
        self,
        network: _Network,
        panel: Panel,
        spec: FeatureSpec,
        codes: np.ndarray,
        horizon: int,
        warm: bool = False,
    ) -> dict[str, object]:
        rng = np.random.default_rng(self.seed)
        levels = torch.tensor(QUANTILES, dtype=torch.float32)
        # Time-based validation: the last `horizon` periods of every series long enough to
        # spare them; training targets stop before them.
        val_origin = panel.last - horizon
        has_val = val_origin >= panel.first + horizon
        limit = np.where(has_val, val_origin, panel.last)
        trainable = np.flatnonzero(limit > panel.first)
        if len(trainable) == 0:
            raise ValueError("every series has a single observation; nothing to learn from")
        val_rows = np.flatnonzero(has_val)
        if len(val_rows) > 20_000:
            val_rows = np.sort(rng.choice(val_rows, 20_000, replace=False))
        validation = (
            self._batch(panel, spec, codes, val_rows, val_origin[val_rows], horizon, panel.last)
            if len(val_rows)
            else None
        )

        # A small panel (a few hundred distinct origins) learns from many small steps: big
        # batches of the same few origins would only average the same gradients.
        n_origins = int((limit[trainable] - panel.first[trainable]).sum())
        batch_size = int(np.clip(n_origins // 16, 128, max(self.batch_size, 128)))
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        per_epoch = min(
            max(len(trainable) * self.windows_per_series, self.min_samples_per_epoch),
            self.max_samples_per_epoch,
        )
        best_loss, best_state, best_epoch, stale = (
            math.inf,
            copy.deepcopy(network.state_dict()),
            0,
            0,
        )
        if warm and validation is not None:
            # The weights it starts from are the ones to beat: a refit that only adds a few
            # periods must not come out worse on them than the previous window's network.
            best_loss = self._validation_loss(network, validation, levels)
        losses: list[float] = []
        epoch, step = 0, 0
        max_epochs = self.warm_epochs if warm else self.max_epochs
        total_steps = max_epochs * math.ceil(per_epoch / batch_size)
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            for epoch in range(1, max_epochs + 1):
                rows = rng.choice(trainable, per_epoch, replace=True)
                lo, hi = panel.first[rows], limit[rows] - 1
                origin = lo + (rng.random(per_epoch) * (hi - lo + 1)).astype(np.int64)
                young = rng.random(per_epoch) < self.young_share
                young_origin = lo + rng.integers(0, 2 * horizon, per_epoch)
                origin = np.where(young, np.minimum(young_origin, hi), origin)
                parts = [
                    (rows[i : i + batch_size], origin[i : i + batch_size])
                    for i in range(0, per_epoch, batch_size)
                ]
                network.train()
                for hist, batch_codes, steps, y in _prefetched(
                    prefetch,
                    lambda part: self._batch(panel, spec, codes, *part, horizon, limit),
                    parts,
                ):
                    # Cosine decay over the whole budget: large steps early, fine ones at the
                    # end; it converges in fewer epochs than a constant rate halved on plateaus.
                    cosine = 0.5 * (1 + math.cos(math.pi * step / total_steps))
                    for group in optimizer.param_groups:
                        group["lr"] = self.learning_rate * (0.05 + 0.95 * cosine)
                    step += 1
                    drop = torch.from_numpy(rng.random(len(batch_codes)) < self.id_dropout)
                    batch_codes[:, 0] = batch_codes[:, 0].masked_fill(drop, 0)
                    loss = _loss(network(hist, batch_codes, steps), y, levels, self.point_weight)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                if validation is None:
                    best_state, best_epoch = copy.deepcopy(network.state_dict()), epoch
                    continue
                val_loss = self._validation_loss(network, validation, levels)
                losses.append(val_loss)
                if val_loss < best_loss * (1 - 1e-4):
                    best_loss, best_epoch, stale = val_loss, epoch, 0
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        network.load_state_dict(best_state)
        network.eval()
        return {
            "epochs": epoch,
            "best_epoch": best_epoch,
            "validation_loss": best_loss if math.isfinite(best_loss) else None,
            "validation_losses": losses,
            "samples_per_epoch": per_epoch,
            "batch_size": batch_size,
            "warm_started": warm,
        }

    def _validation_loss(
        self, network: _Network, validation: _Batch, levels: torch.Tensor
    ) -> float:
        network.eval()
        with torch.no_grad():
            raw = network(validation[0], validation[1], validation[2])
            return float(_loss(raw, validation[3], levels, self.point_weight))

    def _warm_from(
        self,
        network: _Network,
        ids: np.ndarray,
        vocabularies: dict[str, dict[str, int]],
        static_cols: tuple[str, ...],
    ) -> bool:
        """Copy this fitted model's weights into `network`, the new fit's fresh network: every
        layer as it is, and the embedding rows of the series ids and static labels both know
        (code 0, the unknown slot, included). False, and `network` untouched, when there is no
        fitted network or its layers do not fit the new one (other covariates, widths or
        horizon)."""
        previous: _Network | None = getattr(self, "network_", None)
        if previous is None or tuple(getattr(self, "static_cols_", ())) != tuple(static_cols):
            return False
        old, new = previous.state_dict(), network.state_dict()
        embedding = {f"embeddings.{j}.weight" for j in range(len(network.embeddings))}
        if old.keys() != new.keys() or any(
            old[key].shape[-1] != new[key].shape[-1]
            if key in embedding
            else old[key].shape != new[key].shape
            for key in new
        ):
            return False
        state = {key: value.clone() for key, value in old.items() if key not in embedding}
        old_codes = [
            {str(v): i + 1 for i, v in enumerate(self.ids_)},
            *(self.vocabularies_[col] for col in static_cols),
        ]
        new_codes = [
            {str(v): i + 1 for i, v in enumerate(ids)},
            *(vocabularies[col] for col in static_cols),
        ]
        for j, (before, after) in enumerate(zip(old_codes, new_codes, strict=True)):
            key = f"embeddings.{j}.weight"
            weight = new[key].clone()
            shared = [label for label in after if label in before]
            weight[0] = old[key][0]
            if shared:
                weight[[after[label] for label in shared]] = old[key][
                    [before[label] for label in shared]
                ]
            state[key] = weight
        network.load_state_dict(state)
        return True

    @staticmethod
    def _batch(
        panel: Panel,
        spec: FeatureSpec,
        codes: np.ndarray,
        rows: np.ndarray,
        origin: np.ndarray,
        horizon: int,
        limit: np.ndarray,
    ) -> _Batch:
        hist, scale, exog_level = history_features(panel, spec, rows, origin)
        steps = training_step_features(panel, spec, rows, origin, horizon, scale, exog_level)
        y = targets(panel, rows, origin, horizon, limit[rows]) / scale[:, None].astype(np.float32)
        return (
            torch.from_numpy(hist),
            torch.from_numpy(codes[rows]),
            torch.from_numpy(steps),
            torch.from_numpy(y),
        )

    # ------------------------------------------------------------------------------- predict

    def predict(self, horizon: int, future: pd.DataFrame | None = None) -> Forecast:
        if not hasattr(self, "network_"):
            raise NotFittedError("GlobalQuantileForecaster.predict called before fit")
        if not 1 <= horizon <= self.horizon_:
            raise ValueError(
                f"horizon must be between 1 and {self.horizon_}, the horizon the model was "
                f"trained for; got {horizon} (fit with horizon={horizon} to forecast further)"
            )
        index = self.index_[self.index_.groupby(ID).cumcount() < horizon].reset_index(drop=True)
        n = len(self.ids_)
        exog = self._future_exog(index, future).reshape(n, horizon, len(self.future_exog_))
        calendar = calendar_features(
            index[DS].to_numpy().reshape(n, horizon), self.freq_, self.spec_.fourier_terms
        )
        steps = step_features(calendar, exog, self.exog_level_, self.year_ago_[:, :horizon])
        means, quantiles = [], []
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            with torch.no_grad():
                for start in range(0, n, 8192):
                    part = slice(start, start + 8192)
                    raw = self.network_(
                        torch.from_numpy(self.history_features_[part]),
                        torch.from_numpy(self.codes_[part]),
                        torch.from_numpy(steps[part]),
                    )
                    mean, q = _outputs(raw)
                    means.append(mean.numpy())
                    quantiles.append(q.numpy())
        finally:
            torch.set_num_threads(previous_threads)
        scale = self.scale_[:, None]
        mean_units = (np.concatenate(means) * scale).ravel()
        # Softplus never reaches zero, but demand has a point mass there: a quantile the network
        # puts within a hair of zero is zero (else every zero-sale day falls outside [p10, p90]).
        scaled = np.concatenate(quantiles)
        scaled = np.where(scaled < _ZERO, 0.0, scaled)
        q_units = (scaled * scale[:, :, None]).reshape(-1, len(QUANTILES))
        return Forecast(
            unique_id=index[ID].to_numpy(),
            ds=index[DS].to_numpy(),
            mean=mean_units,
            p10=q_units[:, 0],
            p50=q_units[:, 1],
            p90=q_units[:, 2],
            p95=q_units[:, 3],
            model=self.name,
            meta={"fit_seconds": self.fit_seconds_, **self.history_},
        )

    def _future_exog(self, index: pd.DataFrame, future: pd.DataFrame | None) -> np.ndarray:
        """Standardised covariates of the forecast rows, in `index` order."""
        values = future_covariates(index, future, self.future_exog_)
        return ((values - self.exog_mean_) / self.exog_std_).astype(np.float32)
