"""The checks a typed feed batch must pass before it is applied, against what the store holds.

Every check returns `FeedProblem`s (one sentence each); a batch with any is quarantined. The
order is the order a person would fix things in: the rows' keys (duplicates), the ids they name,
their dates (freshness, then days missing before or inside the batch), then the volumes.

Volumes are judged against each location's own history and net of its peers' movement that
day: a store-day's units against the median of the same weekday in the 8 weeks before (its
spread from their median absolute deviation), in log terms, minus the median of that score over
the locations of its kind the same day (the stores; the online channel moves on its own, open
when the stores close on Thanksgiving and Christmas Day). Black Friday lifts every store at once
and leaves each store's score near its peers'; one store's units multiplied by 100, or a store
whose till sent nothing, stands out from them by far more than its own weeks vary. A location
with no peers (the online channel) is judged alone, against the bound for a whole chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from retail.feeds.formats import DATE_COLUMN, FIRST_ROW_LINE, ROW_KEY, FeedKind, FeedProblem
from retail.price_zones import PRICED_KINDS
from retail.store.models import DailySales, FeedBatch, InventoryPosition, Location, Variant

# Same weekdays of history a store-day is compared with, and the fewest it needs to be judged
# (a store open for less than a month is not judged on volume yet).
HISTORY_WEEKS = 8
MIN_HISTORY_WEEKS = 4
# Units added to both sides of a ratio so that a store selling 2 units where it usually sells 1
# is not a "2x" event.
VOLUME_SMOOTHING_UNITS = 2.0
# A store-day is out of range when its log ratio to its history, net of its peers' that day, is
# beyond both this factor and VOLUME_MAD_LIMIT of its own spread (robust z, MAD scaled to a
# standard deviation). The factor is the floor for steady stores whose spread is tiny.
VOLUME_RATIO_LIMIT = 4.0
VOLUME_MAD_LIMIT = 3.0
# The stores moving this much at once (every store x100: a unit error in the extract), or a
# location with no peers moving this much, is out of range too; holiday peaks stay well under
# it (on the small world: the stores about 3.9x on Black Friday, online at most 3.8x). A
# chain-wide fall is not flagged: the stores close together on Thanksgiving and Christmas Day.
CHAIN_RATIO_LIMIT = 20.0
# An inventory snapshot whose total on hand at a location moves this far from the stock recorded
# there, or that lists under this share of the location's known SKUs, is not a snapshot of it.
STOCK_RATIO_LIMIT = 20.0
MIN_SNAPSHOT_COVERAGE = 0.5
# A catalogue price moving beyond this factor from the current one is a misplaced decimal point,
# not a markdown (the generated world's clearances go to 40% off; even 90% off stays inside).
PRICE_RATIO_LIMIT = 10.0
_SHOWN = 3  # ids named in a sentence before "and N more"


@dataclass(frozen=True, slots=True)
class Reference:
    """What the checks compare a batch with: the store's locations, SKUs and today."""

    today: dt.date
    locations: dict[str, str]  # id -> kind
    variants: dict[str, str]  # id -> product id
    prices: dict[str, float]  # variant id -> current list price


def load_reference(conn: Connection, today: dt.date) -> Reference:
    locations = dict(conn.execute(select(Location.id, Location.kind)).all())
    variants, prices = {}, {}
    for variant_id, product_id, price in conn.execute(
        select(Variant.id, Variant.product_id, Variant.price)
    ):
        variants[variant_id] = product_id
        prices[variant_id] = float(price)
    return Reference(today, locations, variants, prices)


def _listed(values: Iterable[object]) -> str:
    values = sorted({str(v) for v in values})
    shown = ", ".join(values[:_SHOWN])
    more = len(values) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _selling(ref: Reference) -> list[str]:
    """The locations that sell: where prices apply (`retail.price_zones`)."""
    return sorted(loc for loc, kind in ref.locations.items() if kind in PRICED_KINDS)


def duplicate_rows(kind: FeedKind, rows: pd.DataFrame) -> list[FeedProblem]:
    key = list(ROW_KEY[kind])
    repeated = rows.duplicated(key, keep=False)
    if not repeated.any():
        return []
    extra = int(rows.duplicated(key, keep="first").sum())
    first = rows[repeated].iloc[0]
    same = repeated & (rows[key] == first[key]).all(axis=1)
    lines = (rows.index[same] + FIRST_ROW_LINE).tolist()
    named = ", ".join(f"{column} {first[column]}" for column in key)
    return [
        FeedProblem(
            "duplicates",
            f"The {kind} file repeats {_plural(extra, 'row')} with the same "
            f"{', '.join(key)} (first: {named} on lines {lines[0]} and {lines[1]})",
        )
    ]


