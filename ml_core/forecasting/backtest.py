"""Rolling-origin backtests of any forecasters on any `SeriesData`, and per-series model choice.

The semantics are fixed by the CLI contract (`aisle forecast backtest`): with T the last date of
the data, the last cutoff is T - H periods and the other N-1 cutoffs step back S periods each;
each window trains on everything up to and including its cutoff and is scored on steps G+1..H
after it. A series with no observation at a cutoff (it starts later, or it has ended) sits that
window out.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ml_core.forecasting.base import (
    DS,
    ID,
    QUANTILE_FIELDS,
    Forecast,
    Forecaster,
    SeriesData,
    Y,
    trained_for,
)
from ml_core.forecasting.data import PERIOD, SEASON_LENGTH
from ml_core.forecasting.ensemble import Ensemble
from ml_core.forecasting.metrics import CUTOFF, evaluate, seasonal_scale
from retail.errors import AisleError

FORECAST_COLUMNS: tuple[str, ...] = (ID, DS, CUTOFF, "model", "y_hat", *QUANTILE_FIELDS, Y)
BEST = "best"


class BacktestError(AisleError):
    """The backtest's settings do not fit together or do not fit the data."""


@runtime_checkable
class CvChooser(Protocol):
    """A model that chooses among candidate models by a cross-validation on its training data
    and combines their forecasts (`selection.AutoForecaster`). Named by its shape here: its
    cross-validation is a backtest, so this module cannot import it."""

    name: str
    registry: Mapping[str, Callable[..., Forecaster]]
    candidates: tuple[str, ...]
    horizon: int | None

    def cv_cutoffs(self, data: SeriesData) -> list[pd.Timestamp]: ...

    def choose(
        self,
        forecasts: pd.DataFrame | None,
        scales: pd.DataFrame | None,
        cv_cutoffs: list[pd.Timestamp],
    ) -> CvChooser: ...

    def combine_forecasts(self, forecasts: Mapping[str, Forecast]) -> Forecast: ...


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """Horizon H, step S, windows N and gap G, all in periods of the data's frequency."""

    horizon: int
    step: int
    windows: int
    gap: int = 0

    def check(self) -> None:
        """One sentence for the first setting that makes no sense."""
        if self.horizon < 1:
            raise BacktestError(f"The horizon must be at least 1 period, not {self.horizon}.")
        if self.step < 1:
            raise BacktestError(f"The step must be at least 1 period, not {self.step}.")
        if self.windows < 1:
            raise BacktestError(f"The number of windows must be at least 1, not {self.windows}.")
        if not 0 <= self.gap < self.horizon:
            raise BacktestError(
                f"The gap must be at least 0 and less than the horizon ({self.horizon}), "
                f"not {self.gap}."
            )


def check_refit_every(refit_every: int) -> None:
    """One sentence if a backtest cannot refit every `refit_every` windows."""
    if refit_every < 1:
        raise BacktestError(f"Refit at least every 1 window, not every {refit_every}.")


def cutoffs(last: pd.Timestamp, freq: str, spec: BacktestSpec) -> list[pd.Timestamp]:
    """The N cutoffs, oldest first: last - H periods, then S periods back each."""
    period = PERIOD[freq]
    final = pd.Timestamp(last) - spec.horizon * period
    return [final - (spec.windows - 1 - i) * spec.step * period for i in range(spec.windows)]


@dataclass(slots=True)
class BacktestResult:
    """What a backtest produced: every scored forecast row and the metrics per model."""

    forecasts: pd.DataFrame
    """unique_id, ds, cutoff, model, y_hat, p10, p50, p90, p95 and the actual y."""
    metrics: pd.DataFrame
    """`metrics.evaluate` per model (index: model)."""
    scales: pd.DataFrame
    """unique_id, cutoff, scale: each window's MASE denominator per series."""
    cutoffs: list[pd.Timestamp]
    spec: BacktestSpec
    freq: str
    models: list[str]
    """Model names in the order they were run."""
    fallbacks: dict[str, int] = field(default_factory=dict)
    """Per model, how many (series, window) pairs fell back to a simpler model."""
    fit_seconds: dict[str, float] = field(default_factory=dict)
    """Per model fitted, the CPU seconds of its fits and forecasts over every window, counted
    on the thread that ran them (a busy machine stretches them least; the global model's
    feature prefetching on a second thread is not counted). An ensemble's members are fitted
    once, for it and for the models that share them."""


