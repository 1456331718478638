"""Load any long-format CSV of time series into the `SeriesData` every forecaster consumes.

Evaluators bring their own data with their own column names; this module maps them onto
unique_id / ds / y, checks every value the models will read, and turns each series into a regular
daily or weekly grid. Every problem is a `DataFileError` with one sentence naming the file and the
column or row, so the CLI can report it without a stack trace.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.forecasting.base import DS, ID, Freq, SeriesData, Y
from retail.errors import DataFileError

FREQS: tuple[Freq, ...] = ("D", "W")
# One period of each frequency. Weekly is a plain 7-day step, never pandas' "W" (which means
# W-SUN): Walmart's weeks end on Fridays and must keep their weekday.
PERIOD: dict[str, pd.Timedelta] = {"D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7)}
# The seasonal cycle each frequency carries in retail: day of week, week of year.
SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52}


def check_freq(freq: str) -> Freq:
    """`freq` itself if it is one Aisle forecasts at, else a one-sentence `DataFileError`."""
    if freq not in FREQS:
        raise DataFileError(f"Unknown frequency {freq!r}: use D (daily) or W (weekly).")
    return freq


def load_series_csv(
    path: Path | str,
    *,
    freq: str,
    id_col: str = ID,
    time_col: str = DS,
    target_col: str = Y,
    future_exog: Sequence[str] = (),
    static_cols: Sequence[str] = (),
) -> SeriesData:
    """Read a long CSV (one row per series and period) into a regular, gap-free `SeriesData`.

    The id, time and target columns are renamed to unique_id, ds and y; columns not named are
    ignored. Each series is laid on a regular grid (one day, or seven days keeping the weekday of
    its first date) from its first to its last observation:
    - a period missing inside that span gets y = 0, because a retail series that has no row for a
      period sold nothing in it; a blank target cell inside the span is 0 too (its covariates
      are kept), and rows before a series' first or after its last target value are dropped;
    - future exogenous columns must be numeric or boolean (booleans become 0/1); their blanks and
      the missing periods are filled forward within the series, and blanks before a series' first
      value get 0 (for markdowns and promotions a blank means none);
    - static columns keep the series' one value (a series with two values is an error).
    Series may start late and end early; negative targets (net returns) are kept as they are.
    """
    freq_ = check_freq(freq)
    path = Path(path)
    name = path.name
    exog, statics = list(future_exog), list(static_cols)
    named = [id_col, time_col, target_col, *exog, *statics]
    duplicated = sorted({c for c in named if named.count(c) > 1})
    if duplicated:
        raise DataFileError(f"Column {duplicated[0]!r} is named twice in the arguments.")
    raw = _read(path, named, text=[id_col, time_col, *statics])

    ids = raw[id_col]
    if ids.isna().any():
        row = _row(ids.isna())
        raise DataFileError(f"{name} row {row}: column {id_col!r} is empty.")
    times = _parse_times(raw[time_col], name, time_col)
    target = _parse_numbers(raw[target_col], name, target_col)

    frame = pd.DataFrame(
        {ID: ids.astype(str).to_numpy(), DS: times.to_numpy(), Y: target.to_numpy()},
        index=raw.index,
    )
    for col in exog:
        frame[col] = _parse_exog(raw[col], name, col)
    for col in statics:
        frame[col] = _parse_static(raw[col])

    dup = frame.duplicated([ID, DS], keep="first")
    if dup.any():
        row = _row(dup)
        key = frame.loc[dup].iloc[0]
        raise DataFileError(
            f"{name} row {row}: series {key[ID]!r} already has a row for "
            f"{pd.Timestamp(key[DS]).date()}; each series needs one row per period."
        )
    frame = frame.sort_values([ID, DS], kind="stable")
    _check_grid(frame, name, freq_)
    for col in statics:
        _check_static(frame, name, col)
    frame = _fill_gaps(frame, name, freq_, exog, statics)
    return SeriesData(frame=frame, freq=freq_, future_exog=tuple(exog), static_cols=tuple(statics))


def _row(mask: pd.Series) -> int:
    """The file line of the first True in `mask` (line 1 is the header)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 2