def unknown_ids(kind: FeedKind, rows: pd.DataFrame, ref: Reference) -> list[FeedProblem]:
    problems = []
    if "location_id" in rows:
        # Sales happen where prices apply (the stores and online, `retail.price_zones`); stock
        # is also held at the distribution centre.
        allowed = _selling(ref) if kind == "sales" else sorted(ref.locations)
        unknown = set(rows["location_id"]) - set(allowed)
        if unknown:
            verb = "is" if len(unknown) == 1 else "are"
            what, which = (
                (f"that {verb} not a store or the online channel", "those are")
                if kind == "sales"
                else ("the store does not have", "its locations are")
            )
            problems.append(
                FeedProblem(
                    "unknown_ids",
                    f"The {kind} file names {_plural(len(unknown), 'location')} {what} "
                    f"({_listed(unknown)}; {which} {', '.join(allowed)})",
                )
            )
    unknown = set(rows["variant_id"]) - set(ref.variants)
    if unknown:
        problems.append(
            FeedProblem(
                "unknown_ids",
                f"The {kind} file names {_plural(len(unknown), 'SKU')} the catalogue does not "
                f"have ({_listed(unknown)})",
            )
        )
    if kind == "catalog":
        known = rows[rows["variant_id"].isin(ref.variants)]
        moved = known[known["product_id"] != known["variant_id"].map(ref.variants)]
        if len(moved):
            first = moved.iloc[0]
            problems.append(
                FeedProblem(
                    "unknown_ids",
                    f"The catalog file puts {_plural(len(moved), 'SKU')} under another product "
                    f"(first: {first['variant_id']} is a SKU of "
                    f"{ref.variants[first['variant_id']]}, not {first['product_id']})",
                )
            )
    return problems


def future_dates(kind: FeedKind, rows: pd.DataFrame, ref: Reference) -> list[FeedProblem]:
    """A day's sales are final once the day is over, so sales are dated before today; a
    snapshot or a price change is dated today at the latest."""
    column = DATE_COLUMN[kind]
    last_allowed = ref.today - dt.timedelta(days=1) if kind == "sales" else ref.today
    ahead = sorted({d for d in rows[column] if d > last_allowed})
    if not ahead:
        return []
    what = {"sales": "sales of", "inventory": "a snapshot of", "catalog": "prices from"}[kind]
    return [
        FeedProblem(
            "freshness",
            f"The {kind} file holds {what} {_listed(d.isoformat() for d in ahead)}, after the "
            f"last day it may hold ({last_allowed.isoformat()}; today is {ref.today.isoformat()})",
        )
    ]


def sales_days(conn: Connection, rows: pd.DataFrame, ref: Reference) -> list[FeedProblem]:
    """Days already loaded (a feed does not restate them), the days between the last loaded
    day and the batch's first that never arrived, and days inside the batch with no rows."""
    days = sorted(set(rows["day"]))
    selling = _selling(ref)
    # Every query names its locations so that it reads the (location, day) index, not the
    # whole fact table.
    loaded = conn.execute(
        select(DailySales.location_id, DailySales.day)
        .where(DailySales.location_id.in_(selling), DailySales.day.in_(days))
        .group_by(DailySales.location_id, DailySales.day)
    ).all()
    batch_keys = set(zip(rows["location_id"], rows["day"], strict=True))
    overlap = sorted((day, loc) for loc, day in loaded if (loc, day) in batch_keys)
    if overlap:
        day, loc = overlap[0]
        return [
            FeedProblem(
                "freshness",
                f"Sales of {loc} for {day.isoformat()} are already loaded "
                f"({_plural(len(overlap), 'location-day')} of this batch are); a feed adds "
                "days, it does not restate them",
            )
        ]
    problems = []
    lasts = [
        conn.scalar(
            select(func.max(DailySales.day)).where(
                DailySales.location_id == loc, DailySales.day < days[0]
            )
        )
        for loc in selling
    ]
    last = max((d for d in lasts if d is not None), default=None)
    if last is not None and (days[0] - last).days > 1:
        gap = [last + dt.timedelta(days=i) for i in range(1, (days[0] - last).days)]
        problems.append(
            FeedProblem(
                "missing_day",
                f"No sales have arrived for {_listed(d.isoformat() for d in gap)}: the last "
                f"day loaded is {last.isoformat()} and this batch starts on "
                f"{days[0].isoformat()}",
            )
        )
    inside = pd.date_range(days[0], days[-1]).date
    absent = [d for d in inside if d not in set(days)]
    if absent:
        problems.append(
            FeedProblem(
                "missing_day",
                f"The sales file covers {days[0].isoformat()} to {days[-1].isoformat()} but has "
                f"no rows for {_listed(d.isoformat() for d in absent)}",
            )
        )
    return problems


