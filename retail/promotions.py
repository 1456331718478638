"""Which weeks a product is on promotion, as the promotions table stands: the markdown planner and
a price change's check at approval read the same weeks from here (the approval path must not load
the planner's pandas and scipy to do it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from retail.store.models import Promotion, PromotionItem


def promotion_weeks(session: Session, start: dt.date, weeks: int) -> dict[str, list[bool]]:
    """Per product with a promotion in them, which of the `weeks` weeks from `start` it covers."""
    end = start + dt.timedelta(weeks=weeks)
    out: dict[str, list[bool]] = {}
    for product_id, starts, ends in session.execute(
        select(PromotionItem.product_id, Promotion.starts_on, Promotion.ends_on)
        .join(Promotion, Promotion.id == PromotionItem.promotion_id)
        .where(Promotion.ends_on >= start, Promotion.starts_on < end)
    ):
        flags = out.setdefault(product_id, [False] * weeks)
        for w in range(weeks):
            week_start = start + dt.timedelta(weeks=w)
            if starts < week_start + dt.timedelta(days=7) and ends >= week_start:
                flags[w] = True
    return out
