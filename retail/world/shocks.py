"""Shocks planted in the generated world, so drift detection can be scored against a known truth.

A shock is written as `key=value` pairs, as `aisle data seed --shock` takes it:

- a demand shift: `category=Tents,from=2026-10-01,demand=+30%` (optionally `store=S003` to
  confine it to one location, `to=DAY` to end it); the expected demand of every SKU of the
  category at the matching locations is multiplied from that day on, so the oracle moves too.
- a supply disruption: `supplier=Cascade Supply Co.,from=2026-10-01,to=2026-10-21,supply=0`;
  only that share of the supplier's deliveries to the stores arrives in the window (0: none),
  the rest is lost, and the stores run out as their stock sells.

Without shocks the world is exactly the unshocked one: shocks change no random draw, only the
demand the draws are made around and the deliveries that arrive.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from retail.errors import AisleError

ShockKind = Literal["demand", "supply"]
# Where an evaluator reads the shocks a world was built with (beside its manifest).
SHOCKS_FILE = "shocks.json"
_KEYS = ("category", "store", "supplier", "from", "to", "demand", "supply")
_PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)%$")


@dataclass(frozen=True, slots=True)
class Shock:
    """One shock as written: `factor` multiplies demand (1.3 for +30%) or is the share of
    deliveries that arrive (0 for none); `end` is inclusive, None for the world's last day."""

    kind: ShockKind
    start: dt.date
    factor: float
    end: dt.date | None = None
    category: str | None = None
    store: str | None = None
    supplier: str | None = None

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = None if self.end is None else self.end.isoformat()
        return out


