"""Customers of the generated world, their latent preferences, and the sessions they drive.

Each customer and product has a latent vector; a customer's interest in a product is their dot
product plus the product's log popularity. Sessions sample products from that softmax, so views,
carts and purchases carry the signal a recommender must recover, and the oracle that knows the
vectors gives the best achievable ranking.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faker import Faker

from retail.world.catalog import Catalog

LATENT_DIM = 8
APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
APPAREL_SIZE_SHARES = (0.06, 0.18, 0.3, 0.26, 0.14, 0.06)


@dataclass(slots=True)
class Preferences:
    """The ground truth of shopper taste: score(c, p) = customer[c] . product[p] + log pop[p]."""

    customer_vectors: np.ndarray  # (n_customers, LATENT_DIM)
    product_vectors: np.ndarray  # (n_products, LATENT_DIM)
    log_popularity: np.ndarray  # (n_products,)
    temperature: float = 1.0

    def scores(self, customers: np.ndarray) -> np.ndarray:
        return (self.customer_vectors[customers] @ self.product_vectors.T) / self.temperature + (
            self.log_popularity[None, :]
        )

    def scores_of(self, customers: np.ndarray, products: np.ndarray) -> np.ndarray:
        """(n, k) scores of row i's customer for the k products of row i: a list's scores
        without scoring the whole catalogue."""
        dot = np.einsum(
            "nd,nkd->nk", self.customer_vectors[customers], self.product_vectors[products]
        )
        return dot / self.temperature + self.log_popularity[products]


@dataclass(slots=True)
class CustomerRecords:
    customers: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    payment_methods: list[dict[str, Any]] = field(default_factory=list)
    methods_by_customer: list[list[dict[str, Any]]] = field(default_factory=list)
    apparel_size: list[str] = field(default_factory=list)
    shoe_size: list[str] = field(default_factory=list)


def build_preferences(rng: np.random.Generator, catalog: Catalog, n_customers: int) -> Preferences:
    category_ids = [c.id for c in catalog.categories]
    centres = rng.normal(0.0, 1.0, size=(len(category_ids), LATENT_DIM))
    index = {c: i for i, c in enumerate(category_ids)}
    product_category = np.array([index[p.category_id] for p in catalog.products])
    products = centres[product_category] * 0.8 + rng.normal(
        0, 0.6, (len(catalog.products), LATENT_DIM)
    )
    # Customers lean towards one or two categories' centres: outdoor people, kitchen people...
    first = rng.integers(0, len(category_ids), n_customers)
    second = rng.integers(0, len(category_ids), n_customers)
    weight = rng.uniform(0.5, 1.0, n_customers)[:, None]
    customers = weight * centres[first] + (1 - weight) * centres[second]
    customers = customers * 0.9 + rng.normal(0, 0.5, (n_customers, LATENT_DIM))
    popularity = np.array([p.popularity for p in catalog.products])
    return Preferences(customers, products, np.log(popularity))


def build_customers(
    rng: np.random.Generator,
    seed: int,
    n_customers: int,
    stores: list[dict[str, Any]],
    world_end: dt.date,
) -> CustomerRecords:
    faker = Faker("en_US")
    faker.seed_instance(seed)
    records = CustomerRecords()
    # Five-digit customer and eight-digit payment suffixes: tau2's ids use four and seven, so the
    # generated world and an imported tau2 domain can share one store without a clash.
    taken: set[str] = set()
    tiers = rng.choice(["member", "silver", "gold"], size=n_customers, p=[0.7, 0.2, 0.1])
    consent = rng.random(n_customers) < 0.62
    home = rng.integers(0, len(stores), n_customers)
    tenure = rng.integers(30, 5 * 365, n_customers)
    sizes = rng.choice(APPAREL_SIZES, size=n_customers, p=APPAREL_SIZE_SHARES)
    shoe = rng.integers(6, 14, n_customers)
    for i in range(n_customers):
        first, last = faker.first_name(), faker.last_name()
        number = int(rng.integers(10_000, 100_000))
        customer_id = f"{first}_{last}_{number}".lower().replace("'", "").replace(" ", "")
        while customer_id in taken:
            number = int(rng.integers(10_000, 100_000))
            customer_id = f"{first}_{last}_{number}".lower().replace("'", "").replace(" ", "")
        taken.add(customer_id)
        store = stores[int(home[i])]
        records.customers.append(
            {
                "id": customer_id,
                "first_name": first,
                "last_name": last,
                "email": f"{first}.{last}{number}@example.com".lower().replace("'", ""),
                "loyalty_tier": str(tiers[i]),
                "marketing_consent": bool(consent[i]),
                "home_store_id": store["id"],
                "created_at": dt.datetime.combine(
                    world_end - dt.timedelta(days=int(tenure[i])), dt.time(12), tzinfo=dt.UTC
                ),
                "source": "generated",
            }
        )
        records.addresses.append(
            {
                "id": f"{customer_id}:default",
                "customer_id": customer_id,
                "is_default": True,
                "address1": faker.street_address(),
                "address2": faker.secondary_address() if rng.random() < 0.35 else None,
                "city": store["city"],
                "state": store["state"],
                "country": "USA",
                "zip": faker.zipcode_in_state(store["state"])
                if store["state"] != "DC"
                else "20001",
            }
        )
        methods: list[dict[str, Any]] = []
        for kind in _payment_kinds(rng):
            method_id = f"{kind}_{int(rng.integers(10_000_000, 100_000_000))}"
            while method_id in taken:
                method_id = f"{kind}_{int(rng.integers(10_000_000, 100_000_000))}"
            taken.add(method_id)
            methods.append(
                {
                    "id": method_id,
                    "customer_id": customer_id,
                    "kind": kind,
                    "brand": str(rng.choice(["visa", "mastercard", "amex"]))
                    if kind == "credit_card"
                    else None,
                    "last_four": f"{int(rng.integers(0, 10000)):04d}"
                    if kind == "credit_card"
                    else None,
                    "balance": float(rng.integers(0, 300)) if kind == "gift_card" else None,
                }
            )
        records.payment_methods.extend(methods)
        records.methods_by_customer.append(methods)
        records.apparel_size.append(str(sizes[i]))
        records.shoe_size.append(str(int(shoe[i])))
    return records


def _payment_kinds(rng: np.random.Generator) -> list[str]:
    kinds = ["credit_card"] if rng.random() < 0.8 else ["paypal"]
    if rng.random() < 0.3:
        kinds.append("paypal" if kinds[0] == "credit_card" else "credit_card")
    if rng.random() < 0.2:
        kinds.append("gift_card")
    return kinds


@dataclass(slots=True)
class SessionRecords:
    events: dict[str, list[Any]] = field(
        default_factory=lambda: {
            k: []
            for k in (
                "session_id",
                "customer_id",
                "occurred_at",
                "event_type",
                "variant_id",
                "product_id",
                "query",
            )
        }
    )
    orders: list[dict[str, Any]] = field(default_factory=list)
    order_items: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    fulfillments: list[dict[str, Any]] = field(default_factory=list)

    def add_event(self, session: str, customer: str, at: dt.datetime, kind: str, **kw: Any) -> None:
        ev = self.events
        ev["session_id"].append(session)
        ev["customer_id"].append(customer)
        ev["occurred_at"].append(at)
        ev["event_type"].append(kind)
        ev["variant_id"].append(kw.get("variant_id"))
        ev["product_id"].append(kw.get("product_id"))
        ev["query"].append(kw.get("query"))


@dataclass(slots=True)
class SessionContext:
    """What the session simulator reads about the world."""

    catalog: Catalog
    preferences: Preferences
    customers: CustomerRecords
    launch_day: np.ndarray  # (n_products,)
    paid_price: np.ndarray  # (n_variants, n_days)
    first_variant: np.ndarray  # (n_products,) index of each product's first variant
    days: tuple[dt.date, ...]
    session_days: int
    sessions_per_customer: float


def simulate_sessions(rng: np.random.Generator, ctx: SessionContext) -> SessionRecords:
    """Browse, search, cart and buy over the last `session_days` days of the world."""
    out = SessionRecords()
    n_days = len(ctx.days)
    n_customers = len(ctx.customers.customers)
    activity = rng.lognormal(0.0, 0.7, n_customers)
    sessions = rng.poisson(ctx.sessions_per_customer * activity / np.exp(0.245))
    categories = {c.id: c.name.lower() for c in ctx.catalog.categories}
    order_ids: set[str] = set()
    batch = 2048
    for start in range(0, n_customers, batch):
        members = np.arange(start, min(start + batch, n_customers))
        scores = ctx.preferences.scores(members)
        for row, c in enumerate(members):
            for s in range(int(sessions[c])):
                day = n_days - 1 - int(rng.integers(0, ctx.session_days))
                live = ctx.launch_day <= day
                gumbel = rng.gumbel(size=scores.shape[1])
                ranked = np.argsort(np.where(live, scores[row] + gumbel, -np.inf))[::-1]
                viewed = ranked[: 1 + int(rng.poisson(2.0))]
                _one_session(rng, ctx, out, int(c), s, day, viewed, categories, order_ids)
    return out


def _one_session(
    rng: np.random.Generator,
    ctx: SessionContext,
    out: SessionRecords,
    c: int,
    s: int,
    day: int,
    viewed: np.ndarray,
    categories: dict[str, str],
    order_ids: set[str],
) -> None:
    customer = ctx.customers.customers[c]
    session_id = f"{customer['id']}:{day}:{s}"
    at = dt.datetime.combine(ctx.days[day], dt.time(8), tzinfo=dt.UTC) + dt.timedelta(
        seconds=int(rng.integers(0, 15 * 3600))
    )
    products = ctx.catalog.products
    if rng.random() < 0.4:
        lead = products[int(viewed[0])]
        feature = lead.features[int(rng.integers(len(lead.features)))] if lead.features else ""
        query = f"{feature} {categories[lead.category_id]}".strip()
        out.add_event(session_id, customer["id"], at, "search", query=query)
        at += dt.timedelta(seconds=int(rng.integers(5, 40)))
    cart: list[tuple[int, int]] = []
    for p in viewed:
        variant = _choose_variant(rng, ctx, c, int(p))
        pid, vid = products[int(p)].id, products[int(p)].variants[variant].sku
        out.add_event(session_id, customer["id"], at, "view", product_id=pid, variant_id=vid)
        at += dt.timedelta(seconds=int(rng.integers(20, 180)))
        if rng.random() < 0.22:
            out.add_event(
                session_id, customer["id"], at, "add_to_cart", product_id=pid, variant_id=vid
            )
            cart.append((int(p), variant))
            at += dt.timedelta(seconds=int(rng.integers(5, 60)))
    if not cart or rng.random() > 0.5:
        return
    order_id = f"#A{int(rng.integers(1_000_000, 10_000_000))}"
    while order_id in order_ids:
        order_id = f"#A{int(rng.integers(1_000_000, 10_000_000))}"
    order_ids.add(order_id)
    total = 0.0
    for position, (p, variant) in enumerate(cart):
        prod = products[p]
        spec = prod.variants[variant]
        price = float(round(ctx.paid_price[ctx.first_variant[p] + variant, day], 2))
        total += price
        out.add_event(
            session_id, customer["id"], at, "purchase", product_id=prod.id, variant_id=spec.sku
        )
        out.order_items.append(
            {
                "id": f"{order_id}:{position}",
                "order_id": order_id,
                "position": position,
                "variant_id": spec.sku,
                "product_id": prod.id,
                "name": prod.name,
                "price": price,
                "quantity": 1,
                "options": dict(spec.options),
            }
        )
    _record_order(rng, ctx, out, c, order_id, day, at, round(total, 2), cart)


def _record_order(
    rng: np.random.Generator,
    ctx: SessionContext,
    out: SessionRecords,
    c: int,
    order_id: str,
    day: int,
    at: dt.datetime,
    total: float,
    cart: list[tuple[int, int]],
) -> None:
    customer = ctx.customers.customers[c]
    address = ctx.customers.addresses[c]
    methods = ctx.customers.methods_by_customer[c]
    method = methods[int(rng.integers(len(methods)))]
    age = len(ctx.days) - 1 - day
    # Order status follows age as in the tau2 retail domain: new orders wait, old ones arrive.
    if age <= 2:
        status = "pending"
    elif age <= 5:
        status = "processed" if rng.random() < 0.6 else "pending"
    else:
        status = str(
            rng.choice(
                ["delivered", "cancelled", "return requested", "exchange requested"],
                p=[0.9, 0.06, 0.025, 0.015],
            )
        )
    details: dict[str, Any] = {}
    if status == "cancelled":
        details["cancel_reason"] = str(rng.choice(["no longer needed", "ordered by mistake"]))
    out.orders.append(
        {
            "id": order_id,
            "customer_id": customer["id"],
            "status": status,
            "channel": "online",
            "location_id": "ONLINE",
            "shipping_address": {
                k: address[k] for k in ("address1", "address2", "city", "state", "country", "zip")
            },
            "created_at": at,
            "details": details,
            "source": "generated",
        }
    )
    out.payments.append(
        {
            "id": f"{order_id}:pay:0",
            "order_id": order_id,
            "position": 0,
            "transaction_type": "payment",
            "amount": total,
            "payment_method_id": method["id"],
        }
    )
    if status == "cancelled":
        out.payments.append(
            {
                "id": f"{order_id}:pay:1",
                "order_id": order_id,
                "position": 1,
                "transaction_type": "refund",
                "amount": total,
                "payment_method_id": method["id"],
            }
        )
    if status in ("processed", "delivered", "return requested", "exchange requested"):
        products = ctx.catalog.products
        out.fulfillments.append(
            {
                "id": f"{order_id}:ful:0",
                "order_id": order_id,
                "position": 0,
                "tracking_ids": [f"{int(rng.integers(10**11, 10**12))}"],
                "variant_ids": [products[p].variants[v].sku for p, v in cart],
            }
        )


def _choose_variant(rng: np.random.Generator, ctx: SessionContext, c: int, p: int) -> int:
    """The customer's own size when the product comes in it, else by the variants' shares."""
    variants = ctx.catalog.products[p].variants
    wanted = (ctx.customers.apparel_size[c], ctx.customers.shoe_size[c])
    fitting = [i for i, v in enumerate(variants) if v.options.get("size") in wanted]
    pool = fitting or list(range(len(variants)))
    shares = np.array([variants[i].size_share for i in pool])
    return int(pool[int(rng.choice(len(pool), p=shares / shares.sum()))])
