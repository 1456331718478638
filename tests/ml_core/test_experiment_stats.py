"""The experiment statistics on synthetic units whose truth is known: the delta method's
interval against a bootstrap and against statsmodels' cluster-robust OLS, CUPED's variance
reduction without bias, the SRM check, the planned sample size, the guardrails, and the variance
profile of customers who come back (its prediction for a longer test, the plan it gives, CUPED's
floor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from ml_core.experiments.stats import (
    ArmResult,
    Guardrail,
    check_guardrails,
    compare_arms,
    planned_sample_size,
    smallest_detectable_uplift,
    srm_check,
    variance_profile,
    visits_to_detect,
)
from retail.errors import AisleError


def synthetic_units(
    rng: np.random.Generator, n_per_arm: int, *, uplift: float = 0.0, with_pre: bool = False
) -> pd.DataFrame:
    """Units with several visits each and a taste of their own (so visits within a unit are
    correlated, which is what the delta method is for); revenue tracks the pre-period's."""
    frames = []
    for arm, lift in (("control", 0.0), ("treatment", uplift)):
        taste = rng.gamma(1.0, 1.0, n_per_arm)  # the unit's propensity to buy, mean 1
        basket = rng.lognormal(3.5, 0.5, n_per_arm)  # what the unit spends on a purchase
        visits = rng.poisson(2.0, n_per_arm) + 1
        p_click = np.clip(0.15 * taste, 0, 0.9)
        clicks = rng.binomial(visits, p_click)
        carts = rng.binomial(visits, p_click / 2)
        purchases = rng.binomial(visits, np.clip(0.2 * taste * (1 + lift), 0, 1))
        pre_visits = rng.poisson(10.0, n_per_arm) + 1
        pre_revenue = rng.binomial(pre_visits, np.clip(0.2 * taste, 0, 1)) * basket
        revenue = purchases * basket
        frame = pd.DataFrame({
            "unit_id": [f"{arm}-{i}" for i in range(n_per_arm)], "arm": arm, "visits": visits,
            "clicks": clicks, "add_to_carts": carts, "purchases": purchases, "revenue": revenue,
        })  # fmt: skip
        if with_pre:
            frame["pre_revenue"], frame["pre_visits"] = pre_revenue, pre_visits
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _result(results: list[ArmResult], metric: str) -> ArmResult:
    return next(r for r in results if r.metric == metric)


