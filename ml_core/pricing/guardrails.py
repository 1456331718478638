"""Guardrails on price plans and the circuit breaker that enforces them.

`Guardrails` is what a pricing manager configures: the price ladder, a margin floor, the largest
change from one week to the next, a minimum price, whether markdowns must only go down, no
increase during a promotion, and how many prices may change on one day. The optimiser searches
only transitions `step_violations` allows; `check_plan` re-checks every plan before it may leave
the optimiser, and also trips when a plan's price changes depart from the recent history of
price changes by more than `history_sigmas` standard deviations. A tripped plan is rejected with
its reasons and never written. `guardrail_checks` reports each guardrail with the plan's own
numbers against it, its verdict and whether it held the plan back, every line in one shape, and
`guardrail_summary` says in one sentence what the lines say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Prices within half a cent are the same price.
PRICE_TOLERANCE = 0.005
# Float noise on sums of cents, far below a cent: a step of exactly the limit is within it.
STEP_EPSILON = 1e-9
# The guardrails a plan can press against, by the names its reports use.
LADDER = "price ladder"
MARGIN_FLOOR = "margin floor"
MINIMUM_PRICE = "minimum price"
MAXIMUM_STEP = "maximum step"
MARKDOWN_ONLY = "markdown-only"
CHANGES_PER_DAY = "price changes a day"
PAST_CHANGES = "distance from past changes"
NO_PROMOTION_INCREASE = "no increase during a promotion"
# A figure within this share of its limit passes, but the page says it is close.
CLOSE_TO_LIMIT = 0.9
# How a rung of the ladder is rounded to cents. Every plan now rounds toward the list price and
# records it (`toward_list`). Plans made before the rule was recorded (`not_recorded`) rounded
# to the nearest cent until 2026-12-07, toward the list price since: such a plan is judged by
# either rule, so an old proposal is never shown breaking a guardrail it kept when it was made.
Rounding = Literal["toward_list", "not_recorded"]
TOWARD_LIST: Rounding = "toward_list"
NOT_RECORDED: Rounding = "not_recorded"


def percent(fraction: float, *, signed: bool = False) -> str:
    """A fraction as every pricing text and page shows it, to one decimal ("8.5%", "+10.0%"):
    one rounding, so a margin reads the same in a sentence and in a table."""
    return f"{fraction:+.1%}" if signed else f"{fraction:.1%}"


def units_text(count: float) -> str:
    """A number of units as every pricing text and page shows it, to one decimal ("103.2",
    "1,204.6"), from the figure a proposal records (to 2 places). One rounding, Python's, here
    only: the page shows this text rather than rounding the number again (JavaScript rounds
    103.25 up, Python to even), so a sentence and a table never differ by 0.1."""
    return f"{round(count, 2):,.1f}"


def money(amount: float, *, signed: bool = False) -> str:
    """An amount of money as every pricing text shows it: "$4,857.27", "-$585.08", "+$12.00"."""
    sign = "-" if amount < 0 else "+" if signed else ""
    return f"{sign}${abs(amount):,.2f}"


class Guardrails(BaseModel):
    """Bounds every proposed price must respect (fractions are of the price, not percent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ladder: tuple[float, ...] = Field(
        default=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5),
        description="Allowed prices as fractions of the list price.",
    )
    min_margin: float = Field(
        default=0.0, ge=-1.0, lt=1.0, description="Floor on (price - unit cost) / price."
    )
    max_step: float = Field(
        default=0.3, gt=0.0, description="Largest change from one week's price to the next."
    )
    min_price_fraction: float = Field(
        default=0.4, ge=0.0, le=1.0, description="No price below this fraction of list."
    )
    monotone: bool = Field(default=True, description="Markdowns only: prices never go up.")
    max_changes_per_day: int = Field(
        default=50, ge=0, description="How many prices may change on one day, across items."
    )
    history_sigmas: float = Field(
        default=3.0, gt=0.0, description="Trip when a change departs this far from history."
    )
    rounding: Rounding = Field(
        default=TOWARD_LIST,
        description="How a rung is rounded to cents: toward the list price, or (a plan made "
        "before the rule was recorded) not recorded, when either that or the nearest cent is "
        "on the ladder.",
    )

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not (0.0 < f <= 2.0) for f in value):
            raise ValueError("ladder fractions must be in (0, 2]")
        return tuple(sorted(set(value), reverse=True))