def sales_volumes(
    conn: Connection, rows: pd.DataFrame, ref: Reference
) -> tuple[list[FeedProblem], list[dict[str, object]]]:
    """Each location-day's units against its own same weekdays, net of the chain (see the
    module docstring); the problems and every location-day's figures."""
    days = sorted(set(rows["day"]))
    history_days = sorted(
        {d - dt.timedelta(weeks=k) for d in days for k in range(1, HISTORY_WEEKS + 1)}
    )
    selling = _selling(ref)
    history = pd.DataFrame(
        conn.execute(
            select(DailySales.location_id, DailySales.day, func.sum(DailySales.units))
            .where(DailySales.location_id.in_(selling), DailySales.day.in_(history_days))
            .group_by(DailySales.location_id, DailySales.day)
        ).all(),
        columns=["location_id", "day", "units"],
    )
    first_sale = {
        loc: first
        for loc in selling
        if (
            first := conn.scalar(
                select(func.min(DailySales.day)).where(DailySales.location_id == loc)
            )
        )
        is not None
    }
    sold = history.set_index(["location_id", "day"])["units"].to_dict()
    batch = rows.groupby(["location_id", "day"])["units"].sum().to_dict()
    figures: list[dict[str, object]] = []
    for day in days:
        for loc in selling:
            past = [
                day - dt.timedelta(weeks=k)
                for k in range(1, HISTORY_WEEKS + 1)
                if loc in first_sale and day - dt.timedelta(weeks=k) >= first_sale[loc]
            ]
            if len(past) < MIN_HISTORY_WEEKS:
                continue
            hist = np.log(np.array([sold.get((loc, d), 0) for d in past]) + VOLUME_SMOOTHING_UNITS)
            units = int(batch.get((loc, day), 0))
            median = float(np.median(hist))
            spread = 1.4826 * float(np.median(np.abs(hist - median)))
            figures.append(
                {
                    "location_id": loc,
                    "day": day,
                    "units": units,
                    "median": float(np.exp(median) - VOLUME_SMOOTHING_UNITS),
                    "score": float(np.log(units + VOLUME_SMOOTHING_UNITS) - median),
                    "spread": spread,
                    "weeks": len(past),
                }
            )
    if not figures:
        return [], []
    frame = pd.DataFrame(figures)
    frame["kind"] = frame["location_id"].map(ref.locations)
    peers = frame.groupby(["day", "kind"])["score"]
    alone = peers.transform("size") < 2
    frame["chain"] = np.where(alone, 0.0, peers.transform("median"))
    frame["net"] = frame["score"] - frame["chain"]
    bound = np.where(alone, np.log(CHAIN_RATIO_LIMIT), np.log(VOLUME_RATIO_LIMIT))
    frame["limit"] = np.maximum(bound, VOLUME_MAD_LIMIT * frame["spread"])
    problems = []
    for _, row in frame[frame["net"].abs() > frame["limit"]].iterrows():
        problems.append(FeedProblem("volume", _volume_sentence(row)))
    together = frame[~alone].groupby(["day", "kind"])["chain"].first()
    for (day, kind), chain in together.items():
        if chain > np.log(CHAIN_RATIO_LIMIT):
            problems.append(
                FeedProblem(
                    "volume",
                    f"Every {kind}'s sales for {day.isoformat()} are about "
                    f"{np.exp(chain):,.0f}x its median of the last {HISTORY_WEEKS} "
                    f"{day.strftime('%A')}s, far beyond any holiday peak",
                )
            )
    frame["day"] = frame["day"].map(dt.date.isoformat)
    return problems, frame.round(4).to_dict("records")


def _volume_sentence(row: pd.Series) -> str:
    loc, day, units, median = row["location_id"], row["day"], row["units"], row["median"]
    weekday = f"the last {row['weeks']} {day.strftime('%A')}s"
    chain = np.exp(row["chain"])
    moved = f"; the {row['kind']}s moved {chain:.1f}x" if abs(chain - 1) >= 0.05 else ""
    if units == 0:
        return (
            f"{loc} reported no sales for {day.isoformat()} against a median of {median:,.0f} "
            f"units on {weekday}{moved}"
        )
    ratio = units / median if median >= 1 else units
    size = f"{ratio:,.0f}x" if ratio >= 1 else f"1/{1 / ratio:,.0f}"
    return (
        f"{loc}'s sales for {day.isoformat()} are {size} its median of {weekday} "
        f"(units {units:,} vs {median:,.0f}){moved}"
    )