def test_delta_method_interval_matches_a_bootstrap_over_units() -> None:
    rng = np.random.default_rng(7)
    units = synthetic_units(rng, 2000, uplift=0.1)
    result = _result(compare_arms(units, "control", cuped=False), "revenue_per_visit")
    arms = {arm: frame[["revenue", "visits"]].to_numpy() for arm, frame in units.groupby("arm")}
    diffs = []
    for _ in range(1000):
        ratios = {}
        for arm, values in arms.items():
            resampled = values[rng.integers(0, len(values), len(values))]
            ratios[arm] = resampled[:, 0].sum() / resampled[:, 1].sum()
        diffs.append(ratios["treatment"] - ratios["control"])
    bootstrap_se = np.std(diffs, ddof=1)
    delta_se = (result.abs_ci[1] - result.abs_ci[0]) / (2 * 1.959964)
    assert delta_se == pytest.approx(bootstrap_se, rel=0.1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert result.abs_ci[0] == pytest.approx(low, abs=0.25 * bootstrap_se)
    assert result.abs_ci[1] == pytest.approx(high, abs=0.25 * bootstrap_se)


def test_cuped_reduces_variance_and_stays_unbiased() -> None:
    rng = np.random.default_rng(11)
    plain, adjusted, reductions = [], [], []
    for _ in range(60):
        units = synthetic_units(rng, 1500, uplift=0.0, with_pre=True)
        off = _result(compare_arms(units, "control", cuped=False), "revenue_per_visit")
        on = _result(compare_arms(units, "control", cuped=True), "revenue_per_visit")
        assert on.cuped and not off.cuped and off.variance_reduction is None
        plain.append(off.abs_diff)
        adjusted.append(on.abs_diff)
        reductions.append(on.variance_reduction)
    # The pre-period revenue shares the unit's taste: a real share of the variance goes.
    assert np.mean(reductions) > 0.1
    assert np.var(adjusted) < np.var(plain) * (1 - 0.5 * np.mean(reductions))
    # No true effect: the adjusted differences centre on zero as the plain ones do.
    se = np.std(adjusted, ddof=1) / np.sqrt(len(adjusted))
    assert abs(np.mean(adjusted)) < 3 * se


def test_cuped_keeps_a_true_effect() -> None:
    rng = np.random.default_rng(3)
    units = synthetic_units(rng, 20000, uplift=0.3, with_pre=True)
    result = _result(compare_arms(units, "control"), "conversion")
    # The true uplift is a little under 30%: a purchase rate cannot pass 1.
    taste = rng.gamma(1.0, 1.0, 2_000_000)
    true = np.clip(0.2 * taste * 1.3, 0, 1).mean() / np.clip(0.2 * taste, 0, 1).mean() - 1
    assert result.significant and result.abs_ci[0] > 0 and result.variance_reduction > 0.1
    assert result.rel_ci is not None and result.rel_ci[0] < true < result.rel_ci[1]


def test_a_frame_without_covariates_is_compared_without_cuped() -> None:
    units = synthetic_units(np.random.default_rng(1), 300)
    results = compare_arms(units, "control")
    assert [r.metric for r in results] == [
        "ctr",
        "add_to_cart_rate",
        "conversion",
        "revenue_per_visit",
    ]
    assert not any(r.cuped for r in results)


@pytest.mark.parametrize(
    ("control", "message"), [("nobody", "control arm 'nobody' has no units"), ("control", "")]
)
def test_bad_frames_are_refused_with_a_sentence(control: str, message: str) -> None:
    units = synthetic_units(np.random.default_rng(1), 50)
    if not message:
        units = units.drop(columns=["revenue"])
        message = "lacks the columns revenue"
    with pytest.raises(AisleError, match=message):
        compare_arms(units, control)


def test_srm_fires_on_a_52_48_split_and_not_on_50_50() -> None:
    p_value, mismatch = srm_check([10_400, 9_600], [0.5, 0.5])
    assert mismatch and p_value < 1e-6
    p_value, mismatch = srm_check({"a": 10_000, "b": 10_000}, {"a": 1, "b": 1})
    assert not mismatch and p_value == pytest.approx(1.0)
    # Weighted: 2/3 of 20,000 asked for, and 2/3 given.
    assert not srm_check([13_333, 6_667], [2, 1])[1]


def test_planned_sample_size_is_statsmodels_power_for_proportions() -> None:
    n = planned_sample_size(0.05, 0.05)
    effect = proportion_effectsize(0.0525, 0.05)
    expected = NormalIndPower().solve_power(effect_size=abs(effect), alpha=0.05, power=0.8)
    assert n == int(np.ceil(expected))
    assert NormalIndPower().power(abs(effect), n, 0.05) >= 0.8
    assert NormalIndPower().power(abs(effect), n - 2, 0.05) < 0.8
    # A larger effect or a looser alpha needs fewer units.
    assert planned_sample_size(0.05, 0.10) < n
    assert planned_sample_size(0.05, 0.05, alpha=0.10) < n
    with pytest.raises(AisleError, match="not a rate a test can detect"):
        planned_sample_size(0.6, 1.0)
    with pytest.raises(AisleError, match="too small to plan a test for"):
        planned_sample_size(1e-179, 0.05)


def test_guardrails_pass_breach_or_wait_for_data() -> None:
    rng = np.random.default_rng(5)
    dropped = synthetic_units(rng, 30000, uplift=-0.3)
    steady = synthetic_units(rng, 30000, uplift=0.0)
    few = synthetic_units(rng, 100, uplift=0.0)
    guard = [Guardrail("revenue_per_visit", 0.05)]
    status = {
        name: check_guardrails(compare_arms(frame, "control", cuped=False), guard)[0].status
        for name, frame in (("dropped", dropped), ("steady", steady), ("few", few))
    }
    assert status == {"dropped": "breach", "steady": "pass", "few": "inconclusive"}


def test_an_a_a_test_is_significant_about_alpha_of_the_time() -> None:
    # No true effect: the intervals (CUPED on) must reject about 5% of the time, no more.
    rng = np.random.default_rng(23)
    runs = 400
    rejected = sum(
        _result(
            compare_arms(synthetic_units(rng, 400, with_pre=True), "control"), "conversion"
        ).significant
        for _ in range(runs)
    )
    assert 0.025 <= rejected / runs <= 0.08


# --- units that come back: the variance profile and the plan ------------------------------------


def returning_customers(
    rng: np.random.Generator,
    taste: np.ndarray,
    activity: np.ndarray,
    scale: float,
    anonymous: int,
    *,
    uplift: float = 0.0,
) -> pd.DataFrame:
    """One row per unit over a window `scale` times as long as the first: customers with a
    lasting purchase rate `taste` who visit `activity * scale` times on average, and
    `anonymous * scale` one-visit sessions, each a unit of its own with a random taste; a
    visit buys 0-2 items. `uplift` multiplies everyone's rate."""
    n_anon = rng.poisson(anonymous * scale)
    half = np.concatenate([taste, rng.choice(taste, n_anon)]) * (1 + uplift) / 2
    visits = np.concatenate([rng.poisson(activity * scale), np.ones(n_anon, int)])
    # Each visit buys Binomial(2, rate / 2) items: visits buying none, one or two.
    pvals = np.column_stack([(1 - half) ** 2, 2 * half * (1 - half), half**2])
    _, one, two = rng.multinomial(visits, pvals).T
    frame = pd.DataFrame({
        "unit_id": [f"c{i}" for i in range(len(taste))] + [f"s{i}" for i in range(n_anon)],
        "visits": visits, "clicks": 0, "add_to_carts": 0, "purchases": one + 2 * two,
        "revenue": 0.0, "purchases_sq": one + 4 * two,
    })  # fmt: skip
    return frame[frame.visits > 0].reset_index(drop=True)


def customers(rng: np.random.Generator, n: int, shape: float) -> tuple[np.ndarray, np.ndarray]:
    """(taste, activity): purchase rates averaging 3% (the smaller `shape`, the more customers
    differ) and visit rates averaging 10 per window."""
    activity = rng.lognormal(0.0, 0.7, n)
    return rng.gamma(shape, 0.03 / shape, n), activity * 10 / activity.mean()


def test_delta_method_is_statsmodels_cluster_robust_ols_on_the_visits() -> None:
    # Visit-level rows of customers who come back: the unit-level delta method must agree with
    # an OLS of the visit's purchase on the arm with errors clustered by customer, and both
    # must exceed what the same OLS gives when it takes the visits as independent.
    rng = np.random.default_rng(31)
    taste, activity = customers(rng, 800, 0.5)
    units = returning_customers(rng, taste, activity, 3.0, 0)
    units["arm"] = np.where(rng.random(len(units)) < 0.5, "treatment", "control")
    (result,) = compare_arms(units, "control", cuped=False, metrics=("conversion",))
    rows = units.loc[units.index.repeat(units.visits)].reset_index(drop=True)
    # Spread each unit's purchases over its visits (ones first): the sums are what count.
    position = rows.groupby("unit_id").cumcount()
    rows["bought"] = (position < rows.purchases).astype(float)
    design = sm.add_constant((rows.arm == "treatment").astype(float))
    clustered = sm.OLS(rows.bought, design).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(rows.unit_id)[0]}
    )
    independent = sm.OLS(rows.bought, design).fit()
    delta_se = (result.abs_ci[1] - result.abs_ci[0]) / (2 * 1.959964)
    assert clustered.params.iloc[1] == pytest.approx(result.abs_diff)
    assert delta_se == pytest.approx(clustered.bse.iloc[1], rel=0.02)
    assert delta_se > 1.5 * independent.bse.iloc[1]


