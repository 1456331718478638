"""The store's own sales as a weekly pricing panel: one row per product (and location) and week.

Built from what the database records (daily sales, list-price history, scheduled promotions)
through the forecasting panel, so it works on any store, never on the generated world's truth.
Prices are relative to each SKU's first listed price (promotion discounts included); a
product's log price is the mean over its SKU-locations, which move together. The first weeks after a
product's first sale are left out: demand is still ramping up there, whatever the price.

Stock-outs censor sales, and they cluster on promotions and markdowns (demand jumps, the shelf
empties): counting only what was sold, or leaving the stocked-out days out (the days kept are
then those on which demand happened to stay under stock), biases elasticities toward zero. A
SKU-location's stocked-out day says its demand was *more* than it sold; its demand is imputed as
the mean above that floor of a gamma-Poisson count (its over-dispersion estimated from the
in-stock days) at the rate its product's in-stock SKU-locations sold that day, relative to each
one's usual daily sales on in-stock days.

Prices are the ones recorded with the sales (what shoppers paid, promotions included); the price
list and promotion calendar fill the days on which a product recorded no sale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import nbinom, poisson
from sqlalchemy import Engine, select

from ml_core.forecasting.base import DS, ID, Y
from ml_core.forecasting.store_panel import load_price_events, sales_panel
from ml_core.pricing.elasticity import GROUP, ITEM, LOG_PRICE, PERIOD, QTY, UNIT, weekly_panel
from retail.store.models import Brand, DailySales, Product

PROMO = "promo_share"
CONTROLS = (PROMO,)
RAMP_WEEKS = 6


def pricing_panel(
    engine: Engine,
    *,
    location_id: str | None = None,
    by_location: bool = False,
    history_days: int | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The weekly product panel (chain-wide, or per location) and the last day of sales."""
    records = load_sales_records(engine, location_id=location_id, history_days=history_days)
    return records.weekly_panel(by_location=by_location), records.last_day