def inventory_snapshot(
    conn: Connection, rows: pd.DataFrame, ref: Reference
) -> tuple[list[FeedProblem], list[dict[str, object]]]:
    """One date per snapshot, no older than the last applied; each location's total on hand
    near the recorded one, and most of its known SKUs listed."""
    dates = sorted(set(rows["as_of"]))
    if len(dates) > 1:
        return [
            FeedProblem(
                "schema",
                f"The inventory file holds snapshots of {_plural(len(dates), 'date')} "
                f"({_listed(d.isoformat() for d in dates)}); a snapshot has one",
            )
        ], []
    as_of = dates[0]
    applied = conn.scalar(
        select(func.max(FeedBatch.last_day)).where(
            FeedBatch.kind == "inventory", FeedBatch.status == "accepted"
        )
    )
    if applied is not None and as_of < applied:
        return [
            FeedProblem(
                "freshness",
                f"The inventory snapshot of {as_of.isoformat()} is older than the one already "
                f"applied ({applied.isoformat()})",
            )
        ], []
    locations = sorted(set(rows["location_id"]))
    recorded = pd.DataFrame(
        conn.execute(
            select(
                InventoryPosition.location_id,
                func.count(),
                func.sum(InventoryPosition.on_hand),
            )
            .where(InventoryPosition.location_id.in_(locations))
            .group_by(InventoryPosition.location_id)
        ).all(),
        columns=["location_id", "positions", "on_hand"],
    ).set_index("location_id")
    listed = rows.groupby("location_id").agg(
        skus=("variant_id", "size"), on_hand=("on_hand", "sum")
    )
    problems, figures = [], []
    for loc in locations:
        skus, total = int(listed.at[loc, "skus"]), int(listed.at[loc, "on_hand"])
        known = int(recorded.at[loc, "positions"]) if loc in recorded.index else 0
        before = int(recorded.at[loc, "on_hand"] or 0) if loc in recorded.index else 0
        figures.append(
            {
                "location_id": loc,
                "skus": skus,
                "known_skus": known,
                "on_hand": total,
                "recorded_on_hand": before,
            }
        )
        if known and skus < MIN_SNAPSHOT_COVERAGE * known:
            problems.append(
                FeedProblem(
                    "volume",
                    f"The snapshot lists {skus:,} of the {known:,} SKUs {loc} keeps stock of",
                )
            )
        ratio = (total + VOLUME_SMOOTHING_UNITS) / (before + VOLUME_SMOOTHING_UNITS)
        if known and not 1 / STOCK_RATIO_LIMIT <= ratio <= STOCK_RATIO_LIMIT:
            size = f"{ratio:,.0f}x" if ratio >= 1 else f"1/{1 / ratio:,.0f}"
            problems.append(
                FeedProblem(
                    "volume",
                    f"{loc}'s stock on hand in the snapshot is {size} the recorded stock "
                    f"({total:,} units vs {before:,})",
                )
            )
    return problems, figures


def catalog_prices(rows: pd.DataFrame, ref: Reference) -> list[FeedProblem]:
    """Price changes beyond PRICE_RATIO_LIMIT either way."""
    current = rows["variant_id"].map(ref.prices)
    ratio = rows["price"] / current
    wild = rows[(ratio > PRICE_RATIO_LIMIT) | (ratio < 1 / PRICE_RATIO_LIMIT)]
    if wild.empty:
        return []
    first = wild.iloc[0]
    before = ref.prices[first["variant_id"]]
    change = first["price"] / before
    size = f"{change:,.0f}x" if change >= 1 else f"1/{1 / change:,.0f}"
    return [
        FeedProblem(
            "value_range",
            f"The catalog file moves {_plural(len(wild), 'price')} more than "
            f"{PRICE_RATIO_LIMIT:.0f}x (first: {first['variant_id']} from {before:,.2f} to "
            f"{first['price']:,.2f}, {size})",
        )
    ]


def first_problems(*groups: Sequence[FeedProblem]) -> list[FeedProblem]:
    """The problems of the first group that has any: later checks assume earlier ones passed
    (volumes of rows with unknown ids mean nothing)."""
    for group in groups:
        if group:
            return list(group)
    return []
