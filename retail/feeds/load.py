"""`aisle data load KIND FILE`: check a daily feed file, then apply it whole or quarantine it.

A batch that passes every check (`retail.feeds.checks`) is applied in the same transaction that
records it as accepted: its sales rows appended to `daily_sales`, its snapshot written over
`inventory`, its catalogue rows over `variants` (with `price_history` for changed prices). A
batch that fails any is recorded as quarantined with one sentence saying why, its file kept
under the var dir, and nothing of it is written where a model reads (sales panels, pricing
panels, the recommender's item features read only those tables). An accepted inventory or
catalogue batch also moves the catalogue's version (`retail.catalog_version`), so serving
processes reload their catalogue snapshot. Sending an accepted file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail import catalog_version
from retail.clock import today as clock_today
from retail.errors import AisleError
from retail.feeds import checks
from retail.feeds.formats import (
    DATE_COLUMN,
    FeedKind,
    FeedProblem,
    read_feed_csv,
    validate_rows,
)
from retail.importers.common import read_file
from retail.settings import Settings, get_settings
from retail.store.bulk import copy_frame, table
from retail.store.models import LIST_CHANGE, FeedBatch, Variant

ACCEPTED, QUARANTINED = "accepted", "quarantined"


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What became of one file: the batch recorded for it (or the earlier one, for a file
    accepted before), and a sentence for the person who sent it."""

    batch_id: int
    kind: FeedKind
    status: str
    reason: str | None
    rows_read: int
    rows_applied: int
    first_day: dt.date | None
    last_day: dt.date | None
    already_loaded: bool = False

    @property
    def sentence(self) -> str:
        span = ""
        if self.first_day is not None:
            span = f" for {self.first_day.isoformat()}"
            if self.last_day != self.first_day and self.last_day is not None:
                span = f" for {self.first_day.isoformat()} to {self.last_day.isoformat()}"
        if self.already_loaded:
            return (
                f"This {self.kind} file was accepted before as batch {self.batch_id}; "
                "nothing changed."
            )
        if self.status == ACCEPTED:
            return (
                f"Batch {self.batch_id} accepted: {self.rows_applied:,} {self.kind} rows"
                f"{span} applied."
            )
        return f"Batch {self.batch_id} quarantined: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "rows_read": self.rows_read,
            "rows_applied": self.rows_applied,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "already_loaded": self.already_loaded,
            "message": self.sentence,
        }


def load_feed(
    engine: Engine,
    kind: FeedKind,
    path: Path,
    *,
    loaded_by: str,
    settings: Settings | None = None,
) -> FeedResult:
    """Check the file and apply it or quarantine it (see the module docstring).

    A file that cannot be read as CSV text raises DataFileError: there is no batch to keep.
    """
    settings = settings or get_settings()
    source = read_file(path)
    raw = read_feed_csv(source)
    today = clock_today(engine, settings)
    with engine.begin() as conn:
        earlier = conn.execute(
            select(
                FeedBatch.id, FeedBatch.rows_read, FeedBatch.first_day, FeedBatch.last_day
            ).where(
                FeedBatch.kind == kind,
                FeedBatch.content_hash == source.sha256,
                FeedBatch.status == ACCEPTED,
            )
        ).first()
        if earlier is not None:
            batch_id, rows_read, first, last = earlier
            return FeedResult(
                batch_id, kind, ACCEPTED, None, rows_read, 0, first, last, already_loaded=True
            )
        rows, problem = validate_rows(kind, raw)
        problems, details = ([problem], {}) if problem else _check(conn, kind, rows, today)
        first_day = last_day = None
        if problem is None:
            dates = rows[DATE_COLUMN[kind]]
            first_day, last_day = min(dates), max(dates)
        record: dict[str, Any] = {
            "kind": kind,
            "file_name": str(source.path),
            "content_hash": source.sha256,
            "rows_read": len(raw),
            "first_day": first_day,
            "last_day": last_day,
            "details": {**details, "problems": [asdict(p) for p in problems]}
            if problems
            else details,
            "received_at": dt.datetime.now(dt.UTC),
            "loaded_by": loaded_by,
        }
        if problems:
            reason = _reason(problems)
            kept = _keep(settings, kind, source.path.name, source.sha256, source.data)
            batch_id = _record(
                conn,
                {
                    **record,
                    "status": QUARANTINED,
                    "reason": reason,
                    "rows_applied": 0,
                    "kept_at": str(kept),
                },
            )
            return FeedResult(batch_id, kind, QUARANTINED, reason, len(raw), 0, first_day, last_day)
        try:
            applied = APPLY[kind](conn, rows)
            if kind in CATALOG_KINDS:
                catalog_version.bump(conn)
            batch_id = _record(
                conn,
                {
                    **record,
                    "status": ACCEPTED,
                    "reason": None,
                    "rows_applied": applied,
                    "kept_at": None,
                },
            )
        except IntegrityError:
            # Another load applied the same days (or the same file) between the checks and here.
            raise AisleError(
                f"{source.path}: another load applied overlapping {kind} rows at the same time; "
                "send the file again to have it checked against them."
            ) from None
    return FeedResult(batch_id, kind, ACCEPTED, None, len(raw), applied, first_day, last_day)


