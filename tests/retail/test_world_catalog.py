"""The synthetic catalogue, its review text and the store policies: determinism, integrity of
ids and prices, consistency of the text with the attributes, and concrete policy rules."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from statistics import mean

import numpy as np
import pytest

from retail.world.catalog import (
    APPAREL_SIZE_CHART,
    REVIEW_TITLES,
    Catalog,
    ProductSpec,
    generate_catalog,
    generate_reviews,
    sentiment_of,
)
from retail.world.policies import (
    EXPRESS_SHIPPING_FEE,
    FREE_SHIPPING_THRESHOLD,
    LOYALTY_TIERS,
    RETURN_WINDOW_DAYS,
    STORE_POLICIES,
    policy_by_id,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZED_DEPARTMENTS = ("apparel", "footwear")
SIZED_CATEGORIES = ("fitness-leggings",)  # activewear sits in Fitness but is sized like apparel


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(np.random.default_rng(2024), 3000)


def _department(catalog: Catalog, product: ProductSpec) -> str:
    parent = {c.id: c.parent_id for c in catalog.categories}
    return str(parent[product.category_id])


def _is_sized(catalog: Catalog, product: ProductSpec) -> bool:
    return (
        _department(catalog, product) in SIZED_DEPARTMENTS
        or product.category_id in SIZED_CATEGORIES
    )


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])(?<!Co\.)\s+(?=[A-Z0-9])", text.strip()) if s]


# ------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_catalogue_and_different_seed_does_not() -> None:
    a = generate_catalog(np.random.default_rng(7), 400)
    b = generate_catalog(np.random.default_rng(7), 400)
    c = generate_catalog(np.random.default_rng(8), 400)
    assert a == b
    assert a.products != c.products
    assert [p.name for p in a.products] != [p.name for p in c.products]


def test_catalogue_does_not_depend_on_the_process_hash_seed() -> None:
    # Iterating a set of strings would make the output depend on PYTHONHASHSEED.
    script = (
        "import hashlib, numpy as np\n"
        "from retail.world.catalog import generate_catalog, generate_reviews\n"
        "c = generate_catalog(np.random.default_rng(5), 150)\n"
        "r = [generate_reviews(np.random.default_rng(i), p, 3, 4.0)"
        " for i, p in enumerate(c.products)]\n"
        "print(hashlib.sha256(repr((c, r)).encode()).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_reviews_are_deterministic(catalog: Catalog) -> None:
    product = catalog.products[0]
    a = generate_reviews(np.random.default_rng(3), product, 20, 4.1)
    b = generate_reviews(np.random.default_rng(3), product, 20, 4.1)
    assert a == b
    assert a != generate_reviews(np.random.default_rng(4), product, 20, 4.1)


# ------------------------------------------------------------------------------- structure


def test_department_and_category_tree(catalog: Catalog) -> None:
    assert 4 <= len(catalog.departments) <= 6
    assert 25 <= len(catalog.categories) <= 30
    dept_ids = {d.id for d in catalog.departments}
    assert all(d.parent_id is None for d in catalog.departments)
    per_dept = Counter(c.parent_id for c in catalog.categories)
    assert set(per_dept) == dept_ids
    assert all(4 <= n <= 7 for n in per_dept.values())
    ids = [c.id for c in (*catalog.departments, *catalog.categories)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)


def test_demand_parameters_are_in_range_and_seasonally_sensible(catalog: Catalog) -> None:
    for c in catalog.categories:
        assert 1 <= c.season_peak_doy <= 365
        assert 0.0 <= c.season_amplitude <= 0.9
        assert 1.0 <= c.weekend_lift <= 1.6
        assert -3.5 <= c.elasticity_mean <= -0.8
        assert 0.2 <= c.base_daily_units <= 6.0
    peak = {c.id: c.season_peak_doy for c in catalog.categories}
    winter = ("apparel-jackets", "footwear-winter-boots", "apparel-base-layers")
    summer = ("apparel-swimwear", "footwear-sandals", "outdoor-coolers", "outdoor-tents")
    assert all(peak[c] >= 300 or peak[c] <= 40 for c in winter)
    assert all(140 <= peak[c] <= 220 for c in summer)
    assert all(peak[c.id] <= 40 for c in catalog.categories if c.parent_id == "fitness")
    assert all(peak[c.id] >= 320 for c in catalog.categories if c.parent_id == "electronics")


def test_brands_have_tiers_and_every_brand_is_used(catalog: Catalog) -> None:
    assert 25 <= len(catalog.brands) <= 40
    assert {b.tier for b in catalog.brands} == {"value", "core", "premium"}
    assert len({b.id for b in catalog.brands}) == len(catalog.brands)
    used = {p.brand_id for p in catalog.products}
    assert used == {b.id for b in catalog.brands}


def test_every_product_is_in_a_leaf_category_and_a_known_brand(catalog: Catalog) -> None:
    leaves = {c.id for c in catalog.categories}
    brands = {b.id for b in catalog.brands}
    for p in catalog.products:
        assert p.category_id in leaves
        assert p.brand_id in brands


def test_categories_get_products_in_rough_proportion(catalog: Catalog) -> None:
    counts = Counter(p.category_id for p in catalog.products)
    assert set(counts) == {c.id for c in catalog.categories}
    # Weights range from 2 to 5 over 30 leaves, so each gets roughly 2%-6% of the products.
    assert all(0.01 <= n / 3000 <= 0.08 for n in counts.values())
    # Interleaved, not blocked: the first 100 ids already span most categories.
    assert len({p.category_id for p in catalog.products[:100]}) >= 20


def test_small_catalogues_still_cover_every_category() -> None:
    small = generate_catalog(np.random.default_rng(1), 30)
    assert len(small.products) == 30
    assert {p.category_id for p in small.products} == {c.id for c in small.categories}
    assert generate_catalog(np.random.default_rng(1), 0).products == ()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        generate_catalog(np.random.default_rng(1), -1)
    with pytest.raises(TypeError):
        generate_catalog(np.random.RandomState(1), 10)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- identity


def test_ids_names_and_skus_are_unique(catalog: Catalog) -> None:
    ids = [p.id for p in catalog.products]
    assert ids == [f"P{i:05d}" for i in range(1, 3001)]
    names = [p.name for p in catalog.products]
    assert len(set(names)) == len(names)
    skus = [v.sku for p in catalog.products for v in p.variants]
    assert len(set(skus)) == len(skus)
    for p in catalog.products:
        assert all(v.sku.startswith(f"{p.id}-") for v in p.variants)
        assert len({tuple(sorted(v.options.items())) for v in p.variants}) == len(p.variants)


def test_names_stay_unique_at_five_thousand_products() -> None:
    big = generate_catalog(np.random.default_rng(99), 5000)
    names = [p.name for p in big.products]
    assert len(set(names)) == 5000
    models = [p.attributes["model"] for p in big.products if "model" in p.attributes]
    assert len(models) > 2000
    assert len(set(models)) == len(models)


def test_names_start_with_the_brand_and_end_with_the_product_type(catalog: Catalog) -> None:
    brand_name = {b.id: b.name for b in catalog.brands}
    for p in catalog.products:
        assert p.name.startswith(brand_name[p.brand_id] + " ")
        assert p.name.endswith(" " + p.product_type)


# ------------------------------------------------------------------------------- variants


def test_variant_counts_and_shares(catalog: Catalog) -> None:
    counts = [len(p.variants) for p in catalog.products]
    assert min(counts) >= 1
    assert max(counts) <= 15
    assert 3.5 <= mean(counts) <= 7.0
    for p in catalog.products:
        assert sum(v.size_share for v in p.variants) == pytest.approx(1.0)
        assert all(v.size_share > 0 for v in p.variants)
        for v in p.variants:
            assert all(k == k.lower() for k in v.options)


def test_apparel_size_shares_peak_at_medium_and_large(catalog: Catalog) -> None:
    share: Counter[str] = Counter()
    for p in catalog.products:
        for v in p.variants:
            if v.options.get("size") in APPAREL_SIZE_CHART["men's"]:
                share[v.options["size"]] += v.size_share
    top_two = {s for s, _ in share.most_common(2)}
    assert top_two == {"M", "L"}


def test_footwear_uses_numeric_sizes_and_tents_use_capacity(catalog: Catalog) -> None:
    for p in catalog.products:
        if p.category_id.startswith("footwear-") and p.category_id != "footwear-socks":
            for v in p.variants:
                assert 5 <= float(v.options["size"]) <= 13
        if p.category_id == "outdoor-tents":
            assert all(re.fullmatch(r"\d+P", v.options["capacity"]) for v in p.variants)
        if p.category_id == "home-water-bottles":
            assert all(v.options["capacity"].endswith(" oz") for v in p.variants)


def test_prices_and_costs(catalog: Catalog) -> None:
    for p in catalog.products:
        assert p.base_price == round(p.base_price, 2)
        for v in p.variants:
            assert v.price == round(v.price, 2)
            assert v.unit_cost == round(v.unit_cost, 2)
            assert 0.9 * p.base_price - 0.01 <= v.price <= 1.1 * p.base_price + 0.01
            assert 0 < v.unit_cost < v.price
            assert 0.35 <= v.unit_cost / v.price <= 0.65


def test_prices_are_plausible_per_category_and_tier(catalog: Catalog) -> None:
    ranges = {
        "apparel-tshirts": (11, 46),
        "apparel-jackets": (69, 381),
        "outdoor-tents": (119, 651),
        "electronics-headphones": (29, 351),
    }
    for p in catalog.products:
        if p.category_id in ranges:
            lo, hi = ranges[p.category_id]
            assert lo <= p.base_price <= hi, (p.name, p.base_price)
    tier = {b.id: b.tier for b in catalog.brands}
    by_tier: dict[str, list[float]] = {"value": [], "premium": []}
    for p in catalog.products:
        if p.category_id == "apparel-jackets" and tier[p.brand_id] in by_tier:
            by_tier[tier[p.brand_id]].append(p.base_price)
    assert mean(by_tier["premium"]) > 1.5 * mean(by_tier["value"])


def test_elasticity_and_popularity(catalog: Catalog) -> None:
    elasticities = [p.elasticity for p in catalog.products]
    assert all(-4.0 <= e <= -0.5 for e in elasticities)
    assert np.std(elasticities) > 0.2
    popularity = [p.popularity for p in catalog.products]
    assert all(x > 0 for x in popularity)
    assert 0.85 <= mean(popularity) <= 1.15
    # Products scatter around their category's mean elasticity.
    cat_mean = {c.id: c.elasticity_mean for c in catalog.categories}
    gaps = [p.elasticity - cat_mean[p.category_id] for p in catalog.products]
    assert abs(mean(gaps)) < 0.15


# ------------------------------------------------------------------------------- text


def test_sized_products_have_a_size_guide_listing_their_sizes(catalog: Catalog) -> None:
    for p in catalog.products:
        if _is_sized(catalog, p):
            assert p.size_guide is not None, p.name
            for v in p.variants:
                assert f"\n{v.options['size']} |" in p.size_guide
            if p.category_id != "footwear-socks":  # socks are sized by shoe size, no fit note
                assert p.attributes["sizing"] in ("true to size", "runs small", "runs large")
        elif _department(catalog, p) in ("electronics", "fitness", "home-kitchen"):
            assert p.size_guide is None


def test_size_guide_states_the_products_fit_note(catalog: Catalog) -> None:
    for p in catalog.products:
        if p.size_guide and "sizing" in p.attributes:
            if p.attributes["sizing"] == "runs small":
                assert "runs small" in p.size_guide.lower()
            if p.attributes["sizing"] == "true to size":
                assert "true to size" in p.size_guide.lower()


def test_descriptions_are_three_to_six_varied_sentences(catalog: Catalog) -> None:
    for p in catalog.products:
        assert 3 <= len(_sentences(p.description)) <= 6, p.description
        assert "{" not in p.description and "}" not in p.description
    openings = Counter(" ".join(p.description.split()[:2]) for p in catalog.products)
    assert len(openings) > 50
    assert len({p.description for p in catalog.products}) == len(catalog.products)


def test_text_claims_waterproof_only_when_the_attributes_say_so(catalog: Catalog) -> None:
    claimed = 0
    for p in catalog.products:
        text = f"{p.name} {p.description} {' '.join(p.features)}".lower()
        if "waterproof" in text:
            assert p.attributes.get("waterproof") == "yes", p.name
            claimed += 1
        if p.attributes.get("waterproof") == "no":
            assert "waterproof" not in p.name.lower()
    assert claimed > 100


def test_text_uses_the_real_attributes(catalog: Catalog) -> None:
    for p in catalog.products:
        for said in re.findall(r"(?:made from|Built from) ([^.,]+)", p.description):
            assert said == p.attributes["material"], (p.name, p.description)
        if "insulated" in p.name.lower().split():
            assert p.attributes.get("insulated", "yes") == "yes"
        if "noise-cancelling" in p.name.lower():
            assert p.attributes["noise cancelling"] == "yes"
        if "temperature rating" in p.attributes and "rated to" in p.description:
            assert p.attributes["temperature rating"] in p.description
    quoted = [p for p in catalog.products if "model" in p.attributes]
    assert any(p.attributes["model"] in p.description for p in quoted)


def test_every_product_has_materials_care_and_features(catalog: Catalog) -> None:
    for p in catalog.products:
        assert p.materials and p.care
        assert 1 <= len(p.features) <= 6
        assert len(set(p.features)) == len(p.features)


# ------------------------------------------------------------------------------- reviews


def test_review_titles_are_disjoint_per_sentiment_bucket() -> None:
    buckets = list(REVIEW_TITLES.values())
    for i, a in enumerate(buckets):
        for b in buckets[i + 1 :]:
            assert not set(a) & set(b)
    assert [sentiment_of(r) for r in range(1, 6)] == [
        "negative",
        "negative",
        "mixed",
        "positive",
        "positive",
    ]


def test_review_text_matches_the_rating(catalog: Catalog) -> None:
    rng = np.random.default_rng(11)
    negative_markers = (
        "returned it",
        "sending it back",
        "save your money",
        "disappointed",
        "would not buy",
    )
    positive_markers = ("love", "highly recommend", "would buy again", "exceeded", "thrilled")
    for p in catalog.products[:400]:
        for r in generate_reviews(rng, p, 6, 3.5):
            assert 1 <= r.rating <= 5
            bucket = sentiment_of(r.rating)
            assert r.title in REVIEW_TITLES[bucket]
            body = r.body.lower()
            if bucket == "positive":
                assert not any(m in body for m in negative_markers), r
            if bucket == "negative":
                assert not any(m in body for m in positive_markers), r
            if bucket == "mixed":
                assert any(c in r.body for c in ("However, ", "That said, ", "downside", "But "))
            assert 1 <= len(_sentences(r.body)) <= 4, r.body
            assert "{" not in r.body
            assert re.fullmatch(r"[A-Z][a-z]+ [A-Z]\.", r.author)


def test_reviews_refer_to_the_products_real_attributes(catalog: Catalog) -> None:
    rng = np.random.default_rng(12)
    for p in catalog.products[:1500]:
        for r in generate_reviews(rng, p, 4, 3.0):
            body = r.body.lower()
            if "runs small" in body or "run a touch small" in body:
                assert p.attributes.get("sizing") == "runs small", (p.name, r.body)
            if "runs large" in body:
                assert p.attributes.get("sizing") == "runs large", (p.name, r.body)
            if "dry in a downpour" in body or "wetted out" in body:
                assert p.attributes.get("waterproof") == "yes"
            if "noise cancelling" in body:
                assert p.attributes.get("noise cancelling") == "yes"
            if "the lid has never leaked" in body:
                assert "leakproof lid" in p.features


def test_ratings_centre_on_the_requested_mean(catalog: Catalog) -> None:
    product = catalog.products[5]
    for target in (2.0, 3.5, 4.4):
        ratings = [
            r.rating for r in generate_reviews(np.random.default_rng(1), product, 3000, target)
        ]
        assert abs(mean(ratings) - target) < 0.1
        assert set(ratings) <= {1, 2, 3, 4, 5}
    assert generate_reviews(np.random.default_rng(1), product, 0, 4.0) == []


def test_reviews_refuse_a_product_from_outside_the_catalogue(catalog: Catalog) -> None:
    stranger = dataclasses.replace(catalog.products[0], category_id="garden-gnomes")
    with pytest.raises(ValueError, match="garden-gnomes"):
        generate_reviews(np.random.default_rng(1), stranger, 3, 4.0)


# ------------------------------------------------------------------------------- policies


def test_policies_have_unique_ids_and_substance() -> None:
    ids = [p.id for p in STORE_POLICIES]
    assert len(ids) == len(set(ids))
    required = {
        "returns",
        "exchanges",
        "shipping",
        "price-match",
        "warranty",
        "loyalty",
        "privacy",
        "faq-sizing",
    }
    assert required <= set(ids)
    for p in STORE_POLICIES:
        assert p.title and p.body.startswith("# ")
        assert len(p.body) > 800
        assert "{" not in p.body and "}" not in p.body
    with pytest.raises(KeyError):
        policy_by_id("no-such-policy")


def test_return_policy_states_the_concrete_windows() -> None:
    body = policy_by_id("returns").body
    assert RETURN_WINDOW_DAYS == {"Member": 30, "Silver": 45, "Gold": 60}
    for days in RETURN_WINDOW_DAYS.values():
        assert f"{days} days" in body
    assert "5-7 business days" in body
    assert "Clearance" in body and "Final Sale" in body
    assert "gift card" in body.lower() and "immediately" in body


def test_shipping_and_loyalty_rules_match_the_constants() -> None:
    shipping = policy_by_id("shipping").body
    assert f"${FREE_SHIPPING_THRESHOLD:.0f}" in shipping
    assert f"${EXPRESS_SHIPPING_FEE:.2f}" in shipping
    assert "3-5 business days" in shipping and "1-2 business days" in shipping
    loyalty = policy_by_id("loyalty").body
    for tier in LOYALTY_TIERS:
        assert f"| {tier.name} |" in loyalty
        assert f"{tier.return_days} days" in loyalty
    assert "14 days" in policy_by_id("price-match").body


def test_policies_name_only_brands_the_catalogue_sells(catalog: Catalog) -> None:
    warranty = policy_by_id("warranty").body
    names = {b.name for b in catalog.brands}
    for mentioned in ("Fjellvik", "Northpeak", "Ember & Oak", "Trailpulse", "Sonora Audio"):
        assert mentioned in warranty and mentioned in names


def test_sizing_faq_quotes_the_same_chart_as_the_size_guides(catalog: Catalog) -> None:
    faq = policy_by_id("faq-sizing").body
    for chart in APPAREL_SIZE_CHART.values():
        for size, row in chart.items():
            assert f"| {size} | " + " | ".join(row.values()) + " |" in faq
    guides = [p.size_guide for p in catalog.products if p.category_id == "apparel-jackets"]
    assert any("M | 38-40 | 32-34" in (g or "") for g in guides)
