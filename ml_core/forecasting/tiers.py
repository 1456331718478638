"""Which series drift fast: the measurable property behind tiered retraining schedules.

A series is fast-drifting when its level has moved: the mean of its last `recent_days` days
differs from the mean of the `reference_days` days before them by more than `level_shift` of
that earlier mean. Windows of whole weeks cancel the weekly pattern; a series selling less than
`min_daily_units` a day in the reference window is too sparse for a level to be read and counts as
stable. Retraining jobs (`evals.jobs`) refit weekly while fast-drifting series are in the panel,
monthly otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ml_core.forecasting.base import DS, ID, Y

FAST, STABLE = "fast", "stable"


class DriftRule(BaseModel):
    """The windows and thresholds of "fast-drifting" (the `drift` section of `evals/jobs.yaml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_days: int = Field(default=28, ge=7)
    reference_days: int = Field(default=84, ge=7)
    level_shift: float = Field(default=0.3, gt=0)
    min_daily_units: float = Field(default=1.0, ge=0)


def level_shift(frame: pd.DataFrame, rule: DriftRule) -> pd.DataFrame:
    """Per series (indexed by unique_id): its recent and reference daily means, the relative
    shift between them, and its tier (`fast` or `stable`)."""
    end = frame[DS].max()
    recent_from = end - pd.Timedelta(days=rule.recent_days - 1)
    reference_from = recent_from - pd.Timedelta(days=rule.reference_days)
    in_recent = frame[DS] >= recent_from
    in_reference = (frame[DS] >= reference_from) & ~in_recent
    # Days a series has no row for (it started late) are not zeros: each mean is over its rows.
    recent = frame.loc[in_recent].groupby(ID, sort=True)[Y].mean()
    reference = frame.loc[in_reference].groupby(ID, sort=True)[Y].mean()
    table = pd.DataFrame({"recent": recent, "reference": reference}).reindex(
        np.sort(frame[ID].unique())
    )
    readable = table["reference"] >= rule.min_daily_units
    table["shift"] = (table["recent"] / table["reference"] - 1.0).where(readable)
    fast = table["shift"].abs() > rule.level_shift
    table["tier"] = np.where(fast, FAST, STABLE)
    return table.rename_axis(ID)
