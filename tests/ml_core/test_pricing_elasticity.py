"""Elasticity recovery on synthetic panels whose true elasticities and confounders are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.pricing.elasticity import (
    CATEGORY_PRIOR,
    DML,
    DMLElasticity,
    NaiveOLSElasticity,
    Season,
    TooLittleDataError,
    random_effects_pool,
    shrink,
)


def synthetic_panel(
    *, items: int = 24, weeks: int = 156, seed: int = 0, sparse_item: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Weekly sales where promotions cut prices *and* lift demand (display), and prices are
    raised in peak season: both bias a naive log-log regression."""
    rng = np.random.default_rng(seed)
    truth = pd.Series(
        -2.0 + 0.3 * rng.standard_normal(items), index=[f"I{i:02d}" for i in range(items)]
    )
    periods = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    season = 0.5 * np.cos(2 * np.pi * np.arange(weeks) / 52.0)
    rows = []
    for i, (item, e) in enumerate(truth.items()):
        promo = (rng.random(weeks) < 0.15).astype(float)
        log_price = -0.2 * promo + 0.15 * season + 0.05 * rng.standard_normal(weeks)
        mu = np.exp(np.log(60) + e * log_price + 0.8 * season + np.log(1.4) * promo)
        qty = rng.poisson(mu)
        keep = slice(weeks - 10, weeks) if sparse_item and i == 0 else slice(0, weeks)
        rows.append(
            pd.DataFrame(
                {
                    "item": item,
                    "group": f"G{i % 2}",
                    "period": periods[keep],
                    "qty": qty[keep],
                    "log_price": log_price[keep],
                    "promo": promo[keep],
                }
            )
        )
    return pd.concat(rows, ignore_index=True), truth


def test_dml_recovers_the_elasticity_that_naive_ols_gets_wrong() -> None:
    panel, truth = synthetic_panel()
    dml = DMLElasticity().fit(panel, controls=("promo",)).items_.set_index("item")
    naive = NaiveOLSElasticity().fit(panel).items_.set_index("item")
    dml_error = (dml["elasticity"] - truth).mean()
    naive_error = (naive["elasticity"] - truth).mean()
    assert abs(dml_error) < 0.1
    assert abs(naive_error) > 0.3, "confounding should bias the naive regression"
    assert (dml["method"] == DML).all() and (naive["method"] == "ols-fe").all()


def test_intervals_cover_the_truth() -> None:
    panel, truth = synthetic_panel(items=40, seed=3)
    items = DMLElasticity().fit(panel, controls=("promo",)).items_.set_index("item")
    covered = (items["lower"] <= truth) & (truth <= items["upper"])
    assert covered.mean() >= 0.85
    assert (items["upper"] > items["lower"]).all()


def test_a_sparse_item_is_shrunk_toward_its_category() -> None:
    panel, _ = synthetic_panel(sparse_item=True, seed=5)
    items = DMLElasticity().fit(panel, controls=("promo",)).items_.set_index("item")
    sparse, dense = items.loc["I00"], items.drop("I00")
    assert sparse["n_periods"] == 10
    assert sparse["shrinkage_weight"] < dense["shrinkage_weight"].min()
    groups = items.groupby("group")["raw_elasticity"].mean()
    group_mean = groups[sparse["group"]]
    assert abs(sparse["elasticity"] - group_mean) <= abs(sparse["raw_elasticity"] - group_mean)


def test_an_item_without_price_variation_gets_the_category_prior() -> None:
    panel, _ = synthetic_panel(items=6)
    panel.loc[panel["item"] == "I00", "log_price"] = 0.0
    items = DMLElasticity().fit(panel, controls=("promo",)).items_.set_index("item")
    assert items.loc["I00", "method"] == CATEGORY_PRIOR
    assert np.isnan(items.loc["I00", "raw_elasticity"])


def test_constant_prices_are_too_little_data() -> None:
    panel, _ = synthetic_panel(items=4, weeks=30)
    panel["log_price"] = 0.0
    with pytest.raises(TooLittleDataError, match="too little data"):
        DMLElasticity().fit(panel)


