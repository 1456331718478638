"""Builders of test data, inserted through the ORM into whichever database a test runs on.

Two levels: `make_*` functions add one record with sensible defaults (override any field by
keyword), and `seed_catalogue` builds a small, realistic catalogue whose every fact is listed in
`Catalogue`, so tests assert against names instead of magic values. Everything is flushed, not
committed: the caller owns the transaction (`seed_catalogue(engine)` commits its own).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.settings import Settings, get_settings
from retail.store.db import transaction
from retail.store.models import (
    Brand,
    Category,
    InventoryPosition,
    Location,
    MonitorAlert,
    Product,
    Review,
    Variant,
)
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec, seed_world

SOURCE = "generated"


def make_category(
    session: Session, id: str, name: str, parent_id: str | None = None, **fields: Any
) -> Category:
    category = Category(id=id, name=name, parent_id=parent_id, source=SOURCE, **fields)
    session.add(category)
    session.flush()
    return category


def make_brand(session: Session, id: str, name: str, **fields: Any) -> Brand:
    brand = Brand(id=id, name=name, source=SOURCE, **fields)
    session.add(brand)
    session.flush()
    return brand


def make_location(
    session: Session, id: str, name: str, kind: str = "store", **fields: Any
) -> Location:
    location = Location(id=id, name=name, kind=kind, source=SOURCE, **fields)
    session.add(location)
    session.flush()
    return location


def make_product(
    session: Session,
    id: str,
    name: str,
    *,
    category_id: str | None = None,
    brand_id: str | None = None,
    variants: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Product:
    """A product and its variants; each variant dict needs `price` and may set any column.

    Variant ids default to `<product id>-v<n>`, counted from 1.
    """
    fields.setdefault("description", f"{name}, described for tests.")
    product = Product(
        id=id, name=name, category_id=category_id, brand_id=brand_id, source=SOURCE, **fields
    )
    session.add(product)
    for n, spec in enumerate(variants or [], start=1):
        spec = {"id": f"{id}-v{n}", "options": {}, "available": True, **spec}
        session.add(Variant(product_id=id, source=SOURCE, **spec))
    session.flush()
    return product


def make_inventory(
    session: Session,
    variant_id: str,
    location_id: str,
    on_hand: int,
    reserved: int = 0,
    **fields: Any,
) -> InventoryPosition:
    position = InventoryPosition(
        variant_id=variant_id, location_id=location_id, on_hand=on_hand, reserved=reserved, **fields
    )
    session.add(position)
    session.flush()
    return position


def make_review(
    session: Session, id: str, product_id: str, rating: int, body: str = "", **fields: Any
) -> Review:
    review = Review(
        id=id,
        product_id=product_id,
        rating=rating,
        body=body or f"A {rating}-star review.",
        source=SOURCE,
        **fields,
    )
    session.add(review)
    session.flush()
    return review


@dataclass(frozen=True)
class Catalogue:
    """What `seed_catalogue` built, and the facts tests check against.

    Category tree: Outdoor > Outdoor Clothing > Jackets; Outdoor > Footwear; Home > Kitchen.
    Stock (available to sell = on hand - reserved):
    - Alpine Rain Jacket: S $129 has 4 at Downtown; M $139 has 0 at Uptown. In stock; at Downtown.
    - Breeze Windbreaker: its only variant has 2 on hand, 2 reserved at Downtown. Out of stock.
    - Canyon Hiking Boot: no inventory rows, so in stock overall but at no store.
    - Cast Iron Skillet: its variant is not available. Out of stock.
    - Evergreen Parka: 4 at Uptown. In stock; at Uptown.
    """

    outdoor: str = "dept-outdoor"
    outdoor_clothing: str = "cat-outdoor-clothing"
    jackets: str = "cat-jackets"
    footwear: str = "cat-footwear"
    home: str = "dept-home"
    kitchen: str = "cat-kitchen"

    summit: str = "brand-summit"
    trailhead: str = "brand-trailhead"
    hearth: str = "brand-hearth"

    downtown: str = "store-downtown"
    uptown: str = "store-uptown"
    dc: str = "dc-east"

    alpine: str = "prod-alpine-jacket"
    breeze: str = "prod-breeze-windbreaker"
    canyon: str = "prod-canyon-boot"
    skillet: str = "prod-cast-iron-skillet"
    evergreen: str = "prod-evergreen-parka"

    names: dict[str, str] = field(
        default_factory=lambda: {
            "prod-alpine-jacket": "Alpine Rain Jacket",
            "prod-breeze-windbreaker": "Breeze Windbreaker",
            "prod-canyon-boot": "Canyon Hiking Boot",
            "prod-cast-iron-skillet": "Cast Iron Skillet",
            "prod-evergreen-parka": "Evergreen Parka",
        }
    )

    @property
    def product_ids(self) -> list[str]:
        """Every product, in the order listings return them (by name)."""
        return [self.alpine, self.breeze, self.canyon, self.skillet, self.evergreen]


def build_catalogue(session: Session) -> Catalogue:
    """Insert the catalogue described by `Catalogue` into `session` (flushed, not committed)."""
    c = Catalogue()
    make_category(session, c.outdoor, "Outdoor")
    make_category(session, c.outdoor_clothing, "Outdoor Clothing", c.outdoor)
    make_category(session, c.jackets, "Jackets", c.outdoor_clothing)
    make_category(session, c.footwear, "Footwear", c.outdoor)
    make_category(session, c.home, "Home")
    make_category(session, c.kitchen, "Kitchen", c.home)

    make_brand(session, c.summit, "Summit Gear", tier="premium")
    make_brand(session, c.trailhead, "Trailhead", tier="value")
    make_brand(session, c.hearth, "Hearth & Co", tier="mid")

    make_location(session, c.downtown, "Downtown Store", city="Portland", state="OR")
    make_location(session, c.uptown, "Uptown Store", city="Portland", state="OR")
    make_location(session, c.dc, "East Distribution Centre", kind="dc")

    make_product(
        session,
        c.alpine,
        c.names[c.alpine],
        category_id=c.jackets,
        brand_id=c.summit,
        description="A waterproof, breathable shell for wet hikes.",
        materials="100% recycled nylon, PFC-free DWR",
        care="Machine wash cold; tumble dry low to restore water repellency.",
        size_guide="True to size; size up to layer over fleece.",
        attributes={"waterproof": True, "weight_g": 380},
        base_price=129.0,
        rating=3.67,
        review_count=3,
        launched_on=dt.date(2024, 3, 1),
        variants=[
            {"options": {"size": "S", "color": "blue"}, "price": 129.0, "unit_cost": 52.0},
            {"options": {"size": "M", "color": "blue"}, "price": 139.0, "unit_cost": 55.0},
        ],
    )
    make_product(
        session,
        c.breeze,
        c.names[c.breeze],
        category_id=c.jackets,
        brand_id=c.trailhead,
        variants=[{"options": {"size": "M"}, "price": 59.5}],
    )
    make_product(
        session,
        c.canyon,
        c.names[c.canyon],
        category_id=c.footwear,
        brand_id=c.trailhead,
        variants=[
            {"options": {"size": "9"}, "price": 149.99},
            {"options": {"size": "10"}, "price": 159.99},
        ],
    )
    make_product(
        session,
        c.skillet,
        c.names[c.skillet],
        category_id=c.kitchen,
        brand_id=c.hearth,
        variants=[{"options": {"diameter_in": 12}, "price": 39.0, "available": False}],
    )
    make_product(
        session,
        c.evergreen,
        c.names[c.evergreen],
        category_id=c.jackets,
        brand_id=c.summit,
        variants=[{"options": {"size": "L"}, "price": 249.0}],
    )

    make_inventory(session, f"{c.alpine}-v1", c.downtown, on_hand=5, reserved=1)
    make_inventory(session, f"{c.alpine}-v2", c.uptown, on_hand=0)
    make_inventory(session, f"{c.breeze}-v1", c.downtown, on_hand=2, reserved=2)
    make_inventory(session, f"{c.evergreen}-v1", c.uptown, on_hand=4)

    at = dt.datetime(2025, 1, 10, 12, 0, tzinfo=dt.UTC)
    make_review(session, "rev-alpine-1", c.alpine, 5, "Dry all day.", title="Great", created_at=at)
    make_review(
        session,
        "rev-alpine-2",
        c.alpine,
        4,
        "Good, runs small.",
        created_at=at + dt.timedelta(days=30),
    )
    make_review(session, "rev-alpine-3", c.alpine, 2, "Zip broke.", author="Sam")
    return c


def seed_catalogue(engine: Engine) -> Catalogue:
    """Insert the catalogue and commit it."""
    with transaction(engine) as session:
        return build_catalogue(session)


def add_drift_alert(engine: Engine, *, day: dt.date, message: str, category: str = "Tents") -> None:
    """A demand-drift alert on `category` across the chain, raised on `day` for a shift since
    two days before, asking for a forecaster retrain (what `aisle monitor run` stores)."""
    with Session(engine) as session, session.begin():
        session.add(
            MonitorAlert(
                id="a1",
                kind="drift",
                feature="demand",
                level="category",
                segment={"category": category},
                as_of=day,
                since=day - dt.timedelta(days=2),
                effect=0.27,
                p_value=1e-9,
                message=message,
                retrain_kind="forecaster",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def seed_configured_world(spec: ScaleSpec, seed: int = 9) -> None:
    """Seed a tiny generated world into the store and world folder the settings point at (the
    `aisle` CLI fixture's), as `aisle data seed --end` would with the pinned last day."""
    engine = open_store()
    try:
        seed_world(
            engine,
            scale="small",
            seed=seed,
            end=PINNED_END,
            world_dir=get_settings().world_dir,
            show_progress=False,
            spec=spec,
        )
    finally:
        engine.dispose()


# The placement tests' world: 60 products, 2 stores, 300 customers; big enough for the
# recommenders to disagree, small enough to seed in seconds.
PLACEMENTS_SPEC = ScaleSpec(60, 2, 300, 60, 0.7, 60, 4.0)


def seed_placements_world(root: Path) -> tuple[Settings, Engine]:
    """A SQLite store and var dir under `root` holding the placement tests' generated world."""
    settings = Settings(
        database_url=f"sqlite:///{root / 'aisle.db'}", var_dir=root / "var", environment="test"
    )
    engine = open_store(settings)
    seed_world(
        engine,
        scale="small",
        seed=3,
        world_dir=settings.world_dir,
        show_progress=False,
        end=PINNED_END,
        spec=PLACEMENTS_SPEC,
    )
    return settings, engine
