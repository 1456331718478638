"""The statistics of an experiment report: arm against control on per-visit ratio metrics by the
delta method, CUPED variance reduction, the sample-ratio-mismatch check, guardrails and the
planned sample size.

The input is one row per unit (the randomisation unit: a customer, or an anonymous session) with
columns unit_id, arm, visits, clicks, add_to_carts, purchases, revenue, and optionally the
pre-period covariates pre_revenue and pre_visits. A metric is a ratio of sums over the arm's
units (clicks / visits, ...): the visits of one unit are not independent, so the variance comes
from the units, by the delta method: with the unit's linearised value
l_i = (y_i - R x_i) / mean(x), Var(R) = Var(l) / n.

CUPED (Deng et al., 2013) subtracts from each unit's linearised value the part its pre-period
covariates predict, theta pooled over both arms; the covariates were fixed before assignment, so
the difference stays unbiased while its variance shrinks by the squared correlation.

Distributions come from scipy.stats and statsmodels; nothing here computes one by hand.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from retail.errors import AisleError

# metric -> the per-unit count over visits.
NUMERATORS: dict[str, str] = {
    "ctr": "clicks",
    "add_to_cart_rate": "add_to_carts",
    "conversion": "purchases",
    "revenue_per_visit": "revenue",
}
METRIC_LABELS = {
    "ctr": "CTR",
    "add_to_cart_rate": "add-to-cart rate",
    "conversion": "conversion",
    "revenue_per_visit": "revenue per visit",
}
DENOMINATOR = "visits"
# A unit's pre-period spend, sessions and purchases: its conversion before the experiment is the
# best predictor of its conversion in it (the purchases over the sessions, a linear combination).
COVARIATES = ("pre_revenue", "pre_visits", "pre_purchases")
# Per unit, the sum over its visits of each visit's value squared: what tells the visits' own
# noise from the units' lasting differences (`variance_profile`).
SQUARES = {numerator: f"{numerator}_sq" for numerator in NUMERATORS.values()}
REQUIRED = ("unit_id", "arm", DENOMINATOR, *NUMERATORS.values())
# A sample-ratio mismatch is declared at p < 0.001: the check runs on every look at a report, so
# a strict threshold keeps false alarms rare while a real 52/48 split of 20,000 units (p ~ 1e-8)
# still fires.
SRM_ALPHA = 0.001
# The z-test of the delta method, its intervals and the chi-square SRM check all lean on the
# normal approximation, which small counts break: six visitors can give p = 0.003. The one rule
# for "enough data", the textbook np >= 5 and n(1 - p) >= 5: a metric is tested only when each
# arm has at least MIN_COUNT events (clicks, add-to-carts, purchases; purchases for revenue) and
# MIN_COUNT visits without one, and the split is checked only when each arm expects MIN_COUNT
# units.
MIN_COUNT = 5
# The events whose count decides whether a metric can be tested (revenue comes with purchases).
EVENTS = {**NUMERATORS, "revenue_per_visit": "purchases"}
EVENT_WORDS = {
    "clicks": "clicks",
    "add_to_carts": "add-to-carts",
    "purchases": "purchases",
}


@dataclass(frozen=True)
class ArmResult:
    """One metric of one arm against the control. `value` and `control_value` are the plain
    ratios; `adjusted_value` and `adjusted_control_value` are the ratios CUPED-adjusted when
    `cuped` is true (the plain ones otherwise). The difference, the relative difference, both
    intervals and the p-value all come from the adjusted pair, so they agree with each other:
    the relative interval excludes 0 exactly when p < alpha."""

    metric: str
    arm: str
    control: str
    units: int
    visits: float
    value: float
    control_value: float
    adjusted_value: float
    adjusted_control_value: float
    abs_diff: float
    abs_ci: tuple[float, float]
    rel_diff: float | None
    # None when the control's rate is too uncertain to bound the ratio (Fieller's set is
    # unbounded); the lower end is never below -100%, the rates being non-negative.
    rel_ci: tuple[float, float] | None
    # None when the counts are too small for the test (`too_few` says why): no p-value then,
    # no interval of the relative difference, and never significant.
    p_value: float | None
    significant: bool
    cuped: bool
    # 1 - Var(adjusted difference) / Var(plain difference); None without CUPED.
    variance_reduction: float | None
    too_few: str | None = None


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not drop by more than `max_relative_drop` (0.05: 5%)."""

    metric: str
    max_relative_drop: float


