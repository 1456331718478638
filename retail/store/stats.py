"""Row counts of the store, overall and per data source, for `aisle data stats`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from retail.store.models import Base

# The tables people ask about first, in the order a person reads them.
HEADLINE = {
    "products": "products",
    "variants": "variants",
    "users": "customers",
    "orders": "orders",
    "stores": "locations",
    "daily_sales": "daily_sales",
}
# Bookkeeping, not data: the audit chain's one-row tip and the catalogue's one-row version
# counter exist from their migrations on.
NOT_COUNTED = frozenset({"audit_head", "catalog_version"})


def store_stats(engine: Engine) -> dict[str, Any]:
    """Counts per table, and per source for tables that record where rows came from."""
    tables: dict[str, int] = {}
    by_source: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for name, tbl in Base.metadata.tables.items():
            if name in NOT_COUNTED:
                continue
            tables[name] = conn.execute(select(func.count()).select_from(tbl)).scalar_one()
            if "source" in tbl.c and tables[name]:
                rows = conn.execute(select(tbl.c.source, func.count()).group_by(tbl.c.source))
                for source, count in rows:
                    by_source.setdefault(source, {})[name] = count
    headline = {label: tables[name] for label, name in HEADLINE.items()}
    return {**headline, "tables": tables, "by_source": by_source}