def test_variance_profile_predicts_the_variance_of_a_longer_test() -> None:
    # Plan from one window; run 300 A/A splits of a window 4 times as long (the same customers
    # coming back, four times the one-off sessions): the spread of the differences is what the
    # profile said, and far above what independent visits would give.
    rng = np.random.default_rng(41)
    taste, activity = customers(rng, 1500, 0.5)
    profile = variance_profile(returning_customers(rng, taste, activity, 1.0, 5000), "conversion")
    differences, visits = [], []
    for _ in range(300):
        window = returning_customers(rng, taste, activity, 4.0, 5000)
        arm = rng.random(len(window)) < 0.5
        rate = [window.purchases[a].sum() / window.visits[a].sum() for a in (arm, ~arm)]
        differences.append(rate[0] - rate[1])
        visits.append(window.visits.sum() / 2)
    observed = np.var(differences, ddof=1)
    assert profile.variance(np.mean(visits)) == pytest.approx(observed, rel=0.25)
    assert profile.design_effect(np.mean(visits)) > 2.5
    # The design effect grows with the test's length: the floor stays as the noise falls.
    assert profile.design_effect(4 * profile.visits) > profile.design_effect(profile.visits)


def test_the_plan_grows_with_the_design_effect_and_says_when_no_size_is_enough() -> None:
    rng = np.random.default_rng(43)
    plans, effects = [], []
    for shape in (1000.0, 2.0, 0.5):  # customers alike, then more and more different
        taste, activity = customers(rng, 3000, shape)
        profile = variance_profile(returning_customers(rng, taste, activity, 1.0, 0), "conversion")
        plans.append(visits_to_detect(profile, 0.10))
        effects.append(profile.design_effect(plans[-1] or profile.visits))
    assert plans[0] is not None and plans[1] is not None
    # Customers alike: the plan for independent visits, give or take the estimate's noise.
    assert plans[0] == pytest.approx(planned_sample_size(0.03, 0.10), rel=0.15)
    assert effects[0] < 1.3 < effects[1] and plans[1] > 1.3 * plans[0]
    # Customers very different: their floor alone is past what +10% allows.
    assert plans[2] is None and effects[2] > effects[1]
    assert smallest_detectable_uplift(profile) > 0.10
    assert visits_to_detect(profile, 1.0) is not None