DEFAULT_GUARDRAILS = (Guardrail("revenue_per_visit", 0.05),)
GuardrailStatus = Literal["pass", "breach", "inconclusive"]


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    arm: str
    max_relative_drop: float
    rel_diff: float | None
    rel_ci: tuple[float, float] | None
    status: GuardrailStatus


@dataclass(frozen=True)
class _ArmSample:
    ratio: float
    linearised: np.ndarray  # per unit; Var(ratio) = var(linearised) / n
    covariates: np.ndarray | None  # units x covariates


def _sample(units: pd.DataFrame, numerator: str, covariates: list[str]) -> _ArmSample:
    y = units[numerator].to_numpy(float)
    x = units[DENOMINATOR].to_numpy(float)
    mean_x = x.mean()
    if mean_x <= 0:
        raise AisleError("An arm has no visits, so its per-visit metrics are undefined.")
    ratio = y.mean() / mean_x
    z = units[covariates].fillna(0.0).to_numpy(float) if covariates else None
    return _ArmSample(ratio, (y - ratio * x) / mean_x, z)


def _pooled_theta(centred: list[np.ndarray], values: list[np.ndarray]) -> np.ndarray | None:
    """Least-squares coefficients of `values` on the covariates, pooled over groups whose
    covariates are each centred on the group's own mean."""
    z = np.vstack(centred)
    keep = z.std(0) > 0  # a covariate constant over the units predicts nothing
    if not keep.any():
        return None
    theta = np.zeros(z.shape[1])
    theta[keep] = np.linalg.lstsq(z[:, keep], np.concatenate(values), rcond=None)[0]
    return theta


def _cuped_theta(a: _ArmSample, b: _ArmSample) -> np.ndarray | None:
    """The covariates' coefficients, pooled over both arms with each arm centred on itself."""
    if a.covariates is None or b.covariates is None:
        return None
    return _pooled_theta(
        [a.covariates - a.covariates.mean(0), b.covariates - b.covariates.mean(0)],
        [a.linearised, b.linearised],
    )


def too_few_to_test(metric: str, arms: Mapping[str, pd.DataFrame]) -> str | None:
    """Why the arms' counts are too small for the normal approximation of `metric`'s test
    (`MIN_COUNT`), in words; None when they are enough."""
    events = EVENTS[metric]
    short = []
    for name, units in arms.items():
        happened, visits = float(units[events].sum()), float(units[DENOMINATOR].sum())
        if happened < MIN_COUNT or visits - happened < MIN_COUNT:
            short.append(f"{name} has {happened:g} in {visits:g} visits")
    if not short:
        return None
    return (
        f"too few {EVENT_WORDS[events]} to test yet ({'; '.join(short)}): each arm needs "
        f"{MIN_COUNT} visits with one and {MIN_COUNT} without"
    )


def _p_value(diff: float, se: float) -> float:
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.norm.sf(abs(diff) / se))


def _ratio_interval(
    treated: float, control: float, var_t: float, var_c: float, z: float
) -> tuple[float, float] | None:
    """Fieller's interval for treated / control - 1, the two estimates independent: the ratios
    rho with (treated - rho * control)^2 <= z^2 (var_t + rho^2 var_c). At rho = 1 that is the
    z-test of the difference, so the interval holds 0 exactly when that test does not reject.
    None when control^2 <= z^2 var_c (the control may be 0, the set is unbounded)."""
    a = control**2 - z**2 * var_c
    if a <= 0:
        return None
    half_width = z * math.sqrt(treated**2 * var_c + control**2 * var_t - z**2 * var_t * var_c)
    low = (treated * control - half_width) / a
    high = (treated * control + half_width) / a
    # Per-visit rates are never negative, so neither is their ratio.
    return (max(low, 0.0) - 1, high - 1)


