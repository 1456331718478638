"""The product knowledge graph: substitutes in stock at a store, complements, accessories.

Built from the store's database (generated world and imported data alike) into a networkx
`MultiDiGraph` whose edge keys are relations:

- IS_A: sku -> product -> leaf category -> parent category (department).
- HAS_ATTRIBUTE: product -> attribute value (its `attributes`), sku -> attribute value (its
  options: colour, size, ...). MADE_BY: product -> brand.
- SUBSTITUTE_FOR (scored): product -> product in the same leaf category within a price ratio of 2
  whose attributes overlap (the ratio checked again on live prices at query time, the prices
  answers quote); sku -> sku of the same product (another colour or size).
- COMPLEMENTS: product -> product in another category bought in the same orders with lift
  P(a,b) / (P(a) P(b)) above 1 and a minimum support; category -> category from the same lift on
  categories ("bought_together") and from accessory rules ("accessory").
- SUPPLIED_BY: sku -> supplier. APPLIES_TO: policy -> category whose name the policy mentions.
- STOCKED_AT: sku -> store. Never persisted: stock moves all day, so it is read live from the
  inventory table at query time and "in stock at store S" is always current.

The graph is saved as node-link JSON (an artifact with a manifest, under `var/artifacts/`),
versioned by a hash of what it was built from: a rebuild over an unchanged catalogue writes
nothing, and a changed one costs a second on the small world. Unavailable SKUs are left out,
and so are products without an available SKU, so they disappear from answers on the next build.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from ml_core.recommend.store_data import purchase_lines
from ml_core.registry import ArtifactRegistry, Manifest
from retail.errors import AisleError, NotFoundError
from retail.product_query import size_order
from retail.settings import Settings
from retail.store.models import (
    Brand,
    Category,
    InventoryPosition,
    Location,
    Policy,
    Product,
    Supplier,
    SupplierItem,
    Variant,
)

ARTIFACT = "knowledge-graph"
GRAPH_FILE = "graph.json"
FORMAT_VERSION = 1

IS_A = "IS_A"
HAS_ATTRIBUTE = "HAS_ATTRIBUTE"
MADE_BY = "MADE_BY"
SUBSTITUTE_FOR = "SUBSTITUTE_FOR"
COMPLEMENTS = "COMPLEMENTS"
SUPPLIED_BY = "SUPPLIED_BY"
STOCKED_AT = "STOCKED_AT"
APPLIES_TO = "APPLIES_TO"

Relation = Literal["substitutes", "complements", "accessories"]
RELATIONS: tuple[str, ...] = ("substitutes", "complements", "accessories")
# Locations a shopper can buy from; the distribution centre is not one.
SELLING_KINDS = ("store", "online")

# Accessories a buyer of the first category uses with it, named for the generated world's leaf
# categories. Imported catalogues get rules from their names instead (see `_accessory_rules`).
ACCESSORY_RULES: dict[str, tuple[str, ...]] = {
    "footwear-hiking-boots": ("footwear-socks",),
    "footwear-trail-running": ("footwear-socks",),
    "footwear-winter-boots": ("footwear-socks",),
    "electronics-headphones": ("electronics-power",),
    "electronics-speakers": ("electronics-power",),
    "electronics-watches": ("electronics-power",),
    "outdoor-lighting": ("electronics-power",),
    "outdoor-tents": ("outdoor-lighting",),
    "home-coffee": ("home-travel-mugs",),
    "fitness-yoga-mats": ("fitness-bands",),
    "fitness-weights": ("fitness-bands",),
}


@dataclass(frozen=True, slots=True)
class GraphParams:
    """How edges are derived; saved in the manifest so a version says how it was built."""

    max_price_ratio: float = 2.0
    substitutes_per_product: int = 20
    min_support: int = 2
    """Orders that must hold both products before their lift counts: one shared order is chance."""
    category_min_support: int = 5
    must_match: tuple[str, ...] = ("gender",)
    """Attributes two products must agree on, when both state them, to stand in for each other:
    a men's pair of shorts is no substitute for a women's, however close the rest."""


# ---------------------------------------------------------------------------------------------
# Typed results


class PathEdge(BaseModel):
    """One edge of the graph as stored (source -relation-> target), with its properties."""

    source: str
    relation: str
    target: str
    properties: dict[str, Any] = Field(default_factory=dict)


class Neighbor(BaseModel):
    """A suggested SKU with its score, a one-line reason and the path that explains it."""

    sku: str
    product_id: str
    name: str
    category_id: str | None
    price: float
    score: float
    source: str
    """What produced it: same_product, same_category, co_purchase, category_rule or accessory."""
    reason: str
    on_hand: int | None
    """Sellable units at the asked store (on hand minus reserved), None when no store was asked."""
    path: list[PathEdge]


class NeighborsResult(BaseModel):
    sku: str
    name: str
    relation: str
    store: str | None
    graph_version: str
    neighbors: list[Neighbor]


class BuildReport(BaseModel):
    version: str
    data_hash: str
    rebuilt: bool
    """False when the catalogue had not changed since the active version: nothing was written."""
    nodes: dict[str, int]
    edges: dict[str, int]
    seconds: float


def node_id(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def _key(node: str) -> str:
    return node.split(":", 1)[1]


# ---------------------------------------------------------------------------------------------
# Building


@dataclass(slots=True)
class _Inputs:
    """Every row the graph is derived from, in a stable order (the data hash reads them)."""

    categories: list[tuple[str, str, str | None]]
    brands: list[tuple[str, str]]
    products: list[tuple[str, str, str | None, str | None, dict[str, Any], float | None]]
    variants: list[tuple[str, str, dict[str, Any], float]]
    suppliers: list[tuple[str, str, float]]
    supplier_items: list[tuple[str, str, float, bool]]
    locations: list[tuple[str, str, str]]
    policies: list[tuple[str, str, str]]
    baskets: list[tuple[str, str]]

    def digest(self, params: GraphParams) -> str:
        h = hashlib.sha256(f"{FORMAT_VERSION}{params}".encode())
        for name in self.__slots__:
            h.update(json.dumps(getattr(self, name), sort_keys=True, default=str).encode())
        return h.hexdigest()


def _read_inputs(engine: Engine) -> _Inputs:
    with engine.connect() as conn:

        def rows(query: Any) -> list[Any]:
            return [tuple(r) for r in conn.execute(query).all()]

        inputs = _Inputs(
            categories=rows(
                select(Category.id, Category.name, Category.parent_id).order_by(Category.id)
            ),
            brands=rows(select(Brand.id, Brand.name).order_by(Brand.id)),
            products=rows(
                select(
                    Product.id,
                    Product.name,
                    Product.category_id,
                    Product.brand_id,
                    Product.attributes,
                    Product.base_price,
                ).order_by(Product.id)
            ),
            variants=rows(
                select(Variant.id, Variant.product_id, Variant.options, Variant.price)
                .where(Variant.available.is_(True))
                .order_by(Variant.id)
            ),
            suppliers=rows(
                select(Supplier.id, Supplier.name, Supplier.lead_time_mean_days).order_by(
                    Supplier.id
                )
            ),
            supplier_items=rows(
                select(
                    SupplierItem.variant_id,
                    SupplierItem.supplier_id,
                    SupplierItem.unit_cost,
                    SupplierItem.is_primary,
                ).order_by(SupplierItem.variant_id, SupplierItem.supplier_id)
            ),
            locations=rows(select(Location.id, Location.name, Location.kind).order_by(Location.id)),
            policies=rows(select(Policy.id, Policy.title, Policy.body).order_by(Policy.id)),
            baskets=[],
        )
    inputs.baskets = sorted(purchase_lines(engine, basket="order"))
    return inputs


def _attribute_values(values: Mapping[str, Any]) -> list[str]:
    """Attribute nodes for a dict of attributes or options: `attr:key=value`, lower-cased.

    Numbers are left out: a weight of 380 g is a measurement, not a value shoppers share."""
    found = []
    for key, value in sorted(values.items()):
        if isinstance(value, bool):
            if value:
                found.append(node_id("attr", key.lower()))
        elif isinstance(value, str) and value.strip():
            found.append(node_id("attr", f"{key.lower()}={value.strip().lower()}"))
    return found


def option_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Share of the option keys either SKU has on which both agree (1.0 when neither has any)."""
    keys = set(a) | set(b)
    if not keys:
        return 1.0
    return sum(a.get(k) == b.get(k) for k in keys) / len(keys)