def test_cuped_lowers_the_floor_when_the_pre_period_predicts() -> None:
    rng = np.random.default_rng(47)
    taste, activity = customers(rng, 3000, 0.5)
    units = returning_customers(rng, taste, activity, 1.0, 2000)
    customer = units.unit_id.str.startswith("c")
    before = returning_customers(rng, taste, activity, 3.0, 0).set_index("unit_id")
    units["pre_visits"] = units.unit_id.map(before.visits).where(customer, 0).fillna(0)
    units["pre_purchases"] = units.unit_id.map(before.purchases).where(customer, 0).fillna(0)
    predictive = variance_profile(units, "conversion")
    assert predictive.cuped_floor is not None and predictive.cuped_variance_reduction > 0.3
    assert predictive.cuped_floor < 0.3 * predictive.repeat_floor
    noisy = units.assign(
        pre_visits=rng.poisson(30, len(units)), pre_purchases=rng.poisson(1, len(units))
    )
    unrelated = variance_profile(noisy, "conversion")
    assert unrelated.cuped_floor == pytest.approx(unrelated.repeat_floor, rel=0.1)
    plain = visits_to_detect(predictive, 0.10)
    adjusted = visits_to_detect(predictive, 0.10, cuped=True)
    assert adjusted is not None and (plain is None or adjusted < plain)