def _check(
    conn: Connection, kind: FeedKind, rows: pd.DataFrame, today: dt.date
) -> tuple[list[FeedProblem], dict[str, Any]]:
    ref = checks.load_reference(conn, today)
    problems = checks.first_problems(
        checks.duplicate_rows(kind, rows),
        checks.unknown_ids(kind, rows, ref),
        checks.future_dates(kind, rows, ref),
    )
    if problems:
        return problems, {}
    if kind == "sales":
        problems = checks.sales_days(conn, rows, ref)
        if problems:
            return problems, {}
        problems, figures = checks.sales_volumes(conn, rows, ref)
        return problems, {"location_days": figures}
    if kind == "inventory":
        problems, figures = checks.inventory_snapshot(conn, rows, ref)
        return problems, {"locations": figures}
    return checks.catalog_prices(rows, ref), {}


def _reason(problems: list[FeedProblem]) -> str:
    more = len(problems) - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{problems[0].sentence}{also}; quarantined."


def _keep(settings: Settings, kind: str, name: str, sha256: str, data: bytes) -> Path:
    """Keep the file as it arrived; named by content, so a file sent twice is kept once."""
    folder = settings.quarantine_dir
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-80:]
    kept = folder / f"{kind}-{sha256[:16]}-{safe}"
    if not kept.exists():
        kept.write_bytes(data)
    return kept.resolve()


def _record(conn: Connection, values: dict[str, Any]) -> int:
    batches = table("feed_batches")
    return int(conn.execute(batches.insert().values(**values).returning(batches.c.id)).scalar_one())


def _apply_sales(conn: Connection, rows: pd.DataFrame) -> int:
    frame = rows[
        ["variant_id", "location_id", "day", "units", "revenue", "price", "on_promo", "stockout"]
    ]
    return copy_frame(conn, "daily_sales", frame.reset_index(drop=True))


def _apply_inventory(conn: Connection, rows: pd.DataFrame) -> int:
    now = dt.datetime.now(dt.UTC)
    values = [
        {
            "variant_id": r.variant_id,
            "location_id": r.location_id,
            "on_hand": int(r.on_hand),
            "on_order": int(r.on_order),
            "reserved": 0,
            "updated_at": now,
        }
        for r in rows.itertuples()
    ]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table("inventory"))
    # A position already recorded keeps its reservations and shelf capacity: the snapshot says
    # what is on the shelf and on order, not what is promised to customers.
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["variant_id", "location_id"],
            set_={
                "on_hand": statement.excluded.on_hand,
                "on_order": statement.excluded.on_order,
                "updated_at": statement.excluded.updated_at,
            },
        ),
        values,
    )
    return len(values)


def _apply_catalog(conn: Connection, rows: pd.DataFrame) -> int:
    current = dict(
        conn.execute(
            select(Variant.id, Variant.price).where(Variant.id.in_(list(rows["variant_id"])))
        ).all()
    )
    variants = table("variants")
    conn.execute(
        update(variants)
        .where(variants.c.id == bindparam("b_id"))
        .values(
            price=bindparam("b_price"),
            unit_cost=bindparam("b_cost"),
            available=bindparam("b_available"),
        ),
        [
            {
                "b_id": r.variant_id,
                "b_price": float(r.price),
                "b_cost": None if pd.isna(r.unit_cost) else float(r.unit_cost),
                "b_available": bool(r.available),
            }
            for r in rows.itertuples()
        ],
    )
    changed = [
        {
            "variant_id": r.variant_id,
            "effective_on": r.effective_on,
            "price": float(r.price),
            "reason": LIST_CHANGE,
        }
        for r in rows.itertuples()
        if round(float(r.price), 2) != round(float(current[r.variant_id]), 2)
    ]
    if changed:
        conn.execute(table("price_history").insert(), changed)
    return len(rows)


APPLY = {"sales": _apply_sales, "inventory": _apply_inventory, "catalog": _apply_catalog}
# The kinds whose rows change what a shopper can buy or pay: applying one moves the catalogue's
# version (`retail.catalog_version`) in the same transaction.
CATALOG_KINDS: frozenset[FeedKind] = frozenset({"inventory", "catalog"})


def list_batches(
    session: Session, *, kind: str | None = None, status: str | None = None, limit: int = 50
) -> list[FeedBatch]:
    """The latest batches, newest first."""
    query = select(FeedBatch)
    if kind is not None:
        query = query.where(FeedBatch.kind == kind)
    if status is not None:
        query = query.where(FeedBatch.status == status)
    return list(session.scalars(query.order_by(FeedBatch.id.desc()).limit(limit)))