def parse_shock(text: str) -> Shock:
    """A shock from its `key=value,...` text; AisleError with one sentence when it is not one."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise AisleError(f"A shock is key=value pairs separated by commas, not {text!r}.")
        if key not in _KEYS:
            raise AisleError(f"A shock has no key {key!r}; use {', '.join(_KEYS)} (in {text!r}).")
        if key in fields:
            raise AisleError(f"A shock names {key!r} twice (in {text!r}).")
        fields[key] = value
    if "from" not in fields:
        raise AisleError(f"A shock needs from=YYYY-MM-DD, the day it starts (in {text!r}).")
    start = _date("from", fields["from"])
    end = _date("to", fields["to"]) if "to" in fields else None
    if end is not None and end < start:
        raise AisleError(f"A shock's to= day comes before its from= day (in {text!r}).")
    if ("demand" in fields) == ("supply" in fields):
        raise AisleError(f"A shock changes either demand= or supply=, exactly one (in {text!r}).")
    if "demand" in fields:
        if "supplier" in fields:
            raise AisleError(
                f"A demand shock names a category and a store, not a supplier ({text!r})."
            )
        if "category" not in fields and "store" not in fields:
            raise AisleError(f"A demand shock needs category= or store= (in {text!r}).")
        match = _PERCENT.match(fields["demand"])
        if match is None:
            raise AisleError(
                f"demand= takes a signed percentage such as +30%, not {fields['demand']!r}."
            )
        factor = 1.0 + float(match.group(1)) / 100.0
        if factor <= 0:
            raise AisleError(f"demand= cannot take demand to zero or below ({fields['demand']!r}).")
        return Shock(
            "demand", start, factor, end, category=fields.get("category"), store=fields.get("store")
        )
    if "supplier" not in fields or "category" in fields or "store" in fields:
        raise AisleError(
            f"A supply shock names a supplier= and nothing else to match (in {text!r})."
        )
    return Shock("supply", start, _share(fields["supply"]), end, supplier=fields["supplier"])


def _date(key: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise AisleError(f"{key}= takes a date as YYYY-MM-DD, not {value!r}.") from None


def _share(value: str) -> float:
    match = _PERCENT.match(value)
    try:
        share = float(match.group(1)) / 100.0 if match else float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share < 1.0:
        raise AisleError(
            f"supply= takes the share of deliveries that still arrive, from 0 to below 100%, "
            f"not {value!r}."
        )
    return share


@dataclass(frozen=True, slots=True)
class ResolvedShock:
    """A shock matched against the world: which categories, locations and suppliers it hits
    (indices into the world's own lists) and its days as indices of the world's calendar."""

    shock: Shock
    category_index: int | None
    location_indices: tuple[int, ...] | None  # None: every location
    supplier_index: int | None
    first_day: int
    last_day: int  # inclusive

    def truth(
        self, category_id: str | None, location_ids: list[str], supplier_id: str | None, series: int
    ) -> dict[str, Any]:
        return {
            **self.shock.describe(),
            "category_id": category_id,
            "location_ids": location_ids,
            "supplier_id": supplier_id,
            "series": series,
        }


def resolve_shocks(
    shocks: list[Shock],
    *,
    days: tuple[dt.date, ...],
    category_names: list[str],
    location_ids: list[str],
    supplier_names: list[str],
    supplier_ids: list[str],
) -> list[ResolvedShock]:
    """Match each shock to the world, or raise AisleError naming what it does not hold."""
    resolved = []
    first, last = days[0], days[-1]
    for shock in shocks:
        if not first <= shock.start <= last:
            raise AisleError(
                f"A shock starting {shock.start} is outside the world's days ({first} to {last})."
            )
        end = last if shock.end is None or shock.end > last else shock.end
        category = None
        if shock.category is not None:
            lowered = [n.lower() for n in category_names]
            if shock.category.lower() not in lowered:
                raise AisleError(
                    f"The world has no category {shock.category!r}; it has "
                    f"{', '.join(sorted(category_names))}."
                )
            category = lowered.index(shock.category.lower())
        locations = None
        if shock.store is not None:
            if shock.store not in location_ids:
                raise AisleError(
                    f"The world has no location {shock.store!r}; it has {', '.join(location_ids)}."
                )
            locations = (location_ids.index(shock.store),)
        supplier = None
        if shock.supplier is not None:
            names = [n.lower() for n in supplier_names]
            wanted = shock.supplier.lower()
            if wanted in names:
                supplier = names.index(wanted)
            elif shock.supplier.upper() in supplier_ids:
                supplier = supplier_ids.index(shock.supplier.upper())
            else:
                raise AisleError(
                    f"The world has no supplier {shock.supplier!r}; it has "
                    f"{', '.join(supplier_names)}."
                )
        resolved.append(
            ResolvedShock(
                shock, category, locations, supplier, days.index(shock.start), days.index(end)
            )
        )
    return resolved


def demand_multiplier(
    shocks: list[ResolvedShock], category: np.ndarray, location: np.ndarray, n_days: int
) -> np.ndarray | None:
    """(n, n_days) multiplier of expected demand for series of these categories and locations;
    None when no demand shock applies (the world is then built exactly as without shocks)."""
    out = None
    for rs in shocks:
        if rs.shock.kind != "demand":
            continue
        hit = _matches(rs, category, location)
        if out is None:
            out = np.ones((len(category), n_days))
        out[hit, rs.first_day : rs.last_day + 1] *= rs.shock.factor
    return out


def delivered_share(
    shocks: list[ResolvedShock], supplier: np.ndarray, n_days: int
) -> np.ndarray | None:
    """(n, n_days) share of each day's arriving deliveries that arrives, for series bought from
    these suppliers; None when no supply shock applies."""
    out = None
    for rs in shocks:
        if rs.shock.kind != "supply":
            continue
        if out is None:
            out = np.ones((len(supplier), n_days))
        hit = supplier == rs.supplier_index
        out[hit, rs.first_day : rs.last_day + 1] = np.minimum(
            out[hit, rs.first_day : rs.last_day + 1], rs.shock.factor
        )
    return out


def _matches(rs: ResolvedShock, category: np.ndarray, location: np.ndarray) -> np.ndarray:
    hit = np.ones(len(category), dtype=bool)
    if rs.category_index is not None:
        hit &= category == rs.category_index
    if rs.location_indices is not None:
        hit &= np.isin(location, rs.location_indices)
    return hit


def series_hit(
    rs: ResolvedShock, category: np.ndarray, location: np.ndarray, supplier: np.ndarray
) -> int:
    """How many series the shock touches."""
    if rs.shock.kind == "supply":
        return int((supplier == rs.supplier_index).sum())
    return int(_matches(rs, category, location).sum())