def _compare(
    metric: str,
    arm: str,
    control: str,
    treated: pd.DataFrame,
    baseline: pd.DataFrame,
    alpha: float,
    covariates: list[str],
) -> ArmResult:
    numerator = NUMERATORS[metric]
    t, c = _sample(treated, numerator, covariates), _sample(baseline, numerator, covariates)
    n_t, n_c = len(t.linearised), len(c.linearised)
    var_t = t.linearised.var(ddof=1) / n_t
    var_c = c.linearised.var(ddof=1) / n_c
    adjusted_t, adjusted_c = t.ratio, c.ratio
    theta = _cuped_theta(t, c)
    reduction = None
    if theta is not None:
        assert t.covariates is not None and c.covariates is not None
        pooled_mean = np.vstack([t.covariates, c.covariates]).mean(0)
        adjusted_t = float(t.ratio - (t.covariates.mean(0) - pooled_mean) @ theta)
        adjusted_c = float(c.ratio - (c.covariates.mean(0) - pooled_mean) @ theta)
        plain = var_t + var_c
        var_t = (t.linearised - t.covariates @ theta).var(ddof=1) / n_t
        var_c = (c.linearised - c.covariates @ theta).var(ddof=1) / n_c
        reduction = 1 - (var_t + var_c) / plain if plain > 0 else 0.0
    diff = adjusted_t - adjusted_c
    z = stats.norm.ppf(1 - alpha / 2)
    se = math.sqrt(var_t + var_c)
    rel_diff = adjusted_t / adjusted_c - 1 if adjusted_c > 0 else None
    too_few = too_few_to_test(metric, {control: baseline, arm: treated})
    testable = rel_diff is not None and too_few is None
    rel_ci = _ratio_interval(adjusted_t, adjusted_c, var_t, var_c, z) if testable else None
    p_value = None if too_few else _p_value(diff, se)
    return ArmResult(
        metric=metric,
        arm=arm,
        control=control,
        units=n_t,
        visits=float(treated[DENOMINATOR].sum()),
        value=float(t.ratio),
        control_value=float(c.ratio),
        adjusted_value=float(adjusted_t),
        adjusted_control_value=float(adjusted_c),
        abs_diff=float(diff),
        abs_ci=(float(diff - z * se), float(diff + z * se)),
        rel_diff=rel_diff,
        rel_ci=rel_ci,
        p_value=p_value,
        significant=p_value is not None and p_value < alpha,
        cuped=theta is not None,
        variance_reduction=reduction,
        too_few=too_few,
    )


def compare_arms(
    units: pd.DataFrame,
    control: str,
    alpha: float = 0.05,
    cuped: bool = True,
    metrics: Sequence[str] = tuple(NUMERATORS),
) -> list[ArmResult]:
    """Every arm but the control against the control, metric by metric (metrics in the given
    order, arms by name). CUPED applies when `cuped` and the frame has pre-period covariates."""
    missing = [c for c in REQUIRED if c not in units.columns]
    if missing:
        raise AisleError(f"The per-unit frame lacks the columns {', '.join(missing)}.")
    unknown = [m for m in metrics if m not in NUMERATORS]
    if unknown:
        raise AisleError(f"Unknown metric {unknown[0]!r}; choose from {', '.join(NUMERATORS)}.")
    if not 0 < alpha < 1:
        raise AisleError(f"Alpha is a probability between 0 and 1, not {alpha}.")
    groups = {str(arm): frame for arm, frame in units.groupby("arm", sort=True)}
    if control not in groups:
        raise AisleError(f"The control arm {control!r} has no units.")
    for arm, frame in groups.items():
        if len(frame) < 2:
            raise AisleError(f"Arm {arm!r} has {len(frame)} unit; comparing needs at least 2.")
    covariates = [c for c in COVARIATES if c in units.columns] if cuped else []
    return [
        _compare(metric, arm, control, frame, groups[control], alpha, covariates)
        for metric in metrics
        for arm, frame in groups.items()
        if arm != control
    ]


def srm_check(
    counts: Sequence[int] | Mapping[str, int], weights: Sequence[float] | Mapping[str, float]
) -> tuple[float | None, bool]:
    """(p-value, mismatch) of the chi-square test of the units each arm got against the split
    the weights ask for; mismatch at p < SRM_ALPHA. Mappings are matched by arm name. The
    p-value is None, and no mismatch declared, while an arm expects fewer than MIN_COUNT units
    (none logged yet, or too few for the chi-square approximation): nothing was checked."""
    if isinstance(counts, Mapping):
        if not isinstance(weights, Mapping):
            raise AisleError("Give the counts and the weights both by arm name, or both as lists.")
        names = list(weights)
        observed = np.array([counts.get(name, 0) for name in names], float)
        shares = np.array([weights[name] for name in names], float)
    else:
        observed = np.asarray(counts, float)
        shares = np.asarray(
            list(weights.values()) if isinstance(weights, Mapping) else weights, float
        )
    if len(observed) != len(shares) or len(observed) < 2:
        raise AisleError("The SRM check needs one count and one weight for each of 2+ arms.")
    expected = observed.sum() * shares / shares.sum()
    if expected.min() < MIN_COUNT:
        return None, False
    p_value = float(stats.chisquare(observed, f_exp=expected).pvalue)
    return p_value, p_value < SRM_ALPHA