def resolve_models(
    names: Sequence[str] | None, registry: Mapping[str, Callable[..., Forecaster]]
) -> dict[str, Callable[..., Forecaster]]:
    """The factories for `names` (all of `registry` when None); an unknown name is an error."""
    if names is None:
        return dict(registry)
    if not names:
        raise BacktestError("Name at least one model.")
    chosen: dict[str, Callable[..., Forecaster]] = {}
    for name in names:
        if name not in registry:
            raise BacktestError(f"Unknown model {name!r}: choose from {', '.join(registry)}.")
        chosen[name] = registry[name]
    return chosen


def backtest(
    data: SeriesData,
    models: Mapping[str, Callable[..., Forecaster]],
    spec: BacktestSpec,
    *,
    show_progress: bool = True,
    console: Console | None = None,
    n_jobs: int = 1,
    warm_start: bool = False,
    refit_every: int = 1,
) -> BacktestResult:
    """Fit every model on every window and score its forecasts against the actuals.

    Forecast rows with no actual (a series that ends inside the window) are dropped. Progress
    (each model's windows, and all of them) goes to `console`, stderr by default.

    Nothing is fitted twice: an `Ensemble` combines the forecasts its members made on the same
    window (members not among `models` run too, unscored) instead of fitting its own copies.
    `auto` (an `AutoForecaster` of the backtest's horizon) is made the same way: its candidates
    run at its CV cutoffs (the windows before each scored one, fitted but not scored) and at
    the window, and it chooses and combines from those forecasts, as its own `fit` would from
    the fits it makes inside the window; a candidate's CV fit then sees every series alive at
    its cutoff, also those that ended before the scored window (the window's own `fit` trains
    on the series alive at the window only; the per-series models forecast the same either
    way).
    With `warm_start`, a model that can start from its previous fit (`WarmStartable`, the
    global model) is refitted window after window, each fit continuing from the one before;
    its forecasts then differ from a fresh fit's (see docs/BENCHMARKS.md for how much). With
    `refit_every` K > 1, a model that can forecast from data it was not fitted on
    (`Forwardable`, the GBM) is fitted on its first window and every K-th after it, and in
    between the last fit forecasts each window from that window's own history (its lags up to
    the window's cutoff: nothing it should not see), as statsforecast's and mlforecast's
    `cross_validation(refit=K)` do. With `n_jobs` > 1 the other (model, window) fits run in
    worker processes meanwhile, n_jobs of them in all counting the one that trains the
    warm-started and forwarded models here; every forecast is the one a fit in this process
    gives.
    """
    spec.check()
    check_refit_every(refit_every)
    if not models:
        raise BacktestError("Name at least one model.")
    frame = data.frame
    period = PERIOD[data.freq]
    cuts = cutoffs(frame[DS].max(), data.freq, spec)
    earliest = frame[DS].min()
    if cuts[0] < earliest + period:
        span = int((frame[DS].max() - earliest) / period) + 1
        needed = spec.horizon + (spec.windows - 1) * spec.step + 2
        raise BacktestError(
            f"The data spans {span} periods but {spec.windows} windows of horizon "
            f"{spec.horizon} and step {spec.step} need at least {needed}; use fewer windows, "
            f"a smaller step or a shorter horizon."
        )
    windows: dict[pd.Timestamp, tuple[SeriesData, pd.DataFrame]] = {}
    for cutoff in cuts:
        window = _window(data, cutoff, spec.horizon)
        if window is not None:
            windows[cutoff] = window
    if not windows:
        raise BacktestError("No series has data at any cutoff, so there is nothing to score.")

    plan = _Plan.of(models, warm_start, refit_every, spec.horizon, windows)
    # The earlier windows `auto` chooses by: fitted too, never scored.
    for cutoff in sorted(plan.cv_cutoffs - set(windows)):
        window = _window(data, cutoff, spec.horizon)
        if window is not None:
            windows[cutoff] = window
    windows = dict(sorted(windows.items()))
    plan.settle(windows)
    actuals = frame[[ID, DS, Y]]
    rows: list[pd.DataFrame] = []
    scale_frame = pd.concat(
        [
            seasonal_scale(train.frame, SEASON_LENGTH[data.freq])
            .reset_index()
            .assign(**{CUTOFF: c})
            for c, (train, _) in windows.items()
        ],
        ignore_index=True,
    )[[ID, CUTOFF, "scale"]]
    fallbacks = dict.fromkeys(models, 0)
    fit_seconds = dict.fromkeys(plan.runs, 0.0)
    made: dict[tuple[str, pd.Timestamp], Forecast] = {}
    scored_at: set[tuple[str, pd.Timestamp]] = set()
    fits = {run: [c for c in windows if plan.fits_at(run, c)] for run in plan.runs}
    progress = _progress(console, show_progress)
    with progress:
        overall = progress.add_task(
            f"backtest: {len(cuts)} windows", total=sum(len(c) for c in fits.values())
        )
        # A row per model fitted, and one per model made of others' forecasts (an ensemble,
        # `auto`), which advances as they finish each window.
        tasks = {name: progress.add_task(name, total=len(fits[name])) for name in plan.runs}
        tasks |= {
            name: progress.add_task(name, total=len(plan.scored_cutoffs)) for name in plan.combined
        }

        def record(name: str, cutoff: pd.Timestamp, forecast: Forecast, seconds: float) -> None:
            made[name, cutoff] = forecast
            fit_seconds[name] += seconds
            progress.advance(tasks[name])
            progress.advance(overall)
            for scored, at in plan.waiting_on(name, cutoff):
                if (scored, at) in scored_at or any(k not in made for k in plan.needs(scored, at)):
                    continue
                scored_at.add((scored, at))
                if scored in plan.combined:
                    progress.advance(tasks[scored])
                result = plan.forecast_of(scored, at, made, actuals, scale_frame)
                fell_back = result.meta.get("fallback", ())
                if isinstance(fell_back, Sized):
                    fallbacks[scored] += len(fell_back)
                future = windows[at][1]
                part = _score(result.to_frame(), future, actuals, spec, scored)
                rows.append(part.assign(**{CUTOFF: at, "model": scored}))

        _execute(plan, data, windows, fits, spec.horizon, n_jobs, record)
    forecasts = pd.concat(rows, ignore_index=True)[list(FORECAST_COLUMNS)]
    forecasts = forecasts.sort_values(["model", CUTOFF, ID, DS], kind="stable")
    forecasts = forecasts.reset_index(drop=True)
    scale_frame = scale_frame[scale_frame[CUTOFF].isin(plan.scored_cutoffs)].reset_index(drop=True)
    return BacktestResult(
        forecasts=forecasts,
        metrics=evaluate(forecasts, scale_frame).reindex(
            [name for name in models if name in set(forecasts["model"])]
        ),
        scales=scale_frame,
        cutoffs=cuts,
        spec=spec,
        freq=data.freq,
        models=list(models),
        fallbacks=fallbacks,
        fit_seconds={name: round(seconds, 3) for name, seconds in fit_seconds.items()},
    )


