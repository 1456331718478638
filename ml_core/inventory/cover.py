"""Days of cover: how long a position lasts at a daily demand rate. The policy's decisions and an
edited order at approval (`approvals.purchase_orders`) show the same figure; it lives apart from
the policy so that the approval path does not load the forecasting stack (pandas, scipy.stats)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def days_of_cover(position_after: ArrayLike, daily_rate: ArrayLike) -> NDArray[np.float64]:
    """Days the position after the order lasts at the daily demand rate; inf without demand."""
    rate = np.asarray(daily_rate, dtype=float)
    return np.where(rate > 0, np.asarray(position_after) / np.where(rate > 0, rate, 1.0), np.inf)