def _lift_pairs(
    baskets: Mapping[str, set[str]], min_support: int
) -> dict[tuple[str, str], tuple[float, int]]:
    """(a, b) -> (lift, support) for every pair bought together in at least `min_support`
    baskets with lift above 1; each unordered pair appears once, with a < b."""
    n = len(baskets)
    single: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for items in baskets.values():
        single.update(items)
        pairs.update(combinations(sorted(items), 2))
    found = {}
    for (a, b), together in pairs.items():
        if together < min_support:
            continue
        lift = n * together / (single[a] * single[b])
        if lift > 1.0:
            found[(a, b)] = (lift, together)
    return found


def build_graph(engine: Engine, params: GraphParams | None = None) -> tuple[nx.MultiDiGraph, str]:
    """The graph over the store as it is now, and the hash of what it was built from."""
    params = params or GraphParams()
    inputs = _read_inputs(engine)
    return _build(inputs, params), inputs.digest(params)


def _build(inputs: _Inputs, params: GraphParams) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    category_name = {cid: name for cid, name, _ in inputs.categories}
    for category, title, parent in inputs.categories:
        g.add_node(node_id("category", category), kind="category", name=title)
        if parent is not None:
            g.add_edge(node_id("category", category), node_id("category", parent), key=IS_A)
    for brand, title in inputs.brands:
        g.add_node(node_id("brand", brand), kind="brand", name=title)

    variants_of: dict[str, list[tuple[str, dict[str, Any], float]]] = defaultdict(list)
    for vid, pid, options, price in inputs.variants:
        variants_of[pid].append((vid, options or {}, float(price)))

    product_attrs: dict[str, set[str]] = {}
    product_price: dict[str, float] = {}
    category_of: dict[str, str] = {}
    for pid, name, cid, bid, attributes, _base in inputs.products:
        skus = variants_of.get(pid)
        if not skus:
            continue  # nothing of it can be sold: it has no place in suggestions
        p = node_id("product", pid)
        price = min(v[2] for v in skus)
        g.add_node(p, kind="product", name=name, category_id=cid, price=price)
        product_price[pid] = price
        if cid is not None:
            g.add_edge(p, node_id("category", cid), key=IS_A)
            category_of[pid] = cid
        if bid is not None:
            g.add_edge(p, node_id("brand", bid), key=MADE_BY)
        attrs = set(_attribute_values(attributes or {}))
        for a in sorted(attrs):
            g.add_node(a, kind="attribute")
            g.add_edge(p, a, key=HAS_ATTRIBUTE)
        for vid, options, vprice in skus:
            s = node_id("sku", vid)
            g.add_node(s, kind="sku", name=name, product_id=pid, options=options, price=vprice)
            g.add_edge(s, p, key=IS_A)
            for a in _attribute_values(options):
                g.add_node(a, kind="attribute")
                g.add_edge(s, a, key=HAS_ATTRIBUTE)
                attrs.add(a)
        product_attrs[pid] = attrs
        for (va, oa, _), (vb, ob, _) in combinations(skus, 2):
            score = round(0.5 + 0.5 * option_match(oa, ob), 4)
            for x, y in ((va, vb), (vb, va)):
                g.add_edge(node_id("sku", x), node_id("sku", y), key=SUBSTITUTE_FOR, score=score)

    _add_substitutes(g, product_attrs, product_price, category_of, params)
    _add_complements(g, inputs, category_of, category_name, params)

    for sid, name, lead in inputs.suppliers:
        g.add_node(node_id("supplier", sid), kind="supplier", name=name, lead_time_days=lead)
    for vid, sid, cost, primary in inputs.supplier_items:
        if g.has_node(node_id("sku", vid)):
            g.add_edge(
                node_id("sku", vid),
                node_id("supplier", sid),
                key=SUPPLIED_BY,
                unit_cost=float(cost),
                is_primary=bool(primary),
            )
    for lid, name, kind in inputs.locations:
        g.add_node(node_id("store", lid), kind="store", name=name, location_kind=kind)
    for pol_id, title, body in inputs.policies:
        pol = node_id("policy", pol_id)
        g.add_node(pol, kind="policy", name=title)
        text = f"{title}\n{body}".lower()
        for category, title in category_name.items():
            if re.search(rf"\b{re.escape(title.lower())}\b", text):
                g.add_edge(pol, node_id("category", category), key=APPLIES_TO)
    g.graph.update(format=FORMAT_VERSION)
    return g