@runtime_checkable
class WarmStartable(Protocol):
    """A forecaster whose `fit`, once it is fitted, can start from what it learned
    (scikit-learn's `warm_start`): the backtest refits one such model window after window."""

    warm_start: bool


@runtime_checkable
class Forwardable(Protocol):
    """A forecaster whose fitted state can forecast from the end of data it was not fitted on
    (statsforecast's `forward`): the backtest refits it every K windows and forwards it to the
    windows in between."""

    def forward(self, data: SeriesData) -> Forwardable: ...


@dataclass(slots=True)
class _Plan:
    """What a backtest fits: `runs` (name -> factory), each fitted once per scored window, and
    how the scored models are made from them: a plain model is its own run, an ensemble the
    combination of its members' runs, `auto` the choice among its candidates' runs by their
    forecasts at its CV cutoffs, where those runs are fitted too."""

    scored: list[str]
    runs: dict[str, Callable[..., Forecaster]]
    chained: set[str]
    """Runs fitted as one model, window after window: warm-started, forwarded, or both."""
    warm: set[str]
    """Chained runs whose refits start from the previous fit."""
    forwarded: set[str]
    """Chained runs refitted every `refit_every` windows and forwarded to the others."""
    refit_every: int
    ensembles: dict[str, tuple[Ensemble, dict[str, str]]]
    """Scored ensemble -> (the ensemble, member name -> the run holding its forecasts)."""
    autos: dict[str, tuple[Callable[[], CvChooser], dict[str, str]]]
    """Scored `auto` -> (a factory of it, set for the horizon; candidate -> its run)."""
    cv: dict[str, dict[pd.Timestamp, list[pd.Timestamp]]]
    """Scored `auto` -> scored cutoff -> the CV cutoffs it chooses by there."""
    scored_cutoffs: list[pd.Timestamp]
    needed: dict[tuple[str, pd.Timestamp], list[tuple[str, pd.Timestamp]]] = field(
        default_factory=dict
    )
    """(scored model, scored cutoff) -> the (run, cutoff) forecasts that make its forecast."""
    waiting: dict[tuple[str, pd.Timestamp], list[tuple[str, pd.Timestamp]]] = field(
        default_factory=dict
    )
    """(run, cutoff) -> the (scored model, scored cutoff) pairs that need its forecast."""

    @classmethod
    def of(
        cls,
        models: Mapping[str, Callable[..., Forecaster]],
        warm_start: bool,
        refit_every: int,
        horizon: int,
        windows: Mapping[pd.Timestamp, tuple[SeriesData, pd.DataFrame]],
    ) -> _Plan:
        runs: dict[str, Callable[..., Forecaster]] = {}
        chained: set[str] = set()
        warm: set[str] = set()
        forwarded: set[str] = set()

        def chain(run: str, model: Forecaster) -> None:
            if warm_start and isinstance(model, WarmStartable):
                warm.add(run)
            if refit_every > 1 and isinstance(model, Forwardable):
                forwarded.add(run)
            if run in warm | forwarded:
                chained.add(run)

        ensembles: dict[str, tuple[Ensemble, dict[str, str]]] = {}
        autos: dict[str, tuple[Callable[[], CvChooser], dict[str, str]]] = {}
        cv: dict[str, dict[pd.Timestamp, list[pd.Timestamp]]] = {}
        members: dict[str, Callable[..., Forecaster]] = {}

        def run_of(owner: str, member: str, registry: Mapping[str, Any]) -> str:
            made_by = registry[member]
            # The caller's own run of a member is reused only if it is the same model.
            run = member if models.get(member) is made_by else f"{owner}/{member}"
            members[run] = made_by
            return run

        for name, factory in models.items():
            model = trained_for(factory(), horizon)
            if isinstance(model, Ensemble):
                unknown = [m for m in model.members if m not in model.registry]
                if unknown or not model.members:
                    raise ValueError(
                        f"Unknown ensemble members {unknown}; known: {list(model.registry)}."
                    )
                runs_of = {m: run_of(name, m, model.registry) for m in model.members}
                ensembles[name] = (model, runs_of)
            elif isinstance(model, CvChooser) and _reusable(model, horizon):
                # Its candidates' fits at the earlier cutoffs are the CV it would run inside
                # each window, and their fits at the window are its refit: each is fitted once.
                candidates = {c: run_of(name, c, model.registry) for c in model.candidates}
                autos[name] = (_auto_factory(factory, horizon), candidates)
                cv[name] = {c: model.cv_cutoffs(train) for c, (train, _) in windows.items()}
            else:
                runs[name] = factory
                chain(name, model)
        for run, factory in members.items():
            if run not in runs:
                runs[run] = factory
                chain(run, factory())
        return cls(
            list(models),
            runs,
            chained,
            warm,
            forwarded,
            refit_every,
            ensembles,
            autos,
            cv,
            list(windows),
        )

    @property
    def combined(self) -> list[str]:
        """The scored models made of other runs' forecasts."""
        return [*self.ensembles, *self.autos]

    @property
    def cv_cutoffs(self) -> set[pd.Timestamp]:
        return {c for per_cutoff in self.cv.values() for cs in per_cutoff.values() for c in cs}

    def settle(self, fitted: Collection[pd.Timestamp]) -> None:
        """Fix what waits on what, given the cutoffs that have a window (`fitted`)."""
        self.needed = {
            (scored, at): self._needs(scored, at, fitted)
            for scored in self.scored
            for at in self.scored_cutoffs
        }
        self.waiting = {}
        for pair, keys in self.needed.items():
            for key in keys:
                self.waiting.setdefault(key, []).append(pair)

    def _needs(
        self, scored: str, at: pd.Timestamp, fitted: Collection[pd.Timestamp]
    ) -> list[tuple[str, pd.Timestamp]]:
        if scored in self.ensembles:
            return [(run, at) for run in self.ensembles[scored][1].values()]
        if scored in self.autos:
            cuts = [c for c in self.cv[scored][at] if c in fitted] + [at]
            return [(run, c) for run in self.autos[scored][1].values() for c in cuts]
        return [(scored, at)]

    def needs(self, scored: str, at: pd.Timestamp) -> list[tuple[str, pd.Timestamp]]:
        """The (run, cutoff) forecasts that make `scored`'s at scored cutoff `at`."""
        return self.needed[scored, at]

    def waiting_on(self, run: str, cutoff: pd.Timestamp) -> list[tuple[str, pd.Timestamp]]:
        """The (scored model, scored cutoff) pairs `run`'s forecast at `cutoff` goes into."""
        return self.waiting.get((run, cutoff), [])

    def fits_at(self, run: str, cutoff: pd.Timestamp) -> bool:
        return (run, cutoff) in self.waiting

    def forecast_of(
        self,
        scored: str,
        at: pd.Timestamp,
        made: Mapping[tuple[str, pd.Timestamp], Forecast],
        actuals: pd.DataFrame,
        scales: pd.DataFrame,
    ) -> Forecast:
        if scored in self.ensembles:
            ensemble, runs = self.ensembles[scored]
            return ensemble.combine_forecasts(
                {member: made[run, at] for member, run in runs.items()}
            )
        if scored in self.autos:
            return self._auto_forecast(scored, at, made, actuals, scales)
        return made[scored, at]

    def _auto_forecast(
        self,
        scored: str,
        at: pd.Timestamp,
        made: Mapping[tuple[str, pd.Timestamp], Forecast],
        actuals: pd.DataFrame,
        scales: pd.DataFrame,
    ) -> Forecast:
        """`auto` at `at` as its `fit` on the window would make it: its candidates scored on
        the CV windows (the series alive at `at`, actuals up to `at`), the choice, and the
        chosen combination of the candidates' forecasts at `at`."""
        factory, runs = self.autos[scored]
        cuts = self.cv[scored][at]
        alive = made[next(iter(runs.values())), at].unique_id
        parts = []
        for cutoff in cuts:
            for candidate, run in runs.items():
                if (run, cutoff) not in made:
                    continue  # no series alive at that CV cutoff
                frame = made[run, cutoff].to_frame()
                keep = frame[ID].isin(alive) & (frame[DS] <= at)
                parts.append(frame[keep].assign(**{CUTOFF: cutoff, "model": candidate}))
        forecasts = None
        if parts:
            forecasts = pd.concat(parts, ignore_index=True).merge(actuals, on=[ID, DS])
            forecasts = forecasts.sort_values(["model", CUTOFF, ID, DS], kind="stable")
            forecasts = forecasts[list(FORECAST_COLUMNS)].reset_index(drop=True)
        model = factory().choose(forecasts, scales[scales[CUTOFF].isin(cuts)], cuts)
        # Every candidate's forecast at `at`: the choice combines the ones it chose.
        return model.combine_forecasts({c: made[run, at] for c, run in runs.items()})


