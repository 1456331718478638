"""Load any sales CSV (item, date, units, price) into the panel the elasticity model reads.

The file is read and checked by the forecasting loader (`load_series_csv`: missing columns,
unparseable dates, non-numbers, duplicate rows, each a one-sentence `DataFileError`), laid on a
regular daily or weekly grid (a missing day sold nothing, at the price carried forward), then
checked for what prices need: every price positive and no negative units.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.forecasting.base import DS, ID, Y
from ml_core.forecasting.data import load_series_csv
from ml_core.pricing.elasticity import GROUP, ITEM, LOG_PRICE, PERIOD, QTY
from retail.errors import DataFileError


def load_elasticity_csv(
    path: Path | str,
    *,
    id_col: str,
    time_col: str,
    qty_col: str,
    price_col: str,
    group_col: str | None = None,
    controls: Sequence[str] = (),
    item_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """The panel (item, group, period, qty, log_price, controls, item columns) of a long sales
    CSV, at the file's own frequency: daily rows keep the sharp price changes at promotion starts
    and ends. Item columns (a brand's tier) hold one value per item, text or numbers."""
    path = Path(path)
    series = load_series_csv(
        path,
        freq=_infer_freq(path, id_col, time_col),
        id_col=id_col,
        time_col=time_col,
        target_col=qty_col,
        future_exog=[price_col, *controls],
        static_cols=[*([group_col] if group_col else []), *item_cols],
    )
    frame = series.frame
    price = frame[price_col].to_numpy(dtype=float)
    if (price <= 0).any():
        bad = frame.iloc[int(np.flatnonzero(price <= 0)[0])]
        raise DataFileError(
            f"{path.name}: item {bad[ID]!r} has price {bad[price_col]:g} on "
            f"{pd.Timestamp(bad[DS]).date()} in column {price_col!r}; prices must be positive."
        )
    if (frame[Y] < 0).any():
        bad = frame[frame[Y] < 0].iloc[0]
        raise DataFileError(
            f"{path.name}: item {bad[ID]!r} has {bad[Y]:g} units on "
            f"{pd.Timestamp(bad[DS]).date()} in column {qty_col!r}; units cannot be negative."
        )
    panel = pd.DataFrame(
        {
            ITEM: frame[ID].astype(str),
            GROUP: frame[group_col].astype(str) if group_col else "all",
            DS: frame[DS],
            QTY: frame[Y].astype(float),
            LOG_PRICE: np.log(price),
            **{c: frame[c].astype(float) for c in controls},
            **{c: frame[c] for c in item_cols},
        }
    )
    return panel.rename(columns={DS: PERIOD})


def _infer_freq(path: Path, id_col: str, time_col: str) -> str:
    """W when every series steps in whole weeks, else D. A file the loader will refuse (no such
    column, bad dates) gets D here and the loader's one-sentence error."""
    try:
        raw = pd.read_csv(path, usecols=[id_col, time_col], dtype=str)
        ds = pd.to_datetime(raw[time_col], errors="coerce", format="mixed")
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return "D"
    steps = (
        pd.DataFrame({"id": raw[id_col], "ds": ds})
        .dropna()
        .drop_duplicates()
        .sort_values(["id", "ds"])
        .groupby("id")["ds"]
        .diff()
        .dropna()
        .dt.days
    )
    return "W" if len(steps) and (steps % 7 == 0).all() else "D"