def _add_substitutes(
    g: nx.MultiDiGraph,
    attrs: Mapping[str, set[str]],
    price: Mapping[str, float],
    category_of: Mapping[str, str],
    params: GraphParams,
) -> None:
    by_category: dict[str, list[str]] = defaultdict(list)
    for pid, cid in category_of.items():
        by_category[cid].append(pid)
    max_gap = math.log(params.max_price_ratio)
    for members in by_category.values():
        for a in members:
            scored = []
            for b in members:
                if a == b or price[a] <= 0 or price[b] <= 0:
                    continue
                closeness = 1.0 - abs(math.log(price[b] / price[a])) / max_gap
                shared = attrs[a] & attrs[b]
                union = attrs[a] | attrs[b]
                # Products described by no attribute at all cannot disagree on any.
                if closeness <= 0 or (attrs[a] and attrs[b] and not shared):
                    continue
                if _disagree(attrs[a], attrs[b], params.must_match):
                    continue
                overlap = len(shared) / len(union) if union else 0.0
                scored.append((0.5 * closeness + 0.5 * overlap, b, sorted(shared)))
            scored.sort(key=lambda t: (-t[0], t[1]))
            for score, b, common in scored[: params.substitutes_per_product]:
                g.add_edge(
                    node_id("product", a),
                    node_id("product", b),
                    key=SUBSTITUTE_FOR,
                    score=round(score, 4),
                    shared=[_key(s) for s in common],
                )