def _reusable(model: CvChooser, horizon: int) -> bool:
    """Whether a backtest can make `model`'s forecasts from its candidates' own runs: it is
    trained for the backtest's horizon and names candidates it knows (else it is fitted as
    any model, and says what is wrong)."""
    known = all(c in model.registry and c != model.name for c in model.candidates)
    return model.horizon == horizon and bool(model.candidates) and known


def _auto_factory(factory: Callable[..., Forecaster], horizon: int) -> Callable[[], CvChooser]:
    def make() -> CvChooser:
        return cast("CvChooser", trained_for(factory(), horizon))

    return make


def _progress(console: Console | None, show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not show,
    )


Record = Callable[[str, pd.Timestamp, Forecast, float], None]
_Fitted = tuple[Forecast, float]


def _execute(
    plan: _Plan,
    data: SeriesData,
    windows: Mapping[pd.Timestamp, tuple[SeriesData, pd.DataFrame]],
    fits: Mapping[str, list[pd.Timestamp]],
    horizon: int,
    n_jobs: int,
    record: Record,
) -> None:
    """Fit every run on each of its windows (`fits`) and hand each forecast to `record`, in
    this thread.

    The warm-started chains train in a thread of this process (torch leaves the GIL while it
    computes), which then takes over the tasks not yet started; every other (run, window) fit
    is a task for a pool of n_jobs - 1 worker processes. One job: all here, in order.
    """
    jobs = [
        (run, cutoff)
        for cutoff in windows
        for run in plan.runs
        if run not in plan.chained and cutoff in fits[run]
    ]
    chains = [run for run in plan.runs if run in plan.chained]
    workers = min(n_jobs - 1, len(jobs))
    if workers < 1:
        serial = {run: _Chain(plan, run) for run in chains}
        for cutoff, (train, future) in windows.items():
            for run in plan.runs:
                if cutoff not in fits[run]:
                    continue
                if run in serial:
                    record(run, cutoff, *serial[run].step(train, future, horizon))
                else:
                    model = plan.runs[run]()
                    record(run, cutoff, *_fit_predict_window(model, train, future, horizon))
        return

    done: queue.Queue[tuple[str, pd.Timestamp, _Fitted | BaseException]] = queue.Queue()
    stop = threading.Event()
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has threads
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(data, horizon),
    ) as pool:
        futures: dict[Future[_Fitted], tuple[str, pd.Timestamp]] = {}
        for run, cutoff in jobs:
            future = pool.submit(_worker_fit_predict, plan.runs[run](), cutoff)
            futures[future] = (run, cutoff)

            def report(f: Future[_Fitted], key: tuple[str, pd.Timestamp] = (run, cutoff)) -> None:
                if not f.cancelled():
                    error = f.exception()
                    done.put((*key, error if error is not None else f.result()))

            future.add_done_callback(report)

        def chain() -> None:
            try:
                for run in chains:
                    chained = _Chain(plan, run)
                    for cutoff, (train, future) in windows.items():
                        if stop.is_set():
                            return
                        if cutoff not in fits[run]:
                            continue
                        done.put((run, cutoff, chained.step(train, future, horizon)))
                # Done with the chains: take over the tasks no worker has started yet.
                for future, (run, cutoff) in reversed(list(futures.items())):
                    if stop.is_set():
                        return
                    if future.cancel():
                        train, ahead = windows[cutoff]
                        model = plan.runs[run]()
                        done.put((run, cutoff, _fit_predict_window(model, train, ahead, horizon)))
            except BaseException as error:  # handed to the main thread, which raises it
                done.put(("", pd.Timestamp(0), error))

        thread = threading.Thread(target=chain, name="backtest-chain", daemon=True)
        thread.start()
        try:
            for _ in range(len(jobs) + sum(len(fits[run]) for run in chains)):
                run, cutoff, outcome = done.get()
                if isinstance(outcome, BaseException):
                    raise outcome
                record(run, cutoff, *outcome)
            thread.join()
        finally:
            # On an error the chain stops at its next window and no queued task starts.
            stop.set()
            for future in futures:
                future.cancel()


