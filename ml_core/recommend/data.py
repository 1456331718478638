"""Load any implicit-feedback CSV (one row per interaction) for `aisle recommend eval`.

Evaluators bring their own files with their own column names; this module maps them onto
user_id / item_id / timestamp / weight, checks every value a model will read, and reports each
problem as a `DataFileError` with one sentence naming the file and the column or row. Columns not
named are ignored: a rating column is just another column, so ratings count as implicit feedback
(every row weighs 1) unless it is named as the weight column.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.recommend.metrics import ITEM, USER
from retail.errors import DataFileError

TIME, WEIGHT = "timestamp", "weight"


@dataclass(frozen=True, slots=True)
class InteractionColumns:
    """Which columns of the file hold what. A `time` of None reads "timestamp" if the file has
    it (and no time otherwise); a named time column must exist. `weight` None: every row is 1."""

    user: str = USER
    item: str = ITEM
    time: str | None = None
    weight: str | None = None


def load_interactions_csv(path: Path | str, columns: InteractionColumns) -> pd.DataFrame:
    """user_id and item_id (text), weight (float, >= 0) and, when there is one, timestamp.

    Timestamps may be dates or date-times in any one format pandas reads (time zones are
    converted to UTC), or numbers, read as Unix seconds (MovieLens' convention).
    """
    path = Path(path)
    named = [columns.user, columns.item, columns.time, columns.weight]
    given = [c for c in named if c is not None]
    duplicated = sorted({c for c in given if given.count(c) > 1})
    if duplicated:
        raise DataFileError(f"Column {duplicated[0]!r} is named for two roles.")
    header = _header(path)
    time_col = columns.time
    if time_col is None and TIME in header and TIME not in given:
        time_col = TIME
    wanted = [c for c in (columns.user, columns.item, time_col, columns.weight) if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        shown = ", ".join(map(str, header[:12])) + (
            f" and {len(header) - 12} more" if len(header) > 12 else ""
        )
        raise DataFileError(f"{path.name} has no column {missing[0]!r}; it has: {shown}.")
    text = [columns.user, columns.item]
    try:
        raw = pd.read_csv(path, usecols=wanted, dtype=dict.fromkeys(text, str))
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(f"Data file {path} is not a readable CSV file ({exc}).") from None
    if raw.empty:
        raise DataFileError(f"Data file {path} has a header but no rows.")
    raw = raw.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            USER: _ids(raw[columns.user], path.name, columns.user),
            ITEM: _ids(raw[columns.item], path.name, columns.item),
        }
    )
    frame[WEIGHT] = (
        _weights(raw[columns.weight], path.name, columns.weight)
        if columns.weight is not None
        else 1.0
    )
    if time_col is not None:
        frame[TIME] = _times(raw[time_col], path.name, time_col)
    return frame


def _header(path: Path) -> pd.Index:
    if not path.is_file():
        raise DataFileError(f"Data file {path} does not exist.")
    try:
        return pd.read_csv(path, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise DataFileError(f"Data file {path} is empty.") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(f"Data file {path} is not a readable CSV file ({exc}).") from None


def _row(mask: pd.Series | np.ndarray) -> int:
    """The file line of the first True in `mask` (line 1 is the header)."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 2


def _ids(col: pd.Series, name: str, label: str) -> np.ndarray:
    values = col.str.strip()
    empty = values.isna() | (values == "")
    if empty.any():
        raise DataFileError(f"{name} row {_row(empty)}: column {label!r} is empty.")
    return values.to_numpy(dtype=str)


def _weights(col: pd.Series, name: str, label: str) -> np.ndarray:
    if col.isna().any():
        raise DataFileError(f"{name} row {_row(col.isna())}: column {label!r} is empty.")
    values = pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataFileError(
            f"{name} row {_row(bad)}: {str(col[bad].iloc[0])!r} in column {label!r} is not a "
            f"weight (a number at least 0)."
        )
    return values


def _times(col: pd.Series, name: str, label: str) -> np.ndarray:
    if col.isna().any():
        raise DataFileError(f"{name} row {_row(col.isna())}: column {label!r} is empty.")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        parsed = pd.to_datetime(col, unit="s", utc=True, errors="coerce")
    else:
        with warnings.catch_warnings():
            # Without one format for every row pandas warns and parses row by row; a row that
            # is still not a time is reported below, so the warning adds nothing.
            warnings.simplefilter("ignore", UserWarning)
            try:
                parsed = pd.to_datetime(col, utc=True, errors="coerce")
            except (ValueError, TypeError, OverflowError):
                parsed = pd.Series(pd.NaT, index=col.index)
    bad = parsed.isna()
    if bad.any():
        raise DataFileError(
            f"{name} row {_row(bad)}: {str(col[bad].iloc[0])!r} in column {label!r} is not a time."
        )
    return parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