def _disagree(a: set[str], b: set[str], keys: tuple[str, ...]) -> bool:
    """Whether the two attribute sets state different values for one of `keys`."""
    for key in keys:
        prefix = f"{key}="
        values_a = {_key(x) for x in a if _key(x).startswith(prefix)}
        values_b = {_key(x) for x in b if _key(x).startswith(prefix)}
        if values_a and values_b and not values_a & values_b:
            return True
    return False


def _add_complements(
    g: nx.MultiDiGraph,
    inputs: _Inputs,
    category_of: Mapping[str, str],
    category_name: Mapping[str, str],
    params: GraphParams,
) -> None:
    baskets: dict[str, set[str]] = defaultdict(set)
    orders: Counter[str] = Counter()
    for order_id, pid in inputs.baskets:
        if pid in category_of:
            baskets[order_id].add(pid)
    for items in baskets.values():
        orders.update(items)
    for pid, count in orders.items():
        g.nodes[node_id("product", pid)]["orders"] = count
    for (a, b), (lift, support) in _lift_pairs(baskets, params.min_support).items():
        if category_of[a] == category_of[b]:
            continue  # two jackets in one order are a choice between them, not a look
        for x, y in ((a, b), (b, a)):
            g.add_edge(
                node_id("product", x),
                node_id("product", y),
                key=COMPLEMENTS,
                lift=round(lift, 4),
                support=support,
                confidence=round(support / orders[x], 4),
            )
    category_baskets = {
        order_id: {category_of[p] for p in items} for order_id, items in baskets.items()
    }
    for (a, b), (lift, support) in _lift_pairs(
        category_baskets, params.category_min_support
    ).items():
        for x, y in ((a, b), (b, a)):
            g.add_edge(
                node_id("category", x),
                node_id("category", y),
                key=COMPLEMENTS,
                rule="bought_together",
                lift=round(lift, 4),
                support=support,
            )
    for a, b in _accessory_rules(inputs.categories, category_name):
        g.nodes[node_id("category", b)]["accessory"] = True
        g.add_edge(
            node_id("category", a), node_id("category", b), key=COMPLEMENTS, rule="accessory"
        )


