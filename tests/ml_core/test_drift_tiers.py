"""Fast-drifting series: a level shift of the recent weeks against the weeks before them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.forecasting.tiers import FAST, STABLE, DriftRule, level_shift


def _series(uid: str, values: np.ndarray, start: str = "2026-01-01") -> pd.DataFrame:
    days = pd.date_range(start, periods=len(values), freq="D")
    return pd.DataFrame({"unique_id": uid, "ds": days, "y": values.astype(float)})


def test_a_level_shift_beyond_the_rule_is_fast_and_the_rest_stable() -> None:
    weekly = np.tile([4, 5, 6, 5, 4, 8, 9], 16)  # 112 days, a weekly pattern around 5.9/day
    shifted = weekly.astype(float)
    shifted[-28:] *= 1.5
    slight = weekly.copy()
    slight[-28:] = slight[-28:] + 1  # about +17%: under the 30% rule
    sparse = np.zeros(112)
    sparse[[10, 50, 100, 105]] = 3  # a jump from almost nothing reads as noise, not a level
    frame = pd.concat(
        [
            _series("a-shifted", shifted),
            _series("b-steady", weekly),
            _series("c-slight", slight),
            _series("d-sparse", sparse),
            # Starts late: its reference mean is over the days it has, not padded with zeros.
            _series("e-late", weekly[-60:], start="2026-02-22"),
        ],
        ignore_index=True,
    )
    table = level_shift(frame, DriftRule())
    assert table["tier"].to_dict() == {
        "a-shifted": FAST,
        "b-steady": STABLE,
        "c-slight": STABLE,
        "d-sparse": STABLE,
        "e-late": STABLE,
    }
    assert table.loc["a-shifted", "shift"] == pytest.approx(0.5)
    assert np.isnan(table.loc["d-sparse", "shift"])
    # A stricter rule catches the slight shift too.
    stricter = level_shift(frame, DriftRule(level_shift=0.1))
    assert stricter.loc["c-slight", "tier"] == FAST
