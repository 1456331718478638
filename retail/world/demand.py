"""Daily demand and sales of the generated world, simulated for many series at once.

Expected demand per SKU, location and day is a product of known effects (store size, product
popularity, variant share, yearly and weekly seasonality, holidays, price and promotion, trend,
launch ramp). Realised demand is over-dispersed around it (gamma-Poisson). Sales are realised
demand censored by stock on hand, which a naive store replenishment rule manages, so stock-outs
happen when demand surprises it, as in a real store. The expected demand is the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Gamma-Poisson shape: variance = mu + mu^2 / k; retail SKU-store series are over-dispersed.
DISPERSION_SHAPE = 4.0
_RING = 32  # days of pipeline tracked; lead times are capped below this


@dataclass(slots=True)
class SeriesBlock:
    """Inputs of a block of series (one SKU at one location each)."""

    base: np.ndarray  # (n,) expected units/day before time effects
    product: np.ndarray  # (n,) product index
    category: np.ndarray  # (n,) category index
    online: np.ndarray  # (n,) bool
    review_weekday: np.ndarray  # (n,) day of week the location orders
    lead_mean: np.ndarray  # (n,) supplier lead time, days
    lead_sd: np.ndarray  # (n,)
    case_pack: np.ndarray  # (n,) int
    launch_day: np.ndarray  # (n,) first day on sale


@dataclass(slots=True)
class SimulatedBlock:
    expected: np.ndarray  # (n, days) float32, the oracle's demand
    demand: np.ndarray  # (n, days) int32, realised (uncensored) demand
    sales: np.ndarray  # (n, days) int32, what was sold
    stockout: np.ndarray  # (n, days) bool, demand exceeded stock (sales are censored)
    on_hand: np.ndarray  # (n,) at the end of the last day
    on_order: np.ndarray  # (n,)
    order_up_to: np.ndarray  # (n,) the store's last target level (shelf capacity follows it)


def expected_demand(
    block: SeriesBlock,
    category_time: np.ndarray,
    product_time: np.ndarray,
    store_lift: np.ndarray,
    online_lift: np.ndarray,
) -> np.ndarray:
    """Expected units per series and day; zero before launch and on closed days."""
    channel = np.where(block.online[:, None], online_lift[None, :], store_lift[None, :])
    mu = block.base[:, None] * category_time[block.category] * product_time[block.product] * channel
    return mu.astype(np.float32)


def simulate_block(
    rng: np.random.Generator,
    block: SeriesBlock,
    expected: np.ndarray,
    supply: np.ndarray | None = None,
) -> SimulatedBlock:
    """Demand, censored sales and stock of each series day by day; `supply` (n, days), when
    given, is the share of each day's arriving deliveries that does arrive (a supplier that fails
    to deliver): the rest is lost, and the weekly review orders again."""
    n, days = expected.shape
    gamma = rng.gamma(DISPERSION_SHAPE, 1.0 / DISPERSION_SHAPE, size=(n, days))
    demand = rng.poisson(expected * gamma).astype(np.int32)

    sales = np.zeros((n, days), dtype=np.int32)
    stockout = np.zeros((n, days), dtype=bool)
    pipeline = np.zeros((n, _RING), dtype=np.int64)
    on_hand = np.zeros(n, dtype=np.int64)
    order_up_to = np.zeros(n)
    # The store's planner sees only sales (censored) and orders weekly to cover lead time plus
    # a review week with a fixed safety factor: decent on average, caught out by spikes.
    cover_days = block.lead_mean + 7.0
    launch = block.launch_day
    # Stock for launch: about three weeks of the first month's expected demand.
    first_month = np.array(
        [expected[i, d : d + 28].mean() if d < days else 0.0 for i, d in enumerate(launch)]
    )
    launch_stock = np.ceil(first_month * 21).astype(np.int64)
    history = np.zeros((n, 28))
    rows = np.arange(n)
    for t in range(days):
        slot = t % _RING
        arriving = pipeline[:, slot]
        if supply is not None:
            arriving = np.floor(arriving * supply[:, t]).astype(np.int64)
        on_hand += arriving
        pipeline[:, slot] = 0
        launching = block.launch_day == t
        on_hand[launching] += launch_stock[launching]

        sold = np.minimum(demand[:, t], on_hand)
        stockout[:, t] = demand[:, t] > on_hand
        on_hand -= sold
        sales[:, t] = sold
        history[:, t % 28] = sold

        reviewing = (block.review_weekday == t % 7) & (t >= block.launch_day + 7)
        if reviewing.any():
            rate = history[reviewing].mean(axis=1)
            target = np.ceil(rate * cover_days[reviewing] * 1.3 + 2)
            order_up_to[reviewing] = target
            position = on_hand[reviewing] + pipeline[reviewing].sum(axis=1)
            need = np.maximum(target - position, 0)
            pack = block.case_pack[reviewing]
            quantity = (np.ceil(need / pack) * pack).astype(np.int64)
            lead = np.clip(
                np.rint(rng.normal(block.lead_mean[reviewing], block.lead_sd[reviewing])),
                1,
                _RING - 2,
            ).astype(np.int64)
            idx = rows[reviewing]
            np.add.at(pipeline, (idx, (t + lead) % _RING), quantity)
    return SimulatedBlock(
        expected=expected,
        demand=demand,
        sales=sales,
        stockout=stockout,
        on_hand=on_hand,
        on_order=pipeline.sum(axis=1),
        order_up_to=order_up_to,
    )


def category_time_effects(
    season_peak_doy: np.ndarray,
    season_amplitude: np.ndarray,
    weekend_lift: np.ndarray,
    day_of_year: np.ndarray,
    day_of_week: np.ndarray,
) -> np.ndarray:
    """(n_categories, n_days) yearly x weekly seasonality; the yearly term averages to one."""
    phase = 2 * np.pi * (day_of_year[None, :] - season_peak_doy[:, None]) / 365.25
    yearly = 1.0 + season_amplitude[:, None] * np.cos(phase)
    weekend = (day_of_week >= 5)[None, :]
    # Normalise the weekly profile so a week's mean stays one and base rates stay readable.
    weekly = np.where(weekend, weekend_lift[:, None], 1.0)
    weekly = weekly / ((5 + 2 * weekend_lift) / 7)[:, None]
    return yearly * weekly


def product_time_effects(
    price_multiplier: np.ndarray,
    trend: np.ndarray,
    launch_day: np.ndarray,
) -> np.ndarray:
    """(n_products, n_days) price/promotion effect x trend x launch ramp (zero before launch)."""
    n_days = price_multiplier.shape[1]
    t = np.arange(n_days)[None, :]
    growth = np.exp(trend[:, None] * t / 365.0)
    since = t - launch_day[:, None]
    # New products build awareness over a few weeks rather than selling at full rate on day one.
    ramp = np.where(since >= 0, 1.0 - 0.7 * np.exp(-np.maximum(since, 0) / 21.0), 0.0)
    return price_multiplier * growth * ramp
