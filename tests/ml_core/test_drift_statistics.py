"""The drift test's statistics on a segment panel drawn from a known gamma-Poisson demand: a
shift that starts the day a promotion ends is flagged within the week (the recent level is read
off the days priced as the window is), and the promotion ending alone raises nothing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ml_core.monitoring.drift import scan
from ml_core.monitoring.segments import SegmentPanel

CATEGORIES = ("Tents", "Socks", "Jackets", "Cookware", "Coolers", "Boots", "Hats", "Gloves")
LOCATIONS = ("S001", "S002", "ONLINE")
DAYS = pd.date_range("2024-01-01", periods=760, freq="D")
SHIFT = 740  # the day the shift starts (and the promotion before it ends)
PROMO_LIFT = 0.16 * 3.0  # log-lift of a 16% discount at an elasticity of -3
SKUS = 20  # SKUs per segment


def _panel(shift: float, *, base: float = 40.0, seed: int = 0) -> SegmentPanel:
    """Tents, Socks, ... at two stores and online over 760 days: a yearly season, a weekend
    lift, a week on promotion (16% off) every 13 weeks in each category, and gamma-Poisson
    demand per SKU; Tents had a promotion the six days before SHIFT and its demand is multiplied by
    `shift` from SHIFT on. Every SKU is always on the shelf."""
    rng = np.random.default_rng(seed)
    f, t = len(CATEGORIES) * len(LOCATIONS), len(DAYS)
    category = np.repeat(np.array(CATEGORIES, dtype=object), len(LOCATIONS))
    location = np.tile(np.array(LOCATIONS, dtype=object), len(CATEGORIES))
    peak = 30 * np.arange(f)[:, None]  # each segment's season peaks on its own day
    season = 1 + 0.3 * np.cos(2 * np.pi * (DAYS.day_of_year.to_numpy() - peak) / 365.25)
    weekend = np.where(DAYS.day_of_week.to_numpy() >= 5, 1.3, 1.0)
    promo = np.zeros((f, t))
    for c in range(len(CATEGORIES)):
        for first in range(10 * c + 20, t, 91):
            promo[c * len(LOCATIONS) : (c + 1) * len(LOCATIONS), first : first + 7] = 1.0
    tents = category == "Tents"
    promo[tents, SHIFT - 6 : SHIFT] = 1.0
    promo[tents, SHIFT:] = 0.0
    log_price = -0.16 * promo
    mean = base * season * weekend * np.exp(PROMO_LIFT * promo)
    mean[tents, SHIFT:] *= shift
    # Each segment sums SKUS series, each with its own day-level gamma noise (shape 4).
    shape = 4.0 * SKUS
    units = rng.poisson(mean * rng.gamma(shape, 1 / shape, size=(f, t))).astype(float)
    return SegmentPanel(
        days=DAYS,
        category=category,
        location=location,
        online=location == "ONLINE",
        values={"demand": units, "stockouts": np.zeros((f, t))},
        availability=np.ones((f, t)),
        sold=units,
        off_shelf=np.zeros((f, t)),
        listed=np.full((f, t), float(SKUS)),
        log_price=log_price,
        promo=promo,
        launched=np.full((f, t), 10.0),
    )


def _first_day(offset: int) -> dt.date:
    return DAYS[SHIFT + offset].date()


def test_a_shift_the_day_a_promotion_ends_is_flagged_within_the_week() -> None:
    findings = scan(_panel(1.4), _first_day(0), _first_day(7))
    tents = [f for f in findings if f.segment == {"category": "Tents"}]
    assert tents, "a +40% shift in a 120-unit-a-day category was not flagged"
    first = min(tents, key=lambda f: f.as_of)
    assert (first.as_of - _first_day(0)).days <= 7
    assert first.effect > 0.2 and first.feature == "demand"
    assert {f.segment["category"] for f in findings} == {"Tents"}


def test_a_promotion_ending_is_not_drift() -> None:
    assert scan(_panel(1.0), _first_day(0), _first_day(19)) == []