class _Chain:
    """A chained run's one model, window after window: fitted on its first window and on every
    `refit_every`-th after it if it is forwarded (on every window if not), warm-started if it
    is warm, and forwarded to the windows in between."""

    def __init__(self, plan: _Plan, run: str) -> None:
        self.model = plan.runs[run]()
        if run in plan.warm:
            self.model.warm_start = True  # type: ignore[attr-defined]
        self.every = plan.refit_every if run in plan.forwarded else 1
        self.windows = 0

    def step(self, train: SeriesData, future: pd.DataFrame, horizon: int) -> _Fitted:
        refit = self.windows % self.every == 0
        self.windows += 1
        if refit:
            return _fit_predict_window(self.model, train, future, horizon)
        started = time.thread_time()
        forwarded = cast(Forwardable, self.model).forward(train)
        forecast = cast(Forecaster, forwarded).predict(horizon, future.drop(columns="step"))
        return forecast, time.thread_time() - started


def _fit_predict_window(
    model: Forecaster, train: SeriesData, future: pd.DataFrame, horizon: int
) -> _Fitted:
    """The forecast of `model` fitted on `train` (for `horizon` steps, if it learns a horizon
    and was given none), and the CPU seconds that took."""
    started = time.thread_time()
    model = trained_for(model, horizon)
    forecast = model.fit(train).predict(horizon, future.drop(columns="step"))
    return forecast, time.thread_time() - started


