"""`aisle data seed`: build the generated retail world and write it to the store and to var/world.

The world is a pure function of (scale, seed, last day of sales, generator version). The
database gets what a retailer would see (catalogue, stores, stock, censored sales, prices,
orders, sessions); the world directory gets what only the generator knows (expected demand,
true elasticities, latent preferences), so evals can measure the gap to the best possible answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import Session

from retail.clock import TODAY_KEY, last_sales_day, recorded_today, world_today
from retail.errors import AisleError
from retail.schemas import review_rating
from retail.store.bulk import copy_frame, table
from retail.store.models import DatasetLoad
from retail.world.calendar import WorldCalendar, build_calendar
from retail.world.catalog import Catalog, generate_catalog, generate_reviews
from retail.world.demand import (
    SeriesBlock,
    category_time_effects,
    expected_demand,
    product_time_effects,
    simulate_block,
)
from retail.world.geography import STORE_CITIES
from retail.world.policies import STORE_POLICIES
from retail.world.pricing_paths import (
    CROSS_PRICE_ELASTICITY,
    PROMO_DISPLAY_LIFT,
    PricePaths,
    build_price_paths,
    product_price_multiplier,
)
from retail.world.shocks import (
    SHOCKS_FILE,
    ResolvedShock,
    Shock,
    delivered_share,
    demand_multiplier,
    resolve_shocks,
    series_hit,
)
from retail.world.shoppers import (
    LATENT_DIM,
    SessionContext,
    build_customers,
    build_preferences,
    simulate_sessions,
)

GENERATOR_VERSION = 1
# The last day of sales benchmarks, evals and tests pin, so their figures do not move with the day
# they run (`aisle data seed` ends its world yesterday: `retail.clock.seed_end`).
PINNED_END = dt.date(2026, 11, 15)
ONLINE_ID = "ONLINE"
DC_ID = "DC01"
_BLOCK = 30_000  # series simulated at once; bounds memory at the large scale


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    n_products: int
    n_stores: int
    n_customers: int
    n_days: int
    assortment: float  # share of products a store carries; online carries everything
    session_days: int  # how far back shopper sessions go
    sessions_per_customer: float


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(150, 5, 2_000, 1_095, 0.85, 120, 4.0),
    "medium": ScaleSpec(700, 20, 20_000, 730, 0.5, 90, 3.0),
    "large": ScaleSpec(2_500, 40, 100_000, 730, 0.35, 60, 2.0),
}


@dataclass(slots=True)
class SeedResult:
    counts: dict[str, int]
    message: str
    seconds: float


def world_hash(
    scale: str, seed: int, spec: ScaleSpec, end: dt.date, shocks: tuple[Shock, ...] = ()
) -> str:
    key: dict[str, Any] = {
        "scale": scale,
        "seed": seed,
        "end": end.isoformat(),
        "version": GENERATOR_VERSION,
        "spec": asdict(spec),
    }
    # Only a shocked world's key names shocks: an unshocked world keeps the hash it always had.
    if shocks:
        key["shocks"] = [s.describe() for s in shocks]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def seed_world(
    engine: Engine,
    *,
    scale: str,
    seed: int,
    end: dt.date,
    world_dir: Path,
    replace: bool = False,
    show_progress: bool = True,
    spec: ScaleSpec | None = None,
    shocks: tuple[Shock, ...] = (),
) -> SeedResult:
    """Generate the world whose sales end on `end` and load it in one transaction; idempotent for
    the same scale, seed, end and shocks.

    `spec` overrides the named scale's sizes (tests use a tiny world); `scale` then only labels it.
    `shocks` are planted in the world (`retail.world.shocks`) and saved as its truth.
    """
    if spec is None:
        if scale not in SCALES:
            raise AisleError(f"Unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
        spec = SCALES[scale]
    started = time.perf_counter()
    content_hash = world_hash(scale, seed, spec, end, shocks)
    with Session(engine) as session:
        load = session.scalars(select(DatasetLoad).where(DatasetLoad.source == "generated")).first()
    if load is not None:
        if load.content_hash == content_hash and (world_dir / "manifest.json").exists():
            return SeedResult(
                counts=load.counts,
                message=(
                    f"already seeded: scale {scale}, seed {seed}, sales ending {end.isoformat()};"
                    " nothing changed"
                ),
                seconds=time.perf_counter() - started,
            )
        # Same world but its truth files are gone: rebuild it rather than serve half a world.
        replace = replace or load.content_hash == content_hash
        if not replace:
            params = load.parameters
            recorded = recorded_today(load)
            ending = "" if recorded is None else f", sales ending {last_sales_day(recorded)}"
            raise AisleError(
                f"The database already holds a generated world (scale {params.get('scale')}, "
                f"seed {params.get('seed')}{ending}); pass --replace to rebuild it."
            )
    with _progress(show_progress) as progress:
        world = _generate(spec, seed, end, progress)
        world.shocks = resolve_shocks(
            list(shocks),
            days=world.calendar.days,
            category_names=[c.name for c in world.catalog.categories],
            location_ids=[loc["id"] for loc in world.locations],
            supplier_names=[s["name"] for s in world.suppliers],
            supplier_ids=[s["id"] for s in world.suppliers],
        )
        staging = Path(tempfile.mkdtemp(prefix="world-", dir=_ensure_dir(world_dir.parent)))
        try:
            counts = _write(engine, world, staging, progress, replace=load is not None)
            manifest = {
                "kind": "world",
                "version": GENERATOR_VERSION,
                "scale": scale,
                "seed": seed,
                "data_hash": content_hash,
                "parameters": asdict(spec),
                "start": world.calendar.days[0].isoformat(),
                "end": world.calendar.days[-1].isoformat(),
                "counts": counts,
                "shocks": world.shock_truth,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "truth": {
                    "promo_display_lift": PROMO_DISPLAY_LIFT,
                    "cross_price_elasticity": CROSS_PRICE_ELASTICITY,
                    "latent_dim": LATENT_DIM,
                },
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
            (staging / SHOCKS_FILE).write_text(json.dumps(world.shock_truth, indent=2))
            _record_load(
                engine,
                scale,
                seed,
                content_hash,
                spec,
                counts,
                world_dir,
                today=world_today(world.calendar.days[-1]),
            )
            # The truth files appear all at once, after the database committed.
            if world_dir.exists():
                shutil.rmtree(world_dir)
            staging.rename(world_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    seconds = time.perf_counter() - started
    return SeedResult(counts, f"seeded scale {scale}, seed {seed} in {seconds:.1f} s", seconds)


def seeded_end(engine: Engine, scale: str, seed: int) -> dt.date | None:
    """The last day of sales of the generated world in the store, if it is this scale and seed's
    (None otherwise, or for a world seeded before its today was recorded)."""
    with Session(engine) as session:
        load = session.scalars(select(DatasetLoad).where(DatasetLoad.source == "generated")).first()
    if load is None:
        return None
    params = load.parameters or {}
    recorded = recorded_today(load)
    if (params.get("scale"), params.get("seed")) != (scale, seed) or recorded is None:
        return None
    return last_sales_day(recorded)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not enabled,
    )
    with progress:
        yield progress


@dataclass(slots=True)
class World:
    spec: ScaleSpec
    seed: int
    calendar: WorldCalendar
    catalog: Catalog
    launch_day: np.ndarray
    trend: np.ndarray
    prices: PricePaths
    variant_product: np.ndarray
    paid_price: np.ndarray  # (n_variants, n_days) shelf price after promotions
    first_variant: np.ndarray
    locations: list[dict[str, Any]]
    suppliers: list[dict[str, Any]]
    supplier_of_brand: dict[str, int]
    case_pack: np.ndarray  # per variant
    carried: list[np.ndarray]  # per location: product indices carried
    rng: np.random.Generator
    shocks: list[ResolvedShock] = field(default_factory=list)
    # What each shock hit, for the world's truth files (filled in as sales are simulated).
    shock_truth: list[dict[str, Any]] = field(default_factory=list)


def _generate(spec: ScaleSpec, seed: int, end: dt.date, progress: Progress) -> World:
    # Independent streams per component: changing how customers are drawn does not move sales.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    task = progress.add_task("catalogue and stores", total=3)
    calendar = build_calendar(end - dt.timedelta(days=spec.n_days - 1), spec.n_days)
    catalog = generate_catalog(streams[0], spec.n_products)
    progress.advance(task)
    rng = streams[1]
    n_products = len(catalog.products)
    # Most products sell from the first day; some launch later, a few in the last month
    # (cold start: no history at all when the world ends).
    launch_day = np.zeros(n_products, dtype=np.int64)
    late = rng.random(n_products)
    # Late launches need a quarter-year of history before them (less in tiny test worlds).
    earliest = min(90, spec.n_days // 4)
    launch_day[late < 0.12] = rng.integers(earliest, spec.n_days - 30, int((late < 0.12).sum()))
    recent = late > 0.96
    launch_day[recent] = rng.integers(spec.n_days - 30, spec.n_days - 3, int(recent.sum()))
    trend = rng.normal(0.0, 0.12, n_products)
    variant_product = np.array(
        [p for p, prod in enumerate(catalog.products) for _ in prod.variants]
    )
    first_variant = np.concatenate(
        [[0], np.cumsum([len(p.variants) for p in catalog.products])[:-1]]
    ).astype(np.int64)
    prices = build_price_paths(streams[2], catalog, calendar, launch_day)
    progress.advance(task)

    locations = _locations(rng, spec, calendar.days[0])
    carried = []
    for loc in locations:
        if loc["kind"] == "store":
            keep = rng.random(n_products) < spec.assortment
            carried.append(np.flatnonzero(keep))
        elif loc["kind"] == "online":
            carried.append(np.arange(n_products))
        else:
            carried.append(np.array([], dtype=np.int64))
    suppliers, supplier_of_brand = _suppliers(rng, catalog)
    prices_ref = np.array([v.price for p in catalog.products for v in p.variants])
    case_pack = np.select([prices_ref < 30, prices_ref < 100, prices_ref < 300], [12, 6, 4], 2)
    progress.advance(task)
    return World(
        spec,
        seed,
        calendar,
        catalog,
        launch_day,
        trend,
        prices,
        variant_product,
        prices.paid_price(variant_product),
        first_variant,
        locations,
        suppliers,
        supplier_of_brand,
        case_pack,
        carried,
        streams[3],
    )


def _locations(rng: np.random.Generator, spec: ScaleSpec, opened: dt.date) -> list[dict[str, Any]]:
    rows = []
    for i, (city, state, region, lat, lon) in enumerate(STORE_CITIES[: spec.n_stores]):
        rows.append(
            {
                "id": f"S{i + 1:03d}",
                "name": f"Aisle {city}"
                if city != "Portland" or state == "OR"
                else "Aisle Portland ME",
                "kind": "store",
                "region": region,
                "city": city,
                "state": state,
                "latitude": lat,
                "longitude": lon,
                "size_factor": float(np.round(rng.lognormal(0.0, 0.35), 3)),
                "opened_on": opened,
                "source": "generated",
            }
        )
    rows.append(
        {
            "id": ONLINE_ID,
            "name": "Aisle Online",
            "kind": "online",
            "region": None,
            "city": None,
            "state": None,
            "latitude": None,
            "longitude": None,
            "size_factor": 2.5,
            "opened_on": opened,
            "source": "generated",
        }
    )
    rows.append(
        {
            "id": DC_ID,
            "name": "Aisle Distribution Centre (Kansas City)",
            "kind": "dc",
            "region": "Midwest",
            "city": "Kansas City",
            "state": "MO",
            "latitude": 39.0997,
            "longitude": -94.5786,
            "size_factor": 0.0,
            "opened_on": opened,
            "source": "generated",
        }
    )
    return rows


_SUPPLIER_NAMES = (
    "Summit Outdoor Distribution",
    "Cascade Supply Co.",
    "Prairie Wholesale",
    "Harborline Imports",
    "Redwood Trading",
    "Bluewater Logistics",
    "Ironbridge Goods",
    "Northstar Merchandise",
    "Pioneer Brands Group",
    "Lakeside Sourcing",
)


def _suppliers(
    rng: np.random.Generator, catalog: Catalog
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    n = min(len(_SUPPLIER_NAMES), max(3, len(catalog.brands) // 3))
    suppliers = []
    for i in range(n):
        mean = float(np.round(rng.uniform(4, 20), 1))
        suppliers.append(
            {
                "id": f"SUP{i + 1:02d}",
                "name": _SUPPLIER_NAMES[i],
                "lead_time_mean_days": mean,
                "lead_time_sd_days": float(np.round(rng.uniform(0.1, 0.3) * mean, 1)),
                "source": "generated",
            }
        )
    brand_supplier = {b.id: int(rng.integers(n)) for b in catalog.brands}
    return suppliers, brand_supplier


def _insert(conn: Connection, name: str, rows: list[dict[str, Any]]) -> int:
    if rows:
        conn.execute(table(name).insert(), rows)
    return len(rows)


def _write(
    engine: Engine, world: World, staging: Path, progress: Progress, *, replace: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        if replace:
            _delete_generated(conn)
        counts.update(_write_catalogue(conn, world, staging, progress))
        inventory = _simulate_sales(conn, world, staging, progress, counts)
        counts["inventory"] = _insert(conn, "inventory", inventory)
        counts.update(_write_shoppers(conn, world, staging, progress))
    return counts


def _write_catalogue(
    conn: Connection, world: World, staging: Path, progress: Progress
) -> dict[str, int]:
    catalog, calendar, rng = world.catalog, world.calendar, world.rng
    task = progress.add_task("catalogue, prices, reviews", total=len(catalog.products))
    counts = {
        "categories": _insert(
            conn,
            "categories",
            [
                {"id": c.id, "name": c.name, "parent_id": c.parent_id, "source": "generated"}
                for c in (*catalog.departments, *catalog.categories)
            ],
        ),
        "brands": _insert(
            conn,
            "brands",
            [
                {"id": b.id, "name": b.name, "tier": b.tier, "source": "generated"}
                for b in catalog.brands
            ],
        ),
    }
    products, variants, reviews, truth = [], [], [], []
    end = calendar.n_days - 1
    for p, prod in enumerate(catalog.products):
        launch = int(world.launch_day[p])
        quality = float(np.clip(rng.normal(4.1, 0.45), 2.6, 4.9))
        n_reviews = 0 if launch >= end - 7 else min(30, int(rng.poisson(2 + 10 * prod.popularity)))
        product_reviews = generate_reviews(rng, prod, n_reviews, quality) if n_reviews else []
        for i, review in enumerate(product_reviews):
            day = int(rng.integers(min(launch + 7, end), end + 1))
            reviews.append(
                {
                    "id": f"{prod.id}:r{i}",
                    "product_id": prod.id,
                    "rating": review.rating,
                    "title": review.title,
                    "body": review.body,
                    "author": review.author,
                    "created_at": dt.datetime.combine(calendar.days[day], dt.time(15), dt.UTC),
                    "source": "generated",
                }
            )
        ratings = [r.rating for r in product_reviews]
        products.append(
            {
                "id": prod.id,
                "name": prod.name,
                "category_id": prod.category_id,
                "brand_id": prod.brand_id,
                "description": prod.description,
                "materials": prod.materials,
                "care": prod.care,
                "size_guide": prod.size_guide,
                "attributes": {**prod.attributes, "features": list(prod.features)},
                "base_price": prod.base_price,
                "rating": review_rating(ratings),
                "review_count": len(ratings),
                "launched_on": calendar.days[launch],
                "source": "generated",
            }
        )
        for j, spec in enumerate(prod.variants):
            v = int(world.first_variant[p]) + j
            variants.append(
                {
                    "id": spec.sku,
                    "product_id": prod.id,
                    "options": dict(spec.options),
                    "price": float(world.prices.list_price[v, -1]),
                    "unit_cost": spec.unit_cost,
                    "available": True,
                    "source": "generated",
                }
            )
        truth.append(
            {
                "product_id": prod.id,
                "category_id": prod.category_id,
                "brand_id": prod.brand_id,
                "elasticity": prod.elasticity,
                "popularity": prod.popularity,
                "trend_per_year": float(world.trend[p]),
                "launch_date": calendar.days[launch],
                "mean_rating": quality,
                "base_price": prod.base_price,
            }
        )
        progress.advance(task)
    counts["products"] = _insert(conn, "products", products)
    counts["variants"] = _insert(conn, "variants", variants)
    counts["reviews"] = _insert(conn, "reviews", reviews)
    counts["locations"] = _insert(conn, "locations", world.locations)
    counts["suppliers"] = _insert(conn, "suppliers", world.suppliers)
    counts["supplier_items"] = _insert(conn, "supplier_items", _supplier_items(world))
    counts["policies"] = _insert(
        conn,
        "policies",
        [
            {"id": p.id, "title": p.title, "body": p.body, "source": "generated"}
            for p in STORE_POLICIES
        ],
    )
    counts.update(_write_prices(conn, world))
    pd.DataFrame(truth).to_parquet(staging / "products.parquet", index=False)
    pd.DataFrame(
        [
            {
                "category_id": c.id,
                "season_peak_doy": c.season_peak_doy,
                "season_amplitude": c.season_amplitude,
                "weekend_lift": c.weekend_lift,
                "elasticity_mean": c.elasticity_mean,
                "base_daily_units": c.base_daily_units,
            }
            for c in catalog.categories
        ]
    ).to_parquet(staging / "categories.parquet", index=False)
    pd.DataFrame(
        {
            "day": calendar.days,
            "store_lift": calendar.store_lift,
            "online_lift": calendar.online_lift,
            "holiday": calendar.holiday_names,
        }
    ).to_parquet(staging / "calendar.parquet", index=False)
    return counts


def _supplier_items(world: World) -> list[dict[str, Any]]:
    rows = []
    moq_multiple = world.rng.integers(1, 4, len(world.variant_product))
    for p, prod in enumerate(world.catalog.products):
        supplier = world.suppliers[world.supplier_of_brand[prod.brand_id]]["id"]
        for j, spec in enumerate(prod.variants):
            v = int(world.first_variant[p]) + j
            pack = int(world.case_pack[v])
            rows.append(
                {
                    "supplier_id": supplier,
                    "variant_id": spec.sku,
                    "unit_cost": spec.unit_cost,
                    "case_pack": pack,
                    "moq": pack * int(moq_multiple[v]),
                    "is_primary": True,
                }
            )
    return rows


def _write_prices(conn: Connection, world: World) -> dict[str, int]:
    calendar, prices = world.calendar, world.prices
    sku = [v.sku for p in world.catalog.products for v in p.variants]
    history = [
        {"variant_id": sku[v], "effective_on": calendar.days[day], "price": price, "reason": reason}
        for v, day, price, reason in prices.changes
    ]
    promotions = [
        {
            "id": promo.id,
            "name": promo.name,
            "starts_on": calendar.days[promo.start],
            "ends_on": calendar.days[promo.end],
            "discount_pct": round(promo.discount * 100, 1),
            "source": "generated",
        }
        for promo in prices.promotions
    ]
    items = [
        {"promotion_id": promo.id, "product_id": world.catalog.products[p].id}
        for promo in prices.promotions
        for p in promo.product_indices
    ]
    return {
        "price_history": _insert(conn, "price_history", history),
        "promotions": _insert(conn, "promotions", promotions),
        "promotion_items": _insert(conn, "promotion_items", items),
    }


def _simulate_sales(
    conn: Connection, world: World, staging: Path, progress: Progress, counts: dict[str, int]
) -> list[dict[str, Any]]:
    """Simulate every (SKU, location) series block by block, writing sales as it goes."""
    catalog, calendar = world.catalog, world.calendar
    category_index = {c.id: i for i, c in enumerate(catalog.categories)}
    cats = catalog.categories
    category_time = category_time_effects(
        np.array([c.season_peak_doy for c in cats]),
        np.array([c.season_amplitude for c in cats]),
        np.array([c.weekend_lift for c in cats]),
        calendar.day_of_year,
        calendar.day_of_week,
    )
    price_effect = product_price_multiplier(world.prices, catalog, world.variant_product)
    product_time = product_time_effects(price_effect, world.trend, world.launch_day)
    paid = world.paid_price

    sku = np.array([v.sku for p in catalog.products for v in p.variants], dtype=object)
    share = np.array([v.size_share for p in catalog.products for v in p.variants])
    product_category = np.array([category_index[p.category_id] for p in catalog.products])
    base_units = np.array([c.base_daily_units for c in cats])
    popularity = np.array([p.popularity for p in catalog.products])
    supplier = np.array(
        [world.supplier_of_brand[catalog.products[p].brand_id] for p in world.variant_product]
    )
    lead_mean = np.array([s["lead_time_mean_days"] for s in world.suppliers])[supplier]
    lead_sd = np.array([s["lead_time_sd_days"] for s in world.suppliers])[supplier]

    series_variant: list[int] = []
    series_location: list[int] = []
    for loc_index, products in enumerate(world.carried):
        for p in products:
            start = int(world.first_variant[p])
            n_variants = len(catalog.products[p].variants)
            series_variant.extend(range(start, start + n_variants))
            series_location.extend([loc_index] * n_variants)
    sv = np.array(series_variant, dtype=np.int64)
    sl = np.array(series_location, dtype=np.int64)
    # Series in the sales table's key order (SKU, location): each block's rows then append to
    # the primary-key B-tree instead of scattering over it, which loads SQLite 2-3x faster.
    location_ids = np.array([loc["id"] for loc in world.locations], dtype=object)
    order = np.lexsort((location_ids[sl].astype(str), sku[sv].astype(str)))
    sv, sl = sv[order], sl[order]
    n_series = len(sv)
    size_factor = np.array([loc["size_factor"] for loc in world.locations])
    is_online = np.array([loc["kind"] == "online" for loc in world.locations])
    sp = world.variant_product[sv]
    series_category = product_category[sp]
    series_supplier = supplier[sv]
    world.shock_truth = [
        rs.truth(
            None if rs.category_index is None else cats[rs.category_index].id,
            [
                loc["id"]
                for i, loc in enumerate(world.locations)
                if loc["kind"] != "dc" and (rs.location_indices is None or i in rs.location_indices)
            ],
            None if rs.supplier_index is None else world.suppliers[rs.supplier_index]["id"],
            series_hit(rs, series_category, sl, series_supplier),
        )
        for rs in world.shocks
    ]
    base = base_units[product_category[sp]] * popularity[sp] * share[sv] * size_factor[sl]

    n_days = calendar.n_days
    expected_file = np.lib.format.open_memmap(
        staging / "expected_demand.npy", mode="w+", dtype=np.float32, shape=(n_series, n_days)
    )
    demand_file = np.lib.format.open_memmap(
        staging / "demand.npy", mode="w+", dtype=np.int32, shape=(n_series, n_days)
    )
    day_strings = np.array([d.isoformat() for d in calendar.days], dtype=object)
    on_promo = world.prices.promo_discount > 0
    inventory: list[dict[str, Any]] = []
    now = dt.datetime.combine(calendar.days[-1], dt.time(23, 59), dt.UTC)
    task = progress.add_task("simulating sales", total=n_series)
    counts["daily_sales"] = 0
    for start in range(0, n_series, _BLOCK):
        rows = slice(start, min(start + _BLOCK, n_series))
        block = SeriesBlock(
            base=base[rows],
            product=sp[rows],
            category=product_category[sp[rows]],
            online=is_online[sl[rows]],
            review_weekday=sl[rows] % 7,
            lead_mean=lead_mean[sv[rows]],
            lead_sd=lead_sd[sv[rows]],
            case_pack=world.case_pack[sv[rows]],
            launch_day=world.launch_day[sp[rows]],
        )
        expected = expected_demand(
            block, category_time, product_time, calendar.store_lift, calendar.online_lift
        )
        shift = demand_multiplier(world.shocks, block.category, sl[rows], n_days)
        if shift is not None:
            expected = (expected * shift).astype(np.float32)
        supply = delivered_share(world.shocks, series_supplier[rows], n_days)
        sim = simulate_block(world.rng, block, expected, supply)
        expected_file[rows] = sim.expected
        demand_file[rows] = sim.demand
        s_idx, t_idx = np.nonzero((sim.sales > 0) | sim.stockout)
        g_idx = s_idx + start
        units = sim.sales[s_idx, t_idx]
        price = np.round(paid[sv[g_idx], t_idx], 2)
        frame = pd.DataFrame(
            {
                "variant_id": sku[sv[g_idx]],
                "location_id": location_ids[sl[g_idx]],
                "day": day_strings[t_idx],
                "units": units,
                "revenue": np.round(units * price, 2),
                "price": price,
                "on_promo": on_promo[sp[g_idx], t_idx],
                "stockout": sim.stockout[s_idx, t_idx],
            }
        )
        counts["daily_sales"] += copy_frame(conn, "daily_sales", frame)
        online = block.online
        reserved = np.where(online, np.minimum(world.rng.poisson(0.3, len(online)), sim.on_hand), 0)
        capacity = np.maximum(sim.order_up_to * 1.5, 2 * block.case_pack).astype(np.int64)
        for i in range(len(sim.on_hand)):
            g = start + i
            inventory.append(
                {
                    "variant_id": sku[sv[g]],
                    "location_id": location_ids[sl[g]],
                    "on_hand": int(sim.on_hand[i]),
                    "on_order": int(sim.on_order[i]),
                    "reserved": int(reserved[i]),
                    "shelf_capacity": int(capacity[i]),
                    "updated_at": now,
                }
            )
        progress.advance(task, rows.stop - rows.start)
    expected_file.flush()
    demand_file.flush()
    # The DC holds about two weeks of the chain's recent expected demand for every SKU.
    chain_recent = np.zeros(len(sku))
    np.add.at(chain_recent, sv, np.asarray(expected_file[:, -28:]).sum(axis=1))
    for v in range(len(sku)):
        inventory.append(
            {
                "variant_id": sku[v],
                "location_id": DC_ID,
                "on_hand": int(np.ceil(chain_recent[v] / 2)),
                "on_order": 0,
                "reserved": 0,
                "shelf_capacity": None,
                "updated_at": now,
            }
        )
    pd.DataFrame(
        {
            "variant_id": sku[sv],
            "product_id": [catalog.products[p].id for p in sp],
            "location_id": location_ids[sl],
            "base_units": base,
        }
    ).to_parquet(staging / "series.parquet", index=False)
    np.save(staging / "list_price.npy", world.prices.list_price.astype(np.float32))
    np.save(staging / "promo_discount.npy", world.prices.promo_discount.astype(np.float32))
    pd.DataFrame(
        {
            "variant_id": sku,
            "product_id": [catalog.products[p].id for p in world.variant_product],
            "reference_price": world.prices.reference_price,
        }
    ).to_parquet(staging / "variants.parquet", index=False)
    return inventory


def _write_shoppers(
    conn: Connection, world: World, staging: Path, progress: Progress
) -> dict[str, int]:
    spec = world.spec
    task = progress.add_task("customers and sessions", total=3)
    stores = [loc for loc in world.locations if loc["kind"] == "store"]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(world.seed + 1).spawn(3)]
    customers = build_customers(
        streams[0], world.seed, spec.n_customers, stores, world.calendar.days[-1]
    )
    preferences = build_preferences(streams[1], world.catalog, spec.n_customers)
    progress.advance(task)
    ctx = SessionContext(
        catalog=world.catalog,
        preferences=preferences,
        customers=customers,
        launch_day=world.launch_day,
        paid_price=world.paid_price,
        first_variant=world.first_variant,
        days=world.calendar.days,
        session_days=spec.session_days,
        sessions_per_customer=spec.sessions_per_customer,
    )
    sessions = simulate_sessions(streams[2], ctx)
    progress.advance(task)
    counts = {
        "customers": _insert(conn, "customers", customers.customers),
        "addresses": _insert(conn, "addresses", customers.addresses),
        "payment_methods": _insert(conn, "payment_methods", customers.payment_methods),
        "orders": _insert(conn, "orders", sessions.orders),
        "order_items": _insert(conn, "order_items", sessions.order_items),
        "payments": _insert(conn, "payments", sessions.payments),
        "fulfillments": _insert(conn, "fulfillments", sessions.fulfillments),
        "shopper_events": copy_frame(conn, "shopper_events", pd.DataFrame(sessions.events)),
    }
    np.savez_compressed(
        staging / "preferences.npz",
        customer_ids=np.array([c["id"] for c in customers.customers]),
        customer_vectors=preferences.customer_vectors,
        product_ids=np.array([p.id for p in world.catalog.products]),
        product_vectors=preferences.product_vectors,
        log_popularity=preferences.log_popularity,
        apparel_size=np.array(customers.apparel_size),
        shoe_size=np.array(customers.shoe_size),
    )
    progress.advance(task)
    return counts


def _record_load(
    engine: Engine,
    scale: str,
    seed: int,
    content_hash: str,
    spec: ScaleSpec,
    counts: dict[str, int],
    world_dir: Path,
    *,
    today: dt.date,
) -> None:
    with engine.begin() as conn:
        loads = table("dataset_loads")
        conn.execute(delete(loads).where(loads.c.source == "generated"))
        conn.execute(
            loads.insert(),
            {
                "source": "generated",
                "location": str(world_dir),
                "content_hash": content_hash,
                # The world's clock (`retail.clock`): its pages and plans are dated from it.
                "parameters": {
                    "scale": scale,
                    "seed": seed,
                    **asdict(spec),
                    TODAY_KEY: today.isoformat(),
                },
                "counts": counts,
                "loaded_at": dt.datetime.now(dt.UTC),
            },
        )


def _delete_generated(conn: Connection) -> None:
    """Remove the previous generated world, children before parents; other sources stay."""
    t = table

    def generated(name: str) -> Any:
        return select(t(name).c.id).where(t(name).c.source == "generated").scalar_subquery()

    customers, orders, locations = (
        generated("customers"),
        generated("orders"),
        generated("locations"),
    )
    variants, promotions = generated("variants"), generated("promotions")
    statements = [
        # Feed batches loaded into this world's days and stock go with it: a file accepted
        # before must be checked and applied again in the new world, not skipped as known.
        delete(t("feed_batches")),
        delete(t("shopper_events")).where(t("shopper_events").c.customer_id.in_(customers)),
        delete(t("daily_sales")).where(t("daily_sales").c.location_id.in_(locations)),
        delete(t("inventory")).where(t("inventory").c.location_id.in_(locations)),
        delete(t("purchase_order_lines")).where(
            t("purchase_order_lines").c.purchase_order_id.in_(generated("purchase_orders"))
        ),
        delete(t("purchase_orders")).where(t("purchase_orders").c.source == "generated"),
        *(
            delete(t(child)).where(t(child).c.order_id.in_(orders))
            for child in ("order_items", "payments", "fulfillments")
        ),
        delete(t("orders")).where(t("orders").c.source == "generated"),
        *(
            delete(t(child)).where(t(child).c.customer_id.in_(customers))
            for child in ("addresses", "payment_methods")
        ),
        delete(t("customers")).where(t("customers").c.source == "generated"),
        delete(t("promotion_items")).where(t("promotion_items").c.promotion_id.in_(promotions)),
        delete(t("promotions")).where(t("promotions").c.source == "generated"),
        delete(t("price_history")).where(t("price_history").c.variant_id.in_(variants)),
        delete(t("supplier_items")).where(t("supplier_items").c.variant_id.in_(variants)),
        delete(t("suppliers")).where(t("suppliers").c.source == "generated"),
        delete(t("reviews")).where(t("reviews").c.source == "generated"),
        delete(t("variants")).where(t("variants").c.source == "generated"),
        delete(t("products")).where(t("products").c.source == "generated"),
        delete(t("brands")).where(t("brands").c.source == "generated"),
        delete(t("categories")).where(
            t("categories").c.source == "generated", t("categories").c.parent_id.is_not(None)
        ),
        delete(t("categories")).where(t("categories").c.source == "generated"),
        delete(t("policies")).where(t("policies").c.source == "generated"),
        delete(t("locations")).where(t("locations").c.source == "generated"),
    ]
    for statement in statements:
        conn.execute(statement)
