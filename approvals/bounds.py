"""The bounds every proposal's figures stay within, wherever they come from: a planner writing a
proposal, a person editing one on the command line, over HTTP or in an agent run.

One rule, one place: a quantity is 0 (no order) or a whole number of the line's case packs, at
least the supplier's minimum order (MOQ) and at most `MAX_EDIT_FACTOR` times what the planner
proposed for the line; a price is a positive, finite
amount no higher than the proposal's own ceiling (the list price or today's price, whichever is
higher); a unit cost is a finite amount of zero or more. Each refusal is one sentence that names
the figure and the limit, raised before anything is written.
"""

from __future__ import annotations

import math

from retail.errors import AisleError

# An edit may order at most this many times what the planner proposed for a line: far above
# any honest correction, far below a typo with extra zeros (3,000,000,000 units).
MAX_EDIT_FACTOR = 10


class BoundsError(AisleError):
    """A quantity, price or amount of money is outside what a proposal may hold; `field` names
    the SKU whose quantity it is, so a form can show the sentence beside that input."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BoundsError(f"The {what} must be a number, not {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise BoundsError(f"The {what} must be a finite number, not {value}.")
    return number


def quantity_ceiling(proposed: int, case_pack: int) -> int:
    """The most units a line proposed at `proposed` may be edited to, in whole cases."""
    pack = max(case_pack, 1)
    return max(math.ceil(MAX_EDIT_FACTOR * max(proposed, 0) / pack), 1) * pack


def quantity_floor(moq: int, case_pack: int) -> int:
    """The fewest units a line may order (other than none): the supplier's minimum order,
    rounded up to whole cases, and at least one case."""
    pack = max(case_pack, 1)
    return max(math.ceil(max(moq, 0) / pack), 1) * pack


def check_quantity(
    sku: str, value: object, *, case_pack: int, ceiling: int | None, floor: int = 0
) -> int:
    """`value` as whole units of `sku`: 0, or whole cases of `case_pack` from `floor` (the
    supplier's minimum order, see `quantity_floor`) to `ceiling` (None: no ceiling, for what a
    planner proposes)."""
    try:
        units = _number(value, f"quantity for {sku}")
    except BoundsError as exc:
        raise BoundsError(str(exc), field=sku) from None
    pack = max(case_pack, 1)
    if units < 0 or not units.is_integer():
        raise BoundsError(
            f"The quantity for {sku} must be a whole number of units, 0 or more.", field=sku
        )
    whole = int(units)
    if ceiling is not None and whole > ceiling:
        raise BoundsError(
            f"{whole:,} units of {sku} is more than {MAX_EDIT_FACTOR} times the proposed line; "
            f"order at most {ceiling:,}.",
            field=sku,
        )
    # A floor of one case is the case-pack rule's to state.
    if 0 < whole < floor and floor > pack:
        raise BoundsError(
            f"{whole:,} units of {sku} is below the supplier's minimum order of {floor:,}; "
            f"order at least {floor:,}, or 0 to drop the line.",
            field=sku,
        )
    if whole % pack:
        raise BoundsError(
            f"{whole:,} units of {sku} is not a whole number of cases of {pack}.", field=sku
        )
    return whole


def price_ceiling(*prices: float) -> float:
    """The highest price a proposal may set: the highest of the prices it was planned from."""
    return max(prices)


def check_price(label: str, value: object, *, ceiling: float) -> float:
    """`value` as a price for `label`: positive, finite, at most `ceiling`."""
    price = _number(value, f"price for {label}")
    if price <= 0:
        raise BoundsError(f"The price for {label} must be positive, not {value}.")
    if price > ceiling + 0.005:
        raise BoundsError(
            f"The price for {label} ({price:,.2f}) is above the proposal's ceiling of "
            f"{ceiling:,.2f} (its list or current price)."
        )
    return price


def check_money(label: str, value: object) -> float:
    """`value` as an amount of money (a unit cost): finite, zero or more."""
    amount = _number(value, label)
    if amount < 0:
        raise BoundsError(f"The {label} must be zero or more, not {value}.")
    return amount