def _accessory_rules(
    categories: Sequence[tuple[str, str, str | None]], names: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(category, its accessory category): the named rules whose categories exist, and for a
    category named "... accessories", every other category under the same parent."""
    rules = [(a, b) for a, bs in ACCESSORY_RULES.items() for b in bs if a in names and b in names]
    for cid, name, parent in categories:
        if "accessor" in name.lower() and parent is not None:
            rules += [(other, cid) for other, _, p in categories if p == parent and other != cid]
    return sorted(set(rules))


# ---------------------------------------------------------------------------------------------
# Saving and loading


def _counts(g: nx.MultiDiGraph) -> tuple[dict[str, int], dict[str, int]]:
    nodes = Counter(kind for _, kind in g.nodes(data="kind"))
    edges = Counter(key for _, _, key in g.edges(keys=True))
    return dict(sorted(nodes.items())), dict(sorted(edges.items()))


def build_and_save(
    engine: Engine, settings: Settings, *, params: GraphParams | None = None, force: bool = False
) -> BuildReport:
    """Build the graph and make it the active version, unless the catalogue, orders, suppliers
    and policies are exactly those of the active version (then nothing is written)."""
    params = params or GraphParams()
    started = time.perf_counter()
    inputs = _read_inputs(engine)
    data_hash = inputs.digest(params)
    registry = ArtifactRegistry(settings.var_dir / "artifacts")
    current = _active_manifest(registry)
    if current is not None and current.data_hash == data_hash and not force:
        return BuildReport(
            version=current.version,
            data_hash=data_hash,
            rebuilt=False,
            nodes=current.metrics["nodes"],
            edges=current.metrics["edges"],
            seconds=round(time.perf_counter() - started, 4),
        )
    g = _build(inputs, params)
    nodes, edges = _counts(g)

    def write(folder: Path) -> None:
        data = nx.node_link_data(g, edges="edges")
        (folder / GRAPH_FILE).write_text(json.dumps(data, separators=(",", ":"), default=str))

    manifest = registry.save(
        name=ARTIFACT,
        kind="knowledge_graph",
        data_hash=data_hash,
        write=write,
        parameters={"format": FORMAT_VERSION, **_params_dict(params)},
        metrics={"nodes": nodes, "edges": edges},
    )
    return BuildReport(
        version=manifest.version,
        data_hash=data_hash,
        rebuilt=True,
        nodes=nodes,
        edges=edges,
        seconds=round(time.perf_counter() - started, 4),
    )


def _params_dict(params: GraphParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in params.__dataclass_fields__}


def _active_manifest(registry: ArtifactRegistry) -> Manifest | None:
    return registry.champion(ARTIFACT)


# ---------------------------------------------------------------------------------------------
# Querying


def sellable_at(engine: Engine, sku_ids: Iterable[str], location_id: str) -> dict[str, int]:
    """Sellable units (on hand minus reserved, above zero) of available SKUs at a location, read
    live from the inventory table."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                InventoryPosition.variant_id,
                InventoryPosition.on_hand - InventoryPosition.reserved,
            )
            .join(Variant, Variant.id == InventoryPosition.variant_id)
            .where(
                InventoryPosition.location_id == location_id,
                InventoryPosition.variant_id.in_(ids),
                InventoryPosition.on_hand - InventoryPosition.reserved > 0,
                Variant.available.is_(True),
            )
        ).all()
    return {str(v): int(n) for v, n in rows}