def ladder_price(list_price: float, fraction: float, *, nearest: bool = False) -> float:
    """The price of the ladder's rung `fraction` of `list_price`, in cents, rounded toward the
    list price: a markdown rung is never deeper than its fraction (70% of 96.99 is 67.90, not
    67.89, a 30.003% cut), so a step from list to a rung `max_step` below it stays within it.
    `nearest`: rounded to the nearest cent instead, the rule plans were made under before."""
    if nearest:
        return round(list_price * fraction, 2)
    cents = list_price * fraction * 100
    # Cents that are whole up to float noise stay as they are (70% of 100.00 is 70.00).
    whole = round(cents)
    if abs(cents - whole) < 1e-6:
        return whole / 100
    return (math.ceil(cents) if fraction < 1 else math.floor(cents)) / 100


def rung_prices(
    list_price: float, fraction: float, rounding: Rounding
) -> tuple[tuple[float, bool], ...]:
    """The prices the rung `fraction` of `list_price` may be at under `rounding`, each with
    whether it is the nearest cent's: toward the list price, and for a plan that does not
    record its rule, the nearest cent too."""
    toward = (ladder_price(list_price, fraction), False)
    if rounding == TOWARD_LIST:
        return (toward,)
    return toward, (ladder_price(list_price, fraction, nearest=True), True)


def step_within(previous: float, price: float, guardrails: Guardrails) -> bool:
    """Whether a move from `previous` to `price` is within the maximum step: the one test the
    optimiser searches by, the circuit breaker rejects by and the page's line reports. A plan
    whose rungs may be rounded to the nearest cent may pass it by that half cent."""
    slack = STEP_EPSILON if guardrails.rounding == TOWARD_LIST else PRICE_TOLERANCE
    return abs(price - previous) <= guardrails.max_step * previous + slack


def on_ladder(price: float, list_price: float, guardrails: Guardrails) -> bool:
    return any(
        abs(price - rung) <= PRICE_TOLERANCE
        for f in guardrails.ladder
        for rung, _ in rung_prices(list_price, f, guardrails.rounding)
    )


def step_violations(
    *,
    previous: float,
    price: float,
    list_price: float,
    unit_cost: float,
    promo_week: bool,
    guardrails: Guardrails,
) -> list[str]:
    """The guardrails a move from `previous` to `price` breaks; keeping a price breaks none."""
    if abs(price - previous) <= PRICE_TOLERANCE:
        return []
    reasons = []
    if not on_ladder(price, list_price, guardrails):
        reasons.append(f"price {price:.2f} is not on the price ladder")
    if price < guardrails.min_price_fraction * list_price - PRICE_TOLERANCE:
        reasons.append(
            f"price {price:.2f} is below the minimum "
            f"({percent(guardrails.min_price_fraction)} of list {list_price:.2f})"
        )
    if price <= 0 or (price - unit_cost) / price < guardrails.min_margin - 1e-9:
        reasons.append(
            f"price {price:.2f} breaks the margin floor of {percent(guardrails.min_margin)} "
            f"over cost {unit_cost:.2f}"
        )
    if not step_within(previous, price, guardrails):
        reasons.append(
            f"change {previous:.2f} -> {price:.2f} exceeds the maximum step of "
            f"{percent(guardrails.max_step)}"
        )
    if price > previous and guardrails.monotone:
        reasons.append(f"increase {previous:.2f} -> {price:.2f} breaks markdown-only pricing")
    if price > previous and promo_week:
        reasons.append(f"increase {previous:.2f} -> {price:.2f} during a promotion")
    return reasons