def test_shrinkage_weights_follow_the_standard_errors() -> None:
    pool = random_effects_pool(np.array([-1.0, -2.0, -3.0]), np.array([0.1, 0.1, 0.1]))
    assert pool is not None and pool.tau2 > 0
    precise = shrink(-4.0, 0.05, pool)
    noisy = shrink(-4.0, 2.0, pool)
    assert precise[2] > noisy[2]
    assert abs(noisy[0] - pool.mean) < abs(precise[0] - pool.mean)


def test_daily_poisson_fit_recovers_elasticity_from_small_counts() -> None:
    """A few units a day (many zeros, where log1p would attenuate the slope), promotions of
    varying depth with a display lift the promo control must absorb."""
    rng = np.random.default_rng(7)
    days = pd.date_range("2024-01-01", periods=364, freq="D")
    frames = []
    for i in range(12):
        promo = (rng.random(len(days)) < 0.1).astype(float)
        depth = rng.choice([0.1, 0.2, 0.3], len(days))
        log_price = np.log1p(-depth * promo) + 0.03 * rng.standard_normal(len(days))
        mu = np.exp(np.log(3.0) - 2.0 * log_price + np.log(1.3) * promo)
        frames.append(
            pd.DataFrame(
                {
                    "item": f"I{i:02d}",
                    "group": f"G{i % 2}",
                    "period": days,
                    "qty": rng.poisson(mu),
                    "log_price": log_price,
                    "promo": promo,
                }
            )
        )
    model = DMLElasticity().fit(pd.concat(frames, ignore_index=True), controls=("promo",))
    items = model.items_
    assert model.info_["frequency"] == "daily"
    assert abs(items["elasticity"].mean() + 2.0) < 0.15
    assert abs(model.info_["control_slopes"]["promo"] - np.log(1.3)) < 0.1
    # Per-item (unpooled) intervals: with one true slope for all, pooled ones move together.
    z = (items["raw_elasticity"] + 2.0) / items["raw_se"]
    assert (z.abs() <= 1.96).mean() >= 0.75


@pytest.mark.parametrize("season", ["weeks", "yearly"])
def test_noise_free_demand_gives_back_every_items_elasticity(season: Season) -> None:
    """Daily demand exactly log-linear in price, with a shared promotion calendar, a season per
    group (weekly steps, or a smooth yearly curve) and chain-wide holiday spikes: the fixed
    effects span items (period, group season), so each item's slope must be fitted against the
    others' rows too, and then comes back."""
    rng = np.random.default_rng(2)
    days = pd.date_range("2024-01-01", periods=420, freq="D")
    week = np.arange(len(days)) // 7  # 2024-01-01 is a Monday
    angle = 2 * np.pi * days.day_of_year.to_numpy() / 365.25
    holidays = np.where(rng.random(len(days)) < 0.03, np.log(1.8), 0.0)
    truth, frames = {}, []
    for g in range(4):
        if season == "weeks":
            seasonal = 0.4 * np.cos(2 * np.pi * (week - 13 * g) / 52)
        else:
            seasonal = 0.4 * np.cos(angle - g) + 0.1 * np.sin(2 * angle)
        promo_days = np.zeros(len(days))
        for start in rng.choice(len(days) - 10, 6, replace=False):
            promo_days[start : start + 7] = 1.0
        for i in range(4):
            item = f"G{g}I{i}"
            truth[item] = -3.0 + 2.0 * rng.random()
            log_price = np.zeros(len(days))
            log_price[int(rng.integers(30, 400)) :] += rng.choice([-0.1, 0.08])
            on_promo = promo_days * (i % 2)  # half the group joins each promotion
            log_price += np.log1p(-rng.choice([0.1, 0.2, 0.3]) * on_promo)
            mu = np.exp(
                np.log(5.0 + i) + truth[item] * log_price + seasonal + holidays + 0.12 * on_promo
            )
            frames.append(
                pd.DataFrame(
                    {
                        "item": item,
                        "group": f"G{g}",
                        "period": days,
                        "qty": mu,
                        "log_price": log_price,
                        "promo": on_promo,
                    }
                )
            )
    panel = pd.concat(frames, ignore_index=True)
    model = DMLElasticity(season=season).fit(panel, controls=("promo",))
    raw = model.items_.set_index("item")["raw_elasticity"]
    assert np.abs(raw - pd.Series(truth)).max() < 1e-3
    assert abs(model.info_["control_slopes"]["promo"] - 0.12) < 1e-3