def daily_pricing_panel(
    engine: Engine,
    *,
    location_id: str | None = None,
    by_location: bool = False,
    history_days: int | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The daily product panel (ITEM, GROUP, optional UNIT, PERIOD, QTY, LOG_PRICE, PROMO) and
    the last day of sales; the first RAMP_WEEKS after a product's first sale are left out."""
    records = load_sales_records(engine, location_id=location_id, history_days=history_days)
    return records.daily_panel(by_location=by_location), records.last_day


@dataclass(frozen=True, slots=True)
class SalesRecords:
    """The SKU-location days the panels are built from, read from the database once: the
    forecasting panel's rows (`sales_panel`), and per row whether the SKU was out of stock and
    the price its sales were recorded at (relative to the SKU's reference price, NaN without a
    record). Reading them is most of a panel's cost (every daily sales row, twice)."""

    frame: pd.DataFrame
    last_day: pd.Timestamp
    stocked_out: np.ndarray
    recorded_ratio: np.ndarray

    def weekly_panel(self, *, by_location: bool = False) -> pd.DataFrame:
        """The weekly product panel (chain-wide, or per location)."""
        daily = self.daily_panel(by_location=by_location)
        return weekly_panel(daily, time_col=PERIOD, controls=CONTROLS)

    def daily_panel(self, *, by_location: bool = False) -> pd.DataFrame:
        """The daily product panel (see `daily_pricing_panel`)."""
        frame = self.frame.assign(in_stock=~self.stocked_out)
        recorded_ratio = pd.Series(self.recorded_ratio, index=frame.index)
        usual = frame[Y].where(frame["in_stock"]).groupby(frame[ID]).transform("mean")
        usual = usual.fillna(0.0)
        keys = ["product_id", "category_id", *(["location_id"] if by_location else []), DS]
        cells = frame[[*keys, "on_promo"]].assign(
            planned_log_price=np.log(frame["price_ratio"].clip(lower=1e-6)),
            recorded_log_price=np.log(recorded_ratio.clip(lower=1e-6)),
            kept=frame[Y].where(frame["in_stock"], 0.0),
            usual_kept=usual.where(frame["in_stock"], 0.0),
        )
        grouped = cells.groupby(keys, sort=False, observed=True)
        daily = grouped.agg(
            kept=("kept", "sum"),
            usual_kept=("usual_kept", "sum"),
            planned_log_price=("planned_log_price", "mean"),
            recorded_log_price=("recorded_log_price", "mean"),
            promo_share=("on_promo", "mean"),
        ).reset_index()
        # A day on which every SKU-location was out of stock has no rate to impute from: dropped
        # (its week then has fewer than seven days and is left out too).
        rated = (daily["usual_kept"] > 0).to_numpy()
        daily = daily[rated].reset_index(drop=True)
        # Each SKU-location day's row in `daily` (-1 where dropped), by the cells' numbers.
        cell = grouped.ngroup().to_numpy()
        row_of_cell = np.where(rated, np.cumsum(rated) - 1, -1)
        in_stock = frame["in_stock"].to_numpy()
        sold, usual_units = frame[Y].to_numpy(), usual.to_numpy()
        row = row_of_cell[cell[~in_stock]]
        rate = (daily["kept"] / daily["usual_kept"]).to_numpy()
        kept_row = row >= 0
        imputed = mean_above(
            usual_units[~in_stock][kept_row] * rate[row[kept_row]],
            sold[~in_stock][kept_row],
            _dispersion(cell[in_stock], sold[in_stock], usual_units[in_stock]),
        )
        daily[QTY] = daily["kept"] + np.bincount(row[kept_row], imputed, minlength=len(daily))
        daily[LOG_PRICE] = daily["recorded_log_price"].fillna(daily["planned_log_price"])
        daily = daily.rename(
            columns={"product_id": ITEM, "category_id": GROUP, "location_id": UNIT, DS: PERIOD}
        )
        first = daily.groupby(ITEM)[PERIOD].transform("min")
        daily = daily[daily[PERIOD] >= first + pd.Timedelta(weeks=RAMP_WEEKS)]
        columns = [c for c in (ITEM, GROUP, UNIT, PERIOD, QTY, LOG_PRICE, PROMO) if c in daily]
        return daily[columns].reset_index(drop=True)


def item_features(engine: Engine) -> pd.DataFrame:
    """The product features the elasticity prior reads (`DMLElasticity.fit`'s `item_features`):
    its brand's tier (value, core, premium: premium shoppers are less price sensitive), one
    row per product, indexed by product id; empty without products."""
    with engine.connect() as conn:
        rows = pd.read_sql(
            select(Product.id.label(ITEM), Brand.tier.label("brand_tier")).outerjoin(
                Brand, Product.brand_id == Brand.id
            ),
            conn,
        )
    return rows.set_index(ITEM)


def load_sales_records(
    engine: Engine, *, location_id: str | None = None, history_days: int | None = None
) -> SalesRecords:
    """The sales records of one location (or every one), over the last `history_days` days
    (or all)."""
    data, last_day = sales_panel(engine, location_id=location_id, history_days=history_days)
    stocked_out, recorded_ratio = _sales_records(engine, data.frame)
    return SalesRecords(
        frame=data.frame,
        last_day=last_day,
        stocked_out=stocked_out,
        recorded_ratio=recorded_ratio,
    )


def mean_above(mean: np.ndarray, floor: np.ndarray, dispersion: float) -> np.ndarray:
    """E[D | D > floor] for D with the given mean and variance mean + dispersion * mean^2
    (gamma-Poisson; Poisson at dispersion 0), at least floor + 1 (its limit at mean zero).

    E[D 1(D > s)] = mean * P(D' >= s), D' the size-biased count: Poisson(mean) again, or the
    negative binomial with one more in its shape.
    """
    mean = np.maximum(mean, 1e-9)
    if dispersion > 0:
        shape = 1.0 / dispersion
        p = shape / (shape + mean)
        log_ratio = nbinom.logsf(floor - 1, shape + 1, p) - nbinom.logsf(floor, shape, p)
    else:
        log_ratio = poisson.logsf(floor - 1, mean) - poisson.logsf(floor, mean)
    above = np.nan_to_num(mean * np.exp(log_ratio), nan=0.0, posinf=0.0)
    return np.maximum(above, floor + 1.0)


def _dispersion(cell: np.ndarray, sold: np.ndarray, usual: np.ndarray) -> float:
    """Moment estimate of the in-stock SKU-location days' over-dispersion: Var = m +
    dispersion * m^2, m each one's usual sales times its product-day's (`cell`'s) rate from the
    *other* in-stock SKU-locations (its own sales left out, or the rate would fit its noise)."""
    grouped = pd.DataFrame({Y: sold, "usual": usual}).groupby(cell, sort=False)
    others_sold = grouped[Y].transform("sum").to_numpy() - sold
    others_usual = grouped["usual"].transform("sum").to_numpy() - usual
    ok = others_usual > 0
    m = (usual * others_sold / np.where(ok, others_usual, 1.0))[ok]
    y = sold[ok]
    scale = float(np.sum(m**2))
    return max(float(np.sum((y - m) ** 2 - m)) / scale, 0.0) if scale > 0 else 0.0


def _sales_records(engine: Engine, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per panel row: was the SKU out of stock at its location that day, and the price its sales
    there were recorded at, relative to the SKU's reference price (NaN without a record)."""
    with engine.connect() as conn:
        rows = pd.read_sql(
            select(
                DailySales.variant_id,
                DailySales.location_id,
                DailySales.day,
                DailySales.price,
                DailySales.stockout,
            ),
            conn,
        )
        listed, _ = load_price_events(conn)
    n = len(frame)
    if rows.empty:
        return np.zeros(n, dtype=bool), np.full(n, np.nan)
    rows["day"] = pd.to_datetime(rows["day"])
    # The reference is the SKU's first listed price, as for the planned prices (or its first
    # recorded one where the store keeps no price list).
    reference = rows.sort_values("day").groupby("variant_id")["price"].first()
    if not listed.empty:
        listed = listed.assign(effective_on=pd.to_datetime(listed["effective_on"]))
        first = listed.sort_values("effective_on").groupby("variant_id")["price"].first()
        reference = first.reindex(reference.index).fillna(reference)
    keys = pd.MultiIndex.from_arrays([rows["variant_id"] + "@" + rows["location_id"], rows["day"]])
    position = keys.get_indexer(pd.MultiIndex.from_arrays([frame[ID], frame[DS]]))
    found = position >= 0
    stocked_out = np.zeros(n, dtype=bool)
    stocked_out[found] = rows["stockout"].to_numpy(dtype=bool)[position[found]]
    ratio = (rows["price"] / rows["variant_id"].map(reference)).to_numpy()
    recorded = np.full(n, np.nan)
    recorded[found] = ratio[position[found]]
    return stocked_out, recorded