@dataclass(frozen=True, slots=True)
class ChangeHistory:
    """Recent price changes as log ratios (new / old): their mean, spread and count."""

    mean: float
    sd: float
    n: int


MIN_HISTORY = 5


def change_history(log_changes: Sequence[float]) -> ChangeHistory:
    values = [x for x in log_changes if math.isfinite(x)]
    n = len(values)
    mean = sum(values) / n if n else 0.0
    var = sum((x - mean) ** 2 for x in values) / (n - 1) if n > 1 else 0.0
    return ChangeHistory(mean=mean, sd=math.sqrt(var), n=n)


def check_plan(
    prices: Sequence[float],
    *,
    current_price: float,
    list_price: float,
    unit_cost: float,
    promo_weeks: Sequence[bool],
    guardrails: Guardrails,
    history: ChangeHistory | None,
) -> list[str]:
    """Every reason to reject this weekly price path; empty when it may be proposed."""
    reasons = []
    previous = current_price
    for week, price in enumerate(prices):
        promo = bool(promo_weeks[week]) if week < len(promo_weeks) else False
        for reason in step_violations(
            previous=previous,
            price=price,
            list_price=list_price,
            unit_cost=unit_cost,
            promo_week=promo,
            guardrails=guardrails,
        ):
            reasons.append(f"week {week + 1}: {reason}")
        if history is not None and history.n >= MIN_HISTORY and abs(price - previous) > 0.005:
            change = math.log(price / previous)
            spread = max(history.sd, 1e-6)
            z = (change - history.mean) / spread
            if abs(z) > guardrails.history_sigmas:
                reasons.append(
                    f"week {week + 1}: a change of {percent(math.expm1(change), signed=True)} is "
                    f"{abs(z):.1f} standard deviations from recent price changes (mean "
                    f"{percent(math.expm1(history.mean), signed=True)}, sd {history.sd:.2f} in "
                    f"log terms, {history.n} changes)"
                )
        previous = price
    return reasons


PASSED = "passed"
CLOSE = "passed, close to the limit"
BROKEN = "broken"
NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    """One guardrail against a plan: its setting, the plan's own figure for it, the verdict,
    and, when it held the plan back, what the plan would have done without it. `edited`: the
    path was edited after it was planned, so the figure and verdict are the edited path's while
    `held_back` is what the guardrail did to the agent's plan before the edit."""

    guardrail: str
    setting: str
    plan: str
    verdict: str  # PASSED, CLOSE, BROKEN or NOT_CHECKED
    bound: bool
    held_back: str | None
    edited: bool = False

    @property
    def text(self) -> str:
        """The line a person reads; every guardrail's has the same shape: name (setting): the
        plan's figure: verdict. Whether it held the plan back, and what it prevented."""
        if self.bound and self.edited:
            held = f"Before the edit it held the agent's plan back: {self.held_back}."
        elif self.bound:
            held = f"It held the plan back: {self.held_back}."
        elif self.edited:
            held = "It did not hold the agent's plan back before the edit."
        else:
            held = "It did not hold the plan back."
        name = self.guardrail[:1].upper() + self.guardrail[1:]
        return f"{name} ({self.setting}): {self.plan}: {self.verdict}. {held}"