# The panel a worker process backtests on, sent once when the worker starts, and the windows
# cut from it so far (each worker meets each window once per run it fits on it).
_WORKER: dict[str, object] = {}


def _worker_init(data: SeriesData, horizon: int) -> None:
    _WORKER.update(data=data, horizon=horizon, windows={})


def _worker_fit_predict(model: Forecaster, cutoff: pd.Timestamp) -> _Fitted:
    data, horizon = cast(SeriesData, _WORKER["data"]), cast(int, _WORKER["horizon"])
    windows = cast(dict[pd.Timestamp, tuple[SeriesData, pd.DataFrame]], _WORKER["windows"])
    if cutoff not in windows:
        window = _window(data, cutoff, horizon)
        assert window is not None  # the main process only sends windows that have series
        windows[cutoff] = window
    train, future = windows[cutoff]
    return _fit_predict_window(model, train, future, horizon)


def _window(
    data: SeriesData, cutoff: pd.Timestamp, horizon: int
) -> tuple[SeriesData, pd.DataFrame] | None:
    """The training data up to `cutoff` of the series alive at it, and their future rows.

    The future rows hold (unique_id, ds, step) for steps 1..H after each series' last training
    date, with the future exogenous values the data has for them; past a series' end they carry
    its last known values forward, since a model must be given something for every row.
    """
    frame = data.frame
    period = PERIOD[data.freq]
    train = frame[frame[DS] <= cutoff]
    last = train.groupby(ID, sort=True)[DS].max()
    # Weekly series may fall on any weekday, so "has data at the cutoff" means a row in the
    # period that ends at the cutoff.
    alive = last[last > cutoff - period]
    if alive.empty:
        return None
    train = train[train[ID].isin(alive.index)].reset_index(drop=True)
    steps = np.arange(1, horizon + 1)
    future = pd.DataFrame(
        {
            ID: np.repeat(alive.index.to_numpy(), horizon),
            DS: (alive.to_numpy()[:, None] + steps[None, :] * period.to_timedelta64()).ravel(),
            "step": np.tile(steps, len(alive)),
        }
    )
    future[DS] = future[DS].astype("datetime64[ns]")
    exog = list(data.future_exog)
    if exog:
        future = future.merge(frame[[ID, DS, *exog]], on=[ID, DS], how="left")
        last_known = train.groupby(ID, sort=True)[exog].last()
        for col in exog:
            filled = future.groupby(ID, sort=False)[col].ffill()
            future[col] = filled.fillna(future[ID].map(last_known[col]))
    window = SeriesData(
        frame=train, freq=data.freq, future_exog=data.future_exog, static_cols=data.static_cols
    )
    return window, future