def _read(path: Path, named: list[str], text: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(f"Data file {path} does not exist.")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise DataFileError(f"Data file {path} is empty.") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(f"Data file {path} is not a readable CSV file ({exc}).") from None
    missing = [c for c in named if c not in header]
    if missing:
        columns = ", ".join(map(str, header[:12]))
        if len(header) > 12:
            columns += f" and {len(header) - 12} more"
        raise DataFileError(f"{path.name} has no column {missing[0]!r}; it has: {columns}.")
    try:
        # Ids, dates and attributes stay text (an id "007" is not 7); numbers are parsed by
        # pandas' fast path, and a column it cannot read as numbers is checked row by row.
        raw = pd.read_csv(path, usecols=named, dtype=dict.fromkeys(text, str))
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(f"Data file {path} is not a readable CSV file ({exc}).") from None
    if raw.empty:
        raise DataFileError(f"Data file {path} has a header but no rows.")
    return raw.reset_index(drop=True)


def _parse_times(col: pd.Series, name: str, label: str) -> pd.Series:
    if col.isna().any():
        raise DataFileError(f"{name} row {_row(col.isna())}: column {label!r} is empty.")
    try:
        # One format for the whole column, inferred from its first value: a row written in another
        # format is reported rather than silently read as a different day.
        with warnings.catch_warnings():
            # When no format fits the first value pandas warns and parses row by row; a row
            # that is still not a date is reported below, so the warning adds nothing.
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(col, errors="coerce")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series(pd.NaT, index=col.index)
    bad = parsed.isna()
    if bad.any():
        row = _row(bad)
        raise DataFileError(
            f"{name} row {row}: {col[bad].iloc[0]!r} in column {label!r} is not a date."
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        # Periods are calendar days; the zone only shifts them and would break the grid.
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _parse_numbers(col: pd.Series, name: str, label: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        values = col.astype(float)
        bad = values.notna() & ~np.isfinite(values.to_numpy())
    else:
        values = pd.to_numeric(col, errors="coerce").astype(float)
        bad = (values.isna() & col.notna()) | (values.notna() & ~np.isfinite(values.to_numpy()))
    if bad.any():
        raise DataFileError(
            f"{name} row {_row(bad)}: {col[bad].iloc[0]!r} in column {label!r} is not a number."
        )
    return values


def _parse_exog(col: pd.Series, name: str, label: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return _parse_numbers(col, name, label)
    lowered = col.astype(str).where(col.notna()).str.strip().str.lower()
    booleans = {"true": 1.0, "false": 0.0}
    if lowered.dropna().isin(list(booleans)).all() and lowered.notna().any():
        return lowered.map(booleans).astype(float)
    return _parse_numbers(col, name, label)


def _parse_static(col: pd.Series) -> np.ndarray:
    """Numbers when every value is one (a store's size), otherwise the text (a category)."""
    numbers = pd.to_numeric(col, errors="coerce")
    if numbers.notna().sum() == col.notna().sum():
        return numbers.to_numpy(dtype=float)
    return col.to_numpy()


def _check_grid(frame: pd.DataFrame, name: str, freq: Freq) -> None:
    """Every date of a series must sit a whole number of periods after its first date."""
    first = frame.groupby(ID, sort=False)[DS].transform("min")
    offset = (frame[DS] - first).to_numpy()
    period = PERIOD[freq].to_timedelta64()
    off_grid = offset % period != np.timedelta64(0, "ns")
    if off_grid.any():
        bad = frame.loc[off_grid].iloc[0]
        unit = "day" if freq == "D" else "7-day step"
        raise DataFileError(
            f"{name}: series {bad[ID]!r} has a row at {pd.Timestamp(bad[DS])} that is not a whole "
            f"{unit} after its first date, so it is not {'daily' if freq == 'D' else 'weekly'}."
        )


def _check_static(frame: pd.DataFrame, name: str, col: str) -> None:
    counts = frame.groupby(ID, sort=False)[col].nunique(dropna=True)
    varying = counts[counts > 1]
    if not varying.empty:
        raise DataFileError(
            f"{name}: static column {col!r} takes more than one value in series "
            f"{varying.index[0]!r}; a static column must be constant within each series."
        )


def _fill_gaps(
    frame: pd.DataFrame, name: str, freq: Freq, exog: list[str], statics: list[str]
) -> pd.DataFrame:
    """Every series on its full grid, first to last observation, built in one vectorised pass."""
    blanks = frame[Y].isna()
    observed = frame.loc[~blanks] if blanks.any() else frame
    if observed.empty:
        raise DataFileError(f"{name} has no row with a target value.")
    period = PERIOD[freq]
    # The span runs between observed targets: rows past the last one (future periods that only
    # carry covariates) are left out rather than read as zero sales.
    span = observed.groupby(ID, sort=True)[DS].agg(["min", "max"])
    steps = ((span["max"] - span["min"]) // period).astype(np.int64).to_numpy() + 1
    if int(steps.sum()) == len(frame) and not blanks.any():
        grid = frame.reset_index(drop=True)
    else:
        series = np.repeat(span.index.to_numpy(), steps)
        starts = np.repeat(span["min"].to_numpy(), steps)
        within = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
        full = pd.DataFrame({ID: series, DS: starts + within * period.to_timedelta64()})
        grid = full.merge(frame, on=[ID, DS], how="left", validate="one_to_one")
        grid[Y] = grid[Y].fillna(0.0)
    by_series = grid.groupby(ID, sort=False)
    for col in exog:
        if grid[col].isna().any():
            # Forward only: filling backward would carry values from after a backtest's cutoff
            # into its training rows.
            grid[col] = by_series[col].ffill().fillna(0.0)
    for col in statics:
        if grid[col].isna().any():
            grid[col] = grid.groupby(ID, sort=False)[col].transform("first")
    return grid.sort_values([ID, DS], kind="stable").reset_index(drop=True)