def tiered_panel(seed: int = 3) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Weekly sales of items whose brand tier moves their elasticity (premium +0.5, value -0.5),
    with little price variation each (one or two short promotions), so a prior that knows the
    tier matters; and one premium item whose price never moves."""
    rng = np.random.default_rng(seed)
    weeks, n = 104, 48
    tiers = pd.Series(
        np.array(["value", "core", "premium"])[np.arange(n) % 3],
        index=[f"T{i:02d}" for i in range(n)],
    )
    shift = tiers.map({"value": -0.5, "core": 0.0, "premium": 0.5})
    truth = -2.0 + shift + 0.1 * rng.standard_normal(n)
    periods = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    rows = []
    for i, (item, e) in enumerate(truth.items()):
        cut = np.zeros(weeks)
        if i != n - 1:
            for start in rng.choice(weeks - 2, size=2, replace=False):
                cut[start : start + 2] = 0.2
        log_price = np.log(1 - cut)
        qty = rng.poisson(np.exp(np.log(30) + e * log_price))
        rows.append(
            pd.DataFrame(
                {
                    "item": item,
                    "group": f"G{i % 4}",
                    "period": periods,
                    "qty": qty,
                    "log_price": log_price,
                }
            )
        )
    return pd.concat(rows, ignore_index=True), truth, tiers


def test_item_features_shift_the_prior_and_cut_the_error() -> None:
    panel, truth, tiers = tiered_panel()
    features = tiers.to_frame("tier")
    plain = DMLElasticity().fit(panel).items_.set_index("item")
    model = DMLElasticity().fit(panel, item_features=features)
    tiered = model.items_.set_index("item")
    slopes = model.overall_["prior_features"]
    # Levels are measured against the most common one (ties: the first seen), so the slopes
    # are differences between tiers: premium minus value is +1.0 in truth.
    assert set(slopes) == {"tier=premium", "tier=value"} or set(slopes) == {
        "tier=core",
        "tier=premium",
    }
    premium = tiered.loc[tiers.index[tiers == "premium"], "prior_shift"].mean()
    value = tiered.loc[tiers.index[tiers == "value"], "prior_shift"].mean()
    assert 0.7 < premium - value < 1.3
    plain_mae = (plain["elasticity"] - truth).abs().mean()
    tiered_mae = (tiered["elasticity"] - truth).abs().mean()
    assert tiered_mae < 0.75 * plain_mae
    # The premium item whose price never moved gets its group's mean plus the premium shift.
    still = tiers.index[-1]
    assert tiered.loc[still, "method"] == CATEGORY_PRIOR
    assert abs(tiered.loc[still, "elasticity"] - truth[still]) < 0.3
    assert abs(plain.loc[still, "elasticity"] - truth[still]) > 0.3


def test_items_without_features_sit_at_the_features_mean() -> None:
    panel, _, tiers = tiered_panel()
    known = tiers.iloc[:-6].to_frame("tier")
    items = DMLElasticity().fit(panel, item_features=known).items_.set_index("item")
    unknown = items.loc[tiers.index[-6:], "prior_shift"]
    assert np.allclose(unknown, 0.0, atol=1e-9)
    assert items.loc[tiers.index[:-6], "prior_shift"].abs().min() > 0.1


def test_a_feature_that_never_varies_within_a_group_widens_no_interval() -> None:
    """Each category holds one brand tier, so the tiers' slopes rest on nothing but rounding
    noise: the prior must leave them out, not invert the noise (it once gave intervals of
    +-7e15 on the pricing page)."""
    panel, _, tiers = tiered_panel()
    panel["group"] = panel["item"].map(tiers)
    plain = DMLElasticity().fit(panel).items_.set_index("item")
    model = DMLElasticity().fit(panel, item_features=tiers.to_frame("tier"))
    items = model.items_.set_index("item")
    assert (items["se"] < 0.5).all()
    assert np.allclose(items["prior_shift"], 0.0)
    assert np.allclose(items["elasticity"], plain["elasticity"], atol=1e-6)
    assert not any(f["identified"] for f in model.overall_["prior_features"].values())