def guardrail_summary(checks: Sequence[GuardrailCheck], violations: Sequence[str]) -> str:
    """The one sentence above the lines, from the lines themselves (and the circuit breaker's
    reasons, which name the same guardrails): what is broken, else what held the plan back."""
    broken = [c.guardrail for c in checks if c.verdict == BROKEN]
    if broken:
        return f"Broken: {', '.join(broken)}."
    if violations:
        return f"The plan breaks the guardrails: {violations[0]}."
    unchecked = [c.guardrail for c in checks if c.verdict == NOT_CHECKED]
    head = "No guardrail is broken" + (
        f" ({', '.join(unchecked)}: not checked)" if unchecked else ""
    )
    held = [c.guardrail for c in checks if c.bound]
    edited = any(c.edited for c in checks)
    plan = "the agent's plan back before the edit" if edited else "the plan back"
    if not held:
        return f"{head}, and none held {plan}."
    return f"{head}; {len(held)} held {plan}: {', '.join(held)}."


def _against(figure: float, limit: float) -> str:
    """Whether `figure` (0 or more) is within `limit`, and whether close to it."""
    if figure > limit:
        return BROKEN
    return CLOSE if figure >= CLOSE_TO_LIMIT * limit else PASSED


def _past_changes(
    steps: Sequence[tuple[float, float]], history: ChangeHistory | None, sigmas: float
) -> tuple[str, str]:
    """The plan's change furthest from past price changes, in standard deviations of them."""
    if history is None:
        return "the plan does not record the past price changes", NOT_CHECKED
    if history.n < MIN_HISTORY:
        return f"{history.n} past price changes, fewer than the {MIN_HISTORY} needed", NOT_CHECKED
    if not steps:
        return "no price changes", PASSED
    spread = max(history.sd, 1e-6)
    a, b = max(steps, key=lambda s: abs(math.log(s[1] / s[0]) - history.mean))
    z = (math.log(b / a) - history.mean) / spread
    return (
        f"change {percent(b / a - 1, signed=True)} ({a:.2f} to {b:.2f}) is {z:+.2f} sd of past "
        f"changes (past changes: mean {percent(math.expm1(history.mean), signed=True)}, sd "
        f"{history.sd:.2f} in log terms, {history.n} changes)",
        _against(abs(z), sigmas),
    )


def _promotion_increase(
    path: Sequence[float], promo_weeks: Sequence[bool] | None
) -> tuple[str, str]:
    """Whether the plan raises a price in a week on promotion."""
    if promo_weeks is None:
        return "the plan's promotion weeks are not known", NOT_CHECKED
    on_promotion = [w for w, promo in enumerate(promo_weeks[: len(path) - 1]) if promo]
    if not on_promotion:
        return "no promotion in the plan's weeks", PASSED
    raised = [w for w in on_promotion if path[w + 1] > path[w] + PRICE_TOLERANCE]
    weeks = f"{len(on_promotion)} of the plan's weeks on promotion"
    if raised:
        w = raised[0]
        return f"{weeks}; week {w + 1} goes up {path[w]:.2f} to {path[w + 1]:.2f}", BROKEN
    return f"{weeks}, no price goes up in them", PASSED


def _busiest_day(busiest: tuple[str, int] | None, cap: int) -> tuple[str, str]:
    if busiest is None:
        return "the plan changes no price", PASSED
    day, count = busiest
    return (
        f"busiest of its days {day}: {count} price change{'' if count == 1 else 's'} across "
        "products (this plan and the approved ones)",
        _against(count, cap),
    )


