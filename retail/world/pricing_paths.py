"""Price histories of the generated world: list-price changes, seasonal markdowns, promotions.

Prices move for reasons a pricing model must untangle: permanent list changes, end-of-season
clearance on seasonal categories and chain promotions (which also lift demand through display,
a confounder the promotion flag lets a model control for). The true elasticities are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retail.store.models import LIST_CHANGE, MARKDOWN
from retail.world.calendar import WorldCalendar
from retail.world.catalog import Catalog

PROMO_DISPLAY_LIFT = 1.15  # demand lift of being featured, on top of the price effect
CROSS_PRICE_ELASTICITY = 0.3  # demand response to the category's price index (substitutes)


def shelf_price(value: float) -> float:
    """Round to a price a store would print: .99 endings above $10, cents below."""
    if value >= 10:
        return float(np.floor(value)) + 0.99
    return round(max(value, 0.5), 2)


@dataclass(slots=True)
class PromotionEvent:
    id: str
    name: str
    start: int  # day index, inclusive
    end: int  # day index, inclusive
    discount: float
    product_indices: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PricePaths:
    """Daily prices per variant, and the product-level demand multiplier they imply."""

    list_price: np.ndarray  # (n_variants, n_days) list price, markdowns included
    promo_discount: np.ndarray  # (n_products, n_days) 0 when not on promotion
    reference_price: np.ndarray  # (n_variants,) the price elasticities are measured against
    changes: list[tuple[int, int, float, str]]  # (variant index, day, new price, reason)
    promotions: list[PromotionEvent]

    def paid_price(self, variant_product: np.ndarray) -> np.ndarray:
        return self.list_price * (1.0 - self.promo_discount[variant_product])


def build_price_paths(
    rng: np.random.Generator,
    catalog: Catalog,
    calendar: WorldCalendar,
    launch_day: np.ndarray,
) -> PricePaths:
    n_days = calendar.n_days
    products = catalog.products
    reference = np.array([v.price for prod in products for v in prod.variants])
    list_price = np.repeat(reference[:, None], n_days, axis=1)
    markdown_starts: set[tuple[int, int]] = set()
    categories = {c.id: c for c in catalog.categories}

    variant_counts = [len(p.variants) for p in products]
    first_variant = np.concatenate([[0], np.cumsum(variant_counts)[:-1]])
    variant_launch = np.repeat(launch_day, variant_counts)
    for p, prod in enumerate(products):
        vs = range(first_variant[p], first_variant[p] + len(prod.variants))
        start = int(launch_day[p])
        # Permanent list-price changes: cost inflation or repositioning, once or twice.
        for _ in range(rng.integers(0, 3)):
            day = int(rng.integers(start + 30, n_days)) if start + 30 < n_days else None
            if day is None:
                continue
            factor = float(rng.choice([0.9, 0.95, 1.05, 1.08, 1.12]))
            for v in vs:
                list_price[v, day:] = shelf_price(list_price[v, day] * factor)
        # Clearance: seasonal lines are marked down 50 days after their season's peak (a day of
        # the calendar year, whatever day the world starts on), then restored.
        category = categories[prod.category_id]
        if category.season_amplitude >= 0.35 and rng.random() < 0.45:
            clearance_doy = (category.season_peak_doy + 50 - 1) % 365 + 1
            for first_day in np.flatnonzero(calendar.day_of_year == clearance_doy):
                begin = int(first_day)
                length = int(rng.integers(21, 36))
                if begin <= start or begin + length >= n_days:
                    continue
                depth = float(rng.choice([0.2, 0.25, 0.3, 0.4]))
                for v in vs:
                    before = float(list_price[v, begin - 1])
                    list_price[v, begin : begin + length] = shelf_price(before * (1 - depth))
                    markdown_starts.add((v, begin))
    changes = _recorded_changes(list_price, variant_launch, markdown_starts)

    promo_discount = np.zeros((len(products), n_days))
    promotions = _chain_promotions(rng, catalog, calendar, launch_day)
    for promo in promotions:
        promo_discount[promo.product_indices, promo.start : promo.end + 1] = promo.discount
    return PricePaths(list_price, promo_discount, reference, changes, promotions)


def _recorded_changes(
    list_price: np.ndarray, variant_launch: np.ndarray, markdown_starts: set[tuple[int, int]]
) -> list[tuple[int, int, float, str]]:
    """The price history a store would have recorded: every day a SKU's price differs from the
    day before, read off the final path, so the history always agrees with the prices charged
    (a later list change can overwrite an earlier one, and one inside a clearance window only
    shows when the window ends)."""
    changes: list[tuple[int, int, float, str]] = []
    moved = list_price[:, 1:] != list_price[:, :-1]
    for v, start in enumerate(variant_launch.tolist()):
        changes.append((v, start, float(list_price[v, start]), "launch"))
        for day in (np.flatnonzero(moved[v, start:]) + start + 1).tolist():
            reason = MARKDOWN if (v, day) in markdown_starts else LIST_CHANGE
            changes.append((v, day, float(list_price[v, day]), reason))
    return changes


def _chain_promotions(
    rng: np.random.Generator,
    catalog: Catalog,
    calendar: WorldCalendar,
    launch_day: np.ndarray,
) -> list[PromotionEvent]:
    """Category promotions every couple of weeks, and a big Black Friday event each year."""
    by_category: dict[str, list[int]] = {}
    for p, prod in enumerate(catalog.products):
        by_category.setdefault(prod.category_id, []).append(p)
    names = {c.id: c.name for c in catalog.categories}
    category_ids = sorted(by_category)
    promotions: list[PromotionEvent] = []
    day = int(rng.integers(3, 12))
    while day < calendar.n_days - 7:
        category = category_ids[int(rng.integers(len(category_ids)))]
        members = [p for p in by_category[category] if launch_day[p] < day]
        length = int(rng.integers(5, 11))
        if members:
            chosen = rng.choice(members, size=max(1, int(len(members) * 0.5)), replace=False)
            discount = float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.3]))
            promotions.append(
                PromotionEvent(
                    id=f"PROMO-{len(promotions) + 1:04d}",
                    name=f"{int(discount * 100)}% off {names[category]}",
                    start=day,
                    end=min(day + length - 1, calendar.n_days - 1),
                    discount=discount,
                    product_indices=sorted(int(p) for p in chosen),
                )
            )
        day += int(rng.integers(8, 20))
    for i, name in enumerate(calendar.holiday_names):
        if name != "Black Friday":
            continue
        eligible = [p for p in range(len(catalog.products)) if launch_day[p] < i]
        chosen = rng.choice(eligible, size=max(1, len(eligible) // 3), replace=False)
        promotions.append(
            PromotionEvent(
                id=f"PROMO-{len(promotions) + 1:04d}",
                name=f"Black Friday {calendar.days[i].year}",
                start=i,
                end=min(i + 3, calendar.n_days - 1),
                discount=0.3,
                product_indices=sorted(int(p) for p in chosen),
            )
        )
    return promotions


def product_price_multiplier(
    paths: PricePaths,
    catalog: Catalog,
    variant_product: np.ndarray,
) -> np.ndarray:
    """(n_products, n_days) demand multiplier from own price, promotion display and rivals' prices.

    Own price acts through the product's true elasticity against its reference price; rivals'
    prices act through the category price index with a positive cross elasticity.
    """
    n_products = len(catalog.products)
    paid = paths.paid_price(variant_product)
    ratio = paid / paths.reference_price[:, None]
    # Product-level price index: the mean ratio over its variants.
    counts = np.bincount(variant_product, minlength=n_products)
    product_ratio = np.zeros((n_products, ratio.shape[1]))
    np.add.at(product_ratio, variant_product, ratio)
    product_ratio /= counts[:, None]
    elasticity = np.array([p.elasticity for p in catalog.products])
    own = product_ratio ** elasticity[:, None]
    display = np.where(paths.promo_discount > 0, PROMO_DISPLAY_LIFT, 1.0)
    category_of = np.array([p.category_id for p in catalog.products])
    cross = np.ones_like(own)
    for category in np.unique(category_of):
        members = np.flatnonzero(category_of == category)
        if len(members) < 2:
            continue
        total = product_ratio[members].sum(axis=0)
        # Each product sees the mean price index of the others in its category.
        others = (total[None, :] - product_ratio[members]) / (len(members) - 1)
        cross[members] = others**CROSS_PRICE_ELASTICITY
    return own * display * cross