def planned_sample_size(
    baseline_rate: float, relative_uplift: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Visits per arm for a two-sided test at `alpha` to detect `baseline_rate` moving by
    `relative_uplift` (0.05: +5%) with probability `power` (statsmodels' normal power)."""
    target = baseline_rate * (1 + relative_uplift)
    if not 0 < baseline_rate < 1:
        raise AisleError(f"The baseline rate is a proportion between 0 and 1, not {baseline_rate}.")
    if relative_uplift == 0 or not 0 < target < 1:
        raise AisleError(
            f"An uplift of {relative_uplift:+.1%} on {baseline_rate:.2%} is not a rate a test can "
            "detect; give a non-zero uplift that keeps the rate between 0 and 1."
        )
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise AisleError("Alpha and power are probabilities between 0 and 1.")
    effect = abs(proportion_effectsize(target, baseline_rate))
    # An effect too small to solve for: statsmodels warns and returns NaN, or refuses with a
    # ValueError; either is the sentence below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            n = float(
                NormalIndPower().solve_power(
                    effect_size=effect, alpha=alpha, power=power, ratio=1.0
                )
            )
        except ValueError:
            n = math.nan
    if not math.isfinite(n):
        raise AisleError(
            f"An uplift of {relative_uplift:+.1%} on {baseline_rate:.2g} is too small to plan a "
            "test for; give a larger rate or uplift."
        )
    return math.ceil(n)


@dataclass(frozen=True)
class VarianceProfile:
    """How the variance of a per-visit metric's arm-against-control difference falls with
    traffic, read from a reference window of per-unit data (`variance_profile`). With two equal
    arms of `n` visits each:

        Var(difference) = 2 * visit_variance / n + repeat_floor

    `visit_variance` is the visits' own noise, which more visits average away. `repeat_floor`
    comes from which units land in which arm: customers who come back keep their own taste, so
    however long the test runs, the arms differ by the customers they hold. The model takes more
    traffic to be the window's customers coming back more often (their visits grow in
    proportion), plus new one-off units such as anonymous sessions, which add no floor: right for
    a store whose customers are a settled base, cautious where a longer test also reaches new
    customers. `cuped_floor` is the floor left once CUPED has taken out what the units'
    pre-period covariates predict (None without covariates); the visits' own noise is
    independent of the pre-period, so CUPED leaves it as it is."""

    metric: str
    baseline: float  # the metric over the window
    units: int
    visits: float  # in the window, all arms together
    visit_variance: float
    repeat_floor: float
    cuped_floor: float | None
    # 1 - Var(adjusted) / Var(plain) of an equal split of the window itself.
    cuped_variance_reduction: float | None

    def variance(self, visits_per_arm: float, *, cuped: bool = False) -> float:
        """Var(arm - control) with `visits_per_arm` in each of two equal arms."""
        floor = self.cuped_floor if cuped and self.cuped_floor is not None else self.repeat_floor
        return 2 * self.visit_variance / visits_per_arm + floor

    def design_effect(self, visits_per_arm: float, *, cuped: bool = False) -> float:
        """The variance over what as many independent visits would give: how many times the
        visits a plan that ignores the returning customers would need."""
        independent = 2 * self.visit_variance / visits_per_arm
        return self.variance(visits_per_arm, cuped=cuped) / independent if independent else 1.0


def variance_profile(
    units: pd.DataFrame,
    metric: str,
    covariates: Sequence[str] = COVARIATES,
    *,
    control: str | None = None,
) -> VarianceProfile:
    """The variance profile of `metric` from one row per unit over a reference window (an A/A
    period, the history before a test, or a running test's own units: with an `arm` column each
    arm is centred on its own rate, so a real effect is not read as noise). The frame needs the
    metric's numerator, `visits` and the numerator's sum of squares per visit (`SQUARES`); the
    `covariates` present give the CUPED floor. The baseline is the `control` arm's rate when
    one is named (the rate an uplift is relative to), else the whole window's."""
    if metric not in NUMERATORS:
        raise AisleError(f"Unknown metric {metric!r}; choose from {', '.join(NUMERATORS)}.")
    numerator = NUMERATORS[metric]
    missing = [c for c in (DENOMINATOR, numerator, SQUARES[numerator]) if c not in units.columns]
    if missing:
        raise AisleError(f"The per-unit frame lacks the columns {', '.join(missing)}.")
    present = [c for c in covariates if c in units.columns]
    groups = [g for _, g in units.groupby("arm")] if "arm" in units.columns else [units]
    residuals, centred = [], []
    visit_noise = 0.0
    for group in groups:
        y = group[numerator].to_numpy(float)
        x = group[DENOMINATOR].to_numpy(float)
        squares = group[SQUARES[numerator]].to_numpy(float)
        rate = y.sum() / x.sum() if x.sum() > 0 else 0.0
        residuals.append(y - rate * x)
        # Sum over visits of (value - rate)^2, from the unit's sums.
        visit_noise += float((squares - 2 * rate * y + rate**2 * x).sum())
        if present:
            z = group[present].fillna(0.0).to_numpy(float)
            centred.append(z - z.mean(0))
    visits = float(units[DENOMINATOR].sum())
    if visits <= 0 or len(units) < 2:
        raise AisleError("A variance profile needs at least 2 units with visits.")
    e = np.concatenate(residuals)
    total = float(e @ e)

    def floor(sum_of_squares: float) -> float:
        # What is left over the visits' own noise is the units' lasting part (sampling can
        # push the estimate under zero when there is none).
        return 4 * max(sum_of_squares - visit_noise, 0.0) / visits**2

    cuped_floor = reduction = None
    theta = _pooled_theta(centred, residuals) if present else None
    if theta is not None:
        adjusted = e - np.vstack(centred) @ theta
        cuped_floor = floor(float(adjusted @ adjusted))
        reduction = 1 - float(adjusted @ adjusted) / total if total > 0 else 0.0
    reference = units[units["arm"] == control] if control is not None else units
    return VarianceProfile(
        metric=metric,
        baseline=float(reference[numerator].sum()) / float(reference[DENOMINATOR].sum()),
        units=len(units),
        visits=visits,
        visit_variance=visit_noise / visits,
        repeat_floor=floor(total),
        cuped_floor=cuped_floor,
        cuped_variance_reduction=reduction,
    )


def _detectable_variance(difference: float, alpha: float, power: float) -> float:
    """The largest Var(arm - control) at which a two-sided z-test at `alpha` detects a true
    `difference` with probability `power` (the far tail, under 1e-6 here, left out)."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise AisleError("Alpha and power are probabilities between 0 and 1.")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return (difference / z) ** 2


def visits_to_detect(
    profile: VarianceProfile,
    relative_uplift: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    cuped: bool = False,
) -> int | None:
    """Visits per arm for a two-sided test at `alpha` to detect the metric moving by
    `relative_uplift` with probability `power`, with the returning units' floor counted; None
    when no number of visits is enough (the floor alone is past what the test can bear)."""
    if relative_uplift == 0 or profile.baseline <= 0:
        raise AisleError("Give a non-zero uplift on a metric that is above zero.")
    allowed = _detectable_variance(abs(relative_uplift) * profile.baseline, alpha, power)
    floor = profile.variance(math.inf, cuped=cuped)
    if floor >= allowed:
        return None
    return math.ceil(2 * profile.visit_variance / (allowed - floor))


def smallest_detectable_uplift(
    profile: VarianceProfile,
    visits_per_arm: float = math.inf,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    cuped: bool = False,
) -> float:
    """The smallest relative change detected with probability `power` at `visits_per_arm`
    (default: however many visits)."""
    one = _detectable_variance(1.0, alpha, power)  # the variance that detects a change of 1
    return math.sqrt(profile.variance(visits_per_arm, cuped=cuped) / one) / profile.baseline


def check_guardrails(
    results: Sequence[ArmResult], guardrails: Sequence[Guardrail] = DEFAULT_GUARDRAILS
) -> list[GuardrailResult]:
    """Each guardrail for each arm: `pass` when the interval of the relative difference rules
    out a drop beyond the limit, `breach` when the estimate drops beyond it and the drop is
    significant, else `inconclusive` (too few visits yet to tell)."""
    checked = []
    for guard in guardrails:
        for r in results:
            if r.metric != guard.metric:
                continue
            status: GuardrailStatus = "inconclusive"
            if r.rel_ci is not None and r.rel_diff is not None:
                if r.rel_ci[0] > -guard.max_relative_drop:
                    status = "pass"
                elif r.rel_diff < -guard.max_relative_drop and r.rel_ci[1] < 0:
                    status = "breach"
            checked.append(
                GuardrailResult(
                    guard.metric, r.arm, guard.max_relative_drop, r.rel_diff, r.rel_ci, status
                )
            )
    return checked