def guardrail_checks(
    prices: Sequence[float],
    *,
    current_price: float,
    list_price: float,
    unit_cost: float,
    guardrails: Guardrails,
    bindings: dict[str, str],
    history: ChangeHistory | None = None,
    promo_weeks: Sequence[bool] | None = None,
    busiest: tuple[str, int] | None = None,
    edited: bool = False,
) -> list[GuardrailCheck]:
    """Every guardrail against a markdown, each with the plan's figure for it and a verdict by
    the same tests as `step_violations`; `bindings` maps each guardrail that held the plan back
    to what it prevented. `history` is the past price changes the plan was checked against,
    `promo_weeks` which of its weeks are on promotion (None: not known), `busiest` the day
    among its changes with the most price changes across products, with their count (None: it
    changes no price), and `edited` whether `prices` is a pricing manager's edit of the plan
    the bindings were found for."""
    path = [current_price, *prices]
    steps = [(a, b) for a, b in zip(path, path[1:], strict=False) if abs(b - a) > PRICE_TOLERANCE]
    lowest = min(path)
    margin = (lowest - unit_cost) / lowest if lowest > 0 else float("-inf")
    off_ladder = [b for _, b in steps if not on_ladder(b, list_price, guardrails)]
    if steps:
        a, b = max(steps, key=lambda s: abs(s[1] - s[0]) / s[0])
        change = b / a - 1
        within = step_within(a, b, guardrails)
        # One decimal would show a cut of 30.003% as the limit itself, "-30.0%", next to
        # "broken": a broken step is shown as precisely as it takes to see it is past the limit.
        shown = percent(change, signed=True) if within else f"{change:+.3%}"
        largest = f"largest weekly change {shown} ({a:.2f} to {b:.2f})"
        if not within:
            step_verdict = BROKEN
        elif abs(change) >= CLOSE_TO_LIMIT * guardrails.max_step:
            step_verdict = CLOSE
        else:
            step_verdict = PASSED
    else:
        largest, step_verdict = "no price changes", PASSED
    rises = [(a, b) for a, b in steps if b > a]
    floor = guardrails.min_price_fraction * list_price
    # A plan that does not record its rounding is judged by both rules it may have been made
    # under, and its lines say so.
    rounded, slack = (
        ("", "")
        if guardrails.rounding == TOWARD_LIST
        else (
            ", each rounded toward list or to the nearest cent (the plan does not record which "
            "rule it was made under)",
            ", or half a cent more where a rung was rounded to the nearest cent",
        )
    )
    figures = [
        (
            LADDER,
            f"prices at {', '.join(percent(f) for f in guardrails.ladder)} of list{rounded}",
            f"price {off_ladder[0]:.2f} is not on the ladder"
            if off_ladder
            else "every new price is on the ladder",
            BROKEN if off_ladder else PASSED,
        ),
        (
            MARGIN_FLOOR,
            f"margin at least {percent(guardrails.min_margin)}",
            f"lowest margin {percent(margin)} (price {lowest:.2f} over cost {unit_cost:.2f})",
            BROKEN if margin < guardrails.min_margin - 1e-9 else PASSED,
        ),
        (
            MINIMUM_PRICE,
            f"price at least {percent(guardrails.min_price_fraction)} of list ({floor:.2f})",
            f"lowest price {lowest:.2f}, {percent(lowest / list_price)} of list {list_price:.2f}",
            BROKEN if lowest < floor - PRICE_TOLERANCE else PASSED,
        ),
        (
            MAXIMUM_STEP,
            f"weekly change at most {percent(guardrails.max_step)}{slack}",
            largest,
            step_verdict,
        ),
        (
            MARKDOWN_ONLY,
            "prices never go up" if guardrails.monotone else "prices may go up",
            f"goes up {rises[0][0]:.2f} to {rises[0][1]:.2f}" if rises else "no price goes up",
            BROKEN if rises and guardrails.monotone else PASSED,
        ),
        (
            CHANGES_PER_DAY,
            f"at most {guardrails.max_changes_per_day} price changes a day across products",
            *_busiest_day(busiest, guardrails.max_changes_per_day),
        ),
        (
            PAST_CHANGES,
            f"change at most {guardrails.history_sigmas:.1f} standard deviations from past changes",
            *_past_changes(steps, history, guardrails.history_sigmas),
        ),
        (
            NO_PROMOTION_INCREASE,
            "no price goes up in a week on promotion",
            *_promotion_increase(path, promo_weeks),
        ),
    ]
    return [
        GuardrailCheck(name, setting, plan, verdict, name in bindings, bindings.get(name), edited)
        for name, setting, plan, verdict in figures
    ]
