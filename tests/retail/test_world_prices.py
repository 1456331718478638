"""Price paths of the generated world: seasonal clearance falls after each category's season on
the calendar, whatever day the world starts on."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import numpy as np
import pytest

from retail.world.calendar import build_calendar
from retail.world.catalog import generate_catalog
from retail.world.pricing_paths import build_price_paths


@pytest.mark.parametrize("start", [dt.date(2023, 1, 1), dt.date(2023, 11, 17)])
def test_clearance_starts_fifty_days_after_the_category_peak(start: dt.date) -> None:
    catalog = generate_catalog(np.random.default_rng(11), 300)
    calendar = build_calendar(start, 3 * 365)
    paths = build_price_paths(
        np.random.default_rng(12), catalog, calendar, np.zeros(len(catalog.products), dtype=int)
    )
    product_of_variant = [p for p, prod in enumerate(catalog.products) for _ in prod.variants]
    categories = {c.id: c for c in catalog.categories}
    markdowns = [(v, day) for v, day, _, reason in paths.changes if reason == "markdown"]
    assert markdowns, "a 300-product catalogue has seasonal lines that get cleared"
    for variant, day in markdowns:
        category = categories[catalog.products[product_of_variant[variant]].category_id]
        expected = (category.season_peak_doy + 50 - 1) % 365 + 1
        assert calendar.day_of_year[day] == expected
        # Marked down from the day before: a real cut, not a restore.
        assert paths.list_price[variant, day] < paths.list_price[variant, day - 1]


def test_the_recorded_price_history_replays_to_the_prices_charged() -> None:
    catalog = generate_catalog(np.random.default_rng(21), 300)
    calendar = build_calendar(dt.date(2023, 1, 1), 3 * 365)
    launch = np.random.default_rng(22).integers(0, 400, len(catalog.products))
    paths = build_price_paths(np.random.default_rng(23), catalog, calendar, launch)
    replayed = np.full_like(paths.list_price, np.nan)
    for variant, day, price, _ in sorted(paths.changes, key=lambda c: (c[0], c[1])):
        replayed[variant, day:] = price
    variant_launch = np.repeat(launch, [len(p.variants) for p in catalog.products])
    listed = np.arange(calendar.n_days)[None, :] >= variant_launch[:, None]
    np.testing.assert_array_equal(replayed[listed], paths.list_price[listed])
    assert np.isnan(replayed[~listed]).all(), "nothing is recorded before a SKU's launch"
    # Every record is a real change: a store writes a price down when it moves.
    by_variant: dict[int, list[float]] = {}
    for variant, _, price, _ in sorted(paths.changes, key=lambda c: (c[0], c[1])):
        by_variant.setdefault(variant, []).append(price)
    assert all(a != b for prices in by_variant.values() for a, b in pairwise(prices))
    reasons = {reason for *_, reason in paths.changes}
    assert reasons == {"launch", "list_change", "markdown"}