def prices_now(engine: Engine, sku_ids: Iterable[str]) -> dict[str, float]:
    """The price of each available SKU of `sku_ids`, read live: a markdown approved since the
    graph was built is the price an answer quotes and compares."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(Variant.id, Variant.price).where(
                Variant.id.in_(ids), Variant.available.is_(True)
            )
        ).all()
    return {str(v): float(p) for v, p in rows}


class KnowledgeGraph:
    """The active graph version, answering the tools' questions against the live inventory
    and prices."""

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        engine: Engine,
        version: str,
        max_price_ratio: float = GraphParams().max_price_ratio,
    ) -> None:
        self.graph = graph
        self.engine = engine
        self.version = version
        self.max_price_ratio = max_price_ratio

    @classmethod
    def load(cls, engine: Engine, settings: Settings) -> KnowledgeGraph:
        registry = ArtifactRegistry(settings.var_dir / "artifacts")
        manifest = _active_manifest(registry)
        if manifest is None:
            raise AisleError("No knowledge graph has been built yet; run `aisle kg build` first.")
        folder = registry.load(ARTIFACT, manifest.version)[1]
        data = json.loads((folder / GRAPH_FILE).read_text())
        graph = nx.node_link_graph(data, directed=True, multigraph=True, edges="edges")
        ratio = manifest.parameters.get("max_price_ratio", GraphParams().max_price_ratio)
        return cls(graph, engine, manifest.version, float(ratio))

    # -- what callers ask ---------------------------------------------------------------------

    def neighbors(
        self, sku: str, relation: str, *, store: str | None = None, k: int = 10
    ) -> NeighborsResult:
        """Ranked `relation` neighbours of `sku` ("substitutes", "complements" or
        "accessories"); with `store`, only those in stock there now."""
        if relation not in RELATIONS:
            raise AisleError(
                f"Unknown relation {relation!r}; choose one of {', '.join(RELATIONS)}."
            )
        if k < 1:
            raise AisleError(f"--k must be at least 1, not {k}.")
        source = self._sku(sku)
        if store is not None:
            self._check_store(store)
        find = {
            "substitutes": self.substitutes,
            "complements": self.complements,
            "accessories": self.accessories,
        }[relation]
        return NeighborsResult(
            sku=sku,
            name=self.graph.nodes[source]["name"],
            relation=relation,
            store=store,
            graph_version=self.version,
            neighbors=find(sku, store=store, k=k),
        )

    def substitutes(self, sku: str, *, store: str | None = None, k: int = 10) -> list[Neighbor]:
        """Other SKUs of the same product, then SKUs of substitute products (same category,
        close price, shared attributes), each weighted by how well its options match. Prices
        are today's: a product whose price moved beyond the price ratio since the build is no
        substitute now."""
        source = self._sku(sku)
        product = self._product_of(source)
        options = self.graph.nodes[source]["options"]
        alts = self._out(product, SUBSTITUTE_FOR)
        skus = {p: self._skus_of(p) for p in [product, *(alt for _, alt, _ in alts)]}
        prices = self._prices(s for group in skus.values() for s in group)
        lowest = {
            p: min((prices[s] for s in group if s in prices), default=None)
            for p, group in skus.items()
        }
        candidates: list[tuple[float, str, str, str, list[PathEdge]]] = []
        for _, other, data in self._out(source, SUBSTITUTE_FOR):
            candidates.append(
                (
                    data["score"],
                    other,
                    "same_product",
                    _options_reason(self.graph.nodes[other]["options"], options),
                    [self._edge(source, other, SUBSTITUTE_FOR)],
                )
            )
        ours = lowest[product]
        for _, alt, data in alts:
            theirs = lowest[alt]
            if ours is None or theirs is None or not self._close_in_price(ours, theirs):
                continue
            reason = self._substitute_reason(product, data, ours, theirs)
            for cand in skus[alt]:
                match = option_match(options, self.graph.nodes[cand]["options"])
                path = [
                    self._edge(source, product, IS_A),
                    self._edge(product, alt, SUBSTITUTE_FOR),
                    self._edge(cand, alt, IS_A),
                ]
                candidates.append(
                    (data["score"] * (0.7 + 0.3 * match), cand, "same_category", reason, path)
                )
        stock = self._stock([c[1] for c in candidates], store)
        found = []
        for score, cand, kind, reason, path in sorted(candidates, key=lambda c: (-c[0], c[1])):
            if cand not in prices or (store is not None and cand not in stock):
                continue
            found.append(self._neighbor(cand, score, kind, reason, path, store, stock, prices))
            if len(found) == k:
                break
        return found

    def complements(self, sku: str, *, store: str | None = None, k: int = 10) -> list[Neighbor]:
        """Products bought in the same orders with lift above 1 (highest lift first), then,
        when those run out, products of categories bought together or accessory categories."""
        source = self._sku(sku)
        product = self._product_of(source)
        ranked: list[tuple[float, str, str, str, list[PathEdge]]] = []
        for _, other, data in self._out(product, COMPLEMENTS):
            reason = (
                f"bought together in {data['support']} orders "
                f"(lift {data['lift']:.2f}, {data['confidence']:.0%} of its orders)"
            )
            path = [self._edge(source, product, IS_A), self._edge(product, other, COMPLEMENTS)]
            ranked.append((1.0 + data["lift"], other, "co_purchase", reason, path))
        seen = {other for _, other, *_ in ranked}
        ranked.sort(key=lambda c: (-c[0], c[1]))
        ranked += [c for c in self._category_picks(source, product, None) if c[1] not in seen]
        return self._products_to_skus(source, ranked, store, k)

    def accessories(self, sku: str, *, store: str | None = None, k: int = 10) -> list[Neighbor]:
        """Products of the SKU's accessory categories: co-purchased ones first, then those
        sharing the most attributes with it (colour, brand line ...), then the best sellers."""
        source = self._sku(sku)
        product = self._product_of(source)
        picks = self._category_picks(source, product, "accessory")
        return self._products_to_skus(source, picks, store, k)

    def edge_exists(self, edge: PathEdge) -> bool:
        """Whether `edge` is in the graph; a STOCKED_AT edge is checked against live stock."""
        if edge.relation == STOCKED_AT:
            sku, store = _key(edge.source), _key(edge.target)
            return sellable_at(self.engine, [sku], store).get(sku) == edge.properties["on_hand"]
        return bool(self.graph.has_edge(edge.source, edge.target, key=edge.relation))

    # -- helpers -------------------------------------------------------------------------------

    def _sku(self, sku: str) -> str:
        node = node_id("sku", sku)
        if node not in self.graph:
            raise NotFoundError(
                f"No available SKU {sku!r} in knowledge graph {self.version}; "
                "if it is new, run `aisle kg build`."
            )
        return node

    def _check_store(self, store: str) -> None:
        with self.engine.connect() as conn:
            kind = conn.execute(select(Location.kind).where(Location.id == store)).scalar()
        if kind not in SELLING_KINDS:
            raise NotFoundError(f"No store with id {store!r}.")

    def _out(self, node: str, relation: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (u, v, data)
            for u, v, key, data in self.graph.out_edges(node, keys=True, data=True)
            if key == relation
        ]

    def _in(self, node: str, relation: str) -> list[str]:
        return sorted(u for u, _, key in self.graph.in_edges(node, keys=True) if key == relation)

    def _product_of(self, sku_node: str) -> str:
        return node_id("product", self.graph.nodes[sku_node]["product_id"])

    def _category_of(self, product: str) -> str | None:
        cid = self.graph.nodes[product].get("category_id")
        return None if cid is None else node_id("category", cid)

    def _skus_of(self, product: str) -> list[str]:
        return [u for u in self._in(product, IS_A) if u.startswith("sku:")]

    def _edge(self, source: str, target: str, relation: str) -> PathEdge:
        data = self.graph.get_edge_data(source, target, key=relation)
        return PathEdge(source=source, relation=relation, target=target, properties=dict(data))

    def _stock(self, sku_nodes: Iterable[str], store: str | None) -> dict[str, int]:
        if store is None:
            return {}
        live = sellable_at(self.engine, (_key(s) for s in sku_nodes), store)
        return {node_id("sku", v): n for v, n in live.items()}

    def _prices(self, sku_nodes: Iterable[str]) -> dict[str, float]:
        return {
            node_id("sku", v): p for v, p in prices_now(self.engine, map(_key, sku_nodes)).items()
        }

    def _close_in_price(self, ours: float, theirs: float) -> bool:
        """The build's price-ratio rule, on today's prices."""
        return (
            ours > 0
            and theirs > 0
            and max(ours, theirs) / min(ours, theirs) <= (self.max_price_ratio)
        )

    def _substitute_reason(
        self, product: str, data: Mapping[str, Any], ours: float, theirs: float
    ) -> str:
        category = self._category_of(product)
        name = self.graph.nodes[category]["name"] if category else "its category"
        reason = f"same category ({name}), from ${theirs:.2f} vs ${ours:.2f}"
        if data.get("shared"):
            reason += ", also " + shared_words(data["shared"])
        return reason

    def _category_picks(
        self, source: str, product: str, rule: str | None
    ) -> list[tuple[float, str, str, str, list[PathEdge]]]:
        """Products of the categories that complement the product's category (by `rule`, or
        any), scored below every co-purchase: co-purchase lift if any, then shared attributes,
        then how often the product is bought."""
        category = self._category_of(product)
        if category is None:
            return []
        ours = self._attributes(product)
        picks = []
        for _, other_category, rule_data in self._out(category, COMPLEMENTS):
            if rule is not None and rule_data.get("rule") != rule:
                continue
            for other in self._in(other_category, IS_A):
                if not other.startswith("product:"):
                    continue
                theirs = self._attributes(other)
                overlap = len(ours & theirs) / len(ours | theirs) if ours | theirs else 0.0
                bought = self.graph.get_edge_data(product, other, key=COMPLEMENTS)
                score = (
                    overlap
                    + 0.1 * math.log1p(self.graph.nodes[other].get("orders", 0))
                    + (bought["lift"] if bought else 0.0)
                )
                path = [
                    self._edge(source, product, IS_A),
                    self._edge(product, category, IS_A),
                    self._edge(category, other_category, COMPLEMENTS),
                    self._edge(other, other_category, IS_A),
                ]
                kind = "accessory" if rule_data.get("rule") == "accessory" else "category_rule"
                reason = (
                    f"{self.graph.nodes[other_category]['name']} "
                    + (
                        "is an accessory of "
                        if kind == "accessory"
                        else f"is bought with (lift {rule_data['lift']:.2f}) "
                    )
                    + self.graph.nodes[category]["name"]
                )
                picks.append((score, other, kind, reason, path))
        # One category can complement through two rules; the product is suggested once.
        best: dict[str, tuple[float, str, str, str, list[PathEdge]]] = {}
        for pick in sorted(picks, key=lambda c: (-c[0], c[1])):
            best.setdefault(pick[1], pick)
        return list(best.values())

    def _attributes(self, product: str) -> set[str]:
        found = {v for _, v, _ in self._out(product, HAS_ATTRIBUTE)}
        for sku in self._skus_of(product):
            found |= {v for _, v, _ in self._out(sku, HAS_ATTRIBUTE)}
        return found

    def _products_to_skus(
        self,
        source: str,
        ranked: Sequence[tuple[float, str, str, str, list[PathEdge]]],
        store: str | None,
        k: int,
    ) -> list[Neighbor]:
        """Each suggested product as one SKU: with a store, the one with most units there (a
        product with none there is skipped); without, the one whose options best match."""
        options = self.graph.nodes[source]["options"]
        found: list[Neighbor] = []
        # Stock is read for a pool of products at a time: a store lacks some of them.
        pool = max(4 * k, 20)
        for start in range(0, len(ranked), pool):
            chunk = ranked[start : start + pool]
            skus = {c[1]: self._skus_of(c[1]) for c in chunk}
            stock = self._stock((s for group in skus.values() for s in group), store)
            prices = self._prices(s for group in skus.values() for s in group)
            for score, product, kind, reason, path in chunk:
                group = [s for s in skus[product] if s in prices]
                if store is not None:
                    group = [s for s in group if s in stock]
                if not group:
                    continue
                best = max(
                    group,
                    key=lambda s: (
                        stock.get(s, 0),
                        option_match(options, self.graph.nodes[s]["options"]),
                        s,
                    ),
                )
                full = [*path, self._edge(best, product, IS_A)]
                found.append(self._neighbor(best, score, kind, reason, full, store, stock, prices))
                if len(found) == k:
                    return found
        return found

    def _neighbor(
        self,
        sku_node: str,
        score: float,
        kind: str,
        reason: str,
        path: list[PathEdge],
        store: str | None,
        stock: Mapping[str, int],
        prices: Mapping[str, float],
    ) -> Neighbor:
        node = self.graph.nodes[sku_node]
        product = self.graph.nodes[node_id("product", node["product_id"])]
        on_hand = None
        if store is not None:
            on_hand = stock[sku_node]
            store_node = node_id("store", store)
            path = [
                *path,
                PathEdge(
                    source=sku_node,
                    relation=STOCKED_AT,
                    target=store_node,
                    properties={"on_hand": on_hand, "live": True},
                ),
            ]
            store_name = (
                self.graph.nodes[store_node].get("name") if store_node in self.graph else None
            )
            reason += f"; {on_hand} in stock at {store_name or store}"
        return Neighbor(
            sku=_key(sku_node),
            product_id=node["product_id"],
            name=node["name"],
            category_id=product.get("category_id"),
            price=prices[sku_node],
            score=round(score, 4),
            source=kind,
            reason=reason,
            on_hand=on_hand,
            path=path,
        )


def _options_reason(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    differs = [f"{k} {theirs[k]}" for k in sorted(theirs) if theirs.get(k) != ours.get(k)]
    return "same product" + (", " + ", ".join(differs) if differs else "")


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def shared_words(shared: Sequence[str]) -> str:
    """Attributes two products share ("gender=men's", "size=10", "size=11") in words: "men's
    and in sizes 10 and 11"."""
    values: dict[str, list[str]] = defaultdict(list)
    flags: list[str] = []  # attributes with no value ("waterproof")
    for item in shared:
        key, has_value, value = item.partition("=")
        if has_value:
            values[key].append(value)
        else:
            flags.append(key.replace("_", " "))
    parts = []
    for key, said in values.items():
        if key == "size":
            sizes = sorted(said, key=size_order)
            parts.append(f"in size{'s' if len(sizes) > 1 else ''} {_and(sizes)}")
        elif key in ("color", "colour"):
            parts.append(f"in {_and(said)}")
        elif key == "gender":
            parts.append(_and(said))
        else:
            parts.append(f"{key.replace('_', ' ')} {_and(said)}")
    return _and([*parts, *flags])