def sparse_units(rng: np.random.Generator) -> pd.DataFrame:
    """The shape of a small simulated test: one visit per unit, a few add-to-carts, a pre-period
    that predicts a little (the walk's 12 of 310 against 4 of 294)."""
    frames = []
    for arm, n, carts in (("control", 310, 12), ("pop", 294, 4)):
        added = np.zeros(n, int)
        added[rng.choice(n, carts, replace=False)] = 1
        bought = added * rng.binomial(1, 0.4, n)
        frames.append(pd.DataFrame({
            "unit_id": [f"{arm}-{i}" for i in range(n)], "arm": arm, "visits": 1,
            "clicks": added + rng.binomial(1, 0.1, n), "add_to_carts": added,
            "purchases": bought, "revenue": bought * rng.lognormal(4.0, 0.5, n),
            "pre_visits": rng.poisson(2.0, n) + added, "pre_purchases": rng.binomial(1, 0.1, n),
            "pre_revenue": rng.lognormal(3.0, 1.0, n) * added,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("cuped", [True, False])
def test_the_relative_interval_p_value_and_arm_values_tell_one_story(cuped: bool) -> None:
    for seed in range(30):
        for r in compare_arms(sparse_units(np.random.default_rng(seed)), "control", cuped=cuped):
            assert r.cuped is cuped
            if not cuped:
                assert (r.adjusted_value, r.adjusted_control_value) == (r.value, r.control_value)
            assert r.rel_diff == pytest.approx(r.adjusted_value / r.adjusted_control_value - 1)
            assert r.abs_diff == pytest.approx(r.adjusted_value - r.adjusted_control_value)
            if r.rel_ci is None:
                continue
            low, high = r.rel_ci
            # A rate cannot fall by more than all of it, and the interval holds the estimate.
            assert -1.0 <= low <= r.rel_diff <= high
            # The interval excludes no change exactly when the test rejects it.
            assert (low > 0 or high < 0) == r.significant, (seed, r)


def test_the_split_is_not_checked_on_no_units_or_too_few() -> None:
    # No visit logged: nothing was checked, which is no pass either.
    assert srm_check({"control": 0, "ease": 0}, {"control": 1, "ease": 1}) == (None, False)
    # 4 and 2 units expect 3 each: too few for the chi-square approximation.
    assert srm_check([4, 2], [1, 1]) == (None, False)
    p_value, mismatch = srm_check([60, 40], [1, 1])
    assert p_value is not None and not mismatch


def _visitors(arm: str, visits_and_clicks: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": [f"{arm}-{i}" for i in range(len(visits_and_clicks))],
            "arm": arm,
            "visits": [v for v, _ in visits_and_clicks],
            "clicks": [c for _, c in visits_and_clicks],
            "add_to_carts": 0,
            "purchases": 0,
            "revenue": 0.0,
        }
    )


def test_six_visitors_are_too_few_to_call_anything_significant() -> None:
    # The walk's six anonymous visitors (docs/WALK-2026-12-07.md, N7): control 4 units with one
    # click, ease 2 units both clicking. The z-test said p = 0.003.
    units = pd.concat(
        [_visitors("control", [(1, 1), (1, 0), (1, 0), (1, 0)]), _visitors("ease", [(1, 1)] * 2)]
    )
    for r in compare_arms(units, "control", cuped=False):
        assert r.p_value is None and not r.significant and r.rel_ci is None, r
        assert r.too_few is not None
    ctr = _result(compare_arms(units, "control", cuped=False), "ctr")
    assert ctr.too_few is not None
    assert ctr.too_few.startswith("too few clicks to test yet (control has 1 in 4 visits;")
    assert "each arm needs 5 visits with one and 5 without" in ctr.too_few
    # Once each arm has 5 visits with a click and 5 without, the test runs.
    enough = pd.concat(
        [
            _visitors("control", [(1, 1)] * 5 + [(1, 0)] * 20),
            _visitors("ease", [(1, 1)] * 15 + [(1, 0)] * 5),
        ]
    )
    tested = _result(compare_arms(enough, "control", cuped=False), "ctr")
    assert tested.too_few is None and tested.p_value is not None and tested.significant