def _score(
    predicted: pd.DataFrame,
    future: pd.DataFrame,
    actuals: pd.DataFrame,
    spec: BacktestSpec,
    model: str,
) -> pd.DataFrame:
    """Steps G+1..H of `predicted`, joined to their actuals; rows without an actual are dropped."""
    expected = future[[ID, DS, "step"]]
    joined = expected.merge(predicted, on=[ID, DS], how="left", validate="one_to_one")
    if len(predicted) != len(expected) or joined["y_hat"].isna().any():
        raise RuntimeError(
            f"Model {model!r} did not return exactly one forecast per series and step "
            f"({len(predicted)} rows for {len(expected)})."
        )
    values = joined[["y_hat", *QUANTILE_FIELDS]].to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise RuntimeError(f"Model {model!r} returned a negative or non-finite forecast.")
    scored = joined[joined["step"] > spec.gap].merge(actuals, on=[ID, DS], how="inner")
    return scored.drop(columns="step")


def select_per_series(result: BacktestResult, metric: str = "mase") -> pd.DataFrame:
    """Forecast rows of a "best" pseudo-model that picks, per series, the model that did best.

    Honest by construction: the choice for window k uses only windows before k (the mean
    per-window MASE, or WAPE, of each model on that series), so "best" has no forecasts for the
    first window and is scored on windows 2..N only. A window whose scale is 0 (a series that
    repeats itself exactly, or sold nothing) is compared on plain MAE, which ranks models on one
    series the same way. Ties go to the first model in the order they were run. Returns rows
    shaped like `result.forecasts` with model "best" and a `chosen` column naming the model used.
    """
    if metric not in ("mase", "wape"):
        raise BacktestError(f"Select by 'mase' or 'wape', not {metric!r}.")
    fc = result.forecasts
    err = fc.assign(abs_err=(fc[Y] - fc["y_hat"]).abs(), abs_y=fc[Y].abs())
    per_window = err.groupby(["model", ID, CUTOFF], sort=True)[["abs_err", "abs_y"]].agg(
        {"abs_err": "mean", "abs_y": "mean"}
    )
    per_window = per_window.reset_index()
    if metric == "mase":
        per_window = per_window.merge(result.scales, on=[ID, CUTOFF], how="left")
        denom = per_window["scale"]
    else:
        denom = per_window["abs_y"]
    per_window["score"] = per_window["abs_err"] / denom.where(denom > 0, 1.0)
    order = {name: i for i, name in enumerate(result.models)}
    chosen_parts: list[pd.DataFrame] = []
    for cutoff in result.cutoffs[1:]:
        earlier = per_window[per_window[CUTOFF] < cutoff]
        mean = earlier.groupby([ID, "model"], sort=True)["score"].mean().reset_index()
        mean["rank"] = mean["model"].map(order)
        best = mean.sort_values([ID, "score", "rank"], kind="stable").drop_duplicates(ID)
        chosen_parts.append(best[[ID, "model"]].assign(**{CUTOFF: cutoff}))
    if not chosen_parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "chosen"])
    chosen = pd.concat(chosen_parts, ignore_index=True)
    picked = fc.merge(chosen, on=[ID, CUTOFF, "model"], how="inner")
    picked = picked.assign(chosen=picked["model"], model=BEST)
    return picked[[*FORECAST_COLUMNS, "chosen"]].reset_index(drop=True)


def selection_metrics(result: BacktestResult, metric: str = "mase") -> pd.DataFrame | None:
    """Per-series choice scored against every model on the same windows (2..N).

    `select_per_series` can only be scored from the second window on, so its figures are set
    beside each model's on exactly those rows; None when there is nothing to choose between (one
    model or one window).
    """
    if len(result.models) < 2 or len(result.cutoffs) < 2:
        return None
    best = select_per_series(result, metric)
    later = result.forecasts[result.forecasts[CUTOFF] >= result.cutoffs[1]]
    rows = pd.concat([later, best.drop(columns="chosen")], ignore_index=True)
    table = evaluate(rows, result.scales)
    order = [name for name in [*result.models, BEST] if name in table.index]
    chosen = best.drop_duplicates([ID, CUTOFF])["chosen"].value_counts()
    table = table.reindex(order)
    table["chosen"] = [int(chosen.get(name, 0)) if name != BEST else None for name in order]
    return table
