"""The three daily feed files, their columns and row rules (pandera schemas), and reading them.

- sales (a SKU's units sold at a location on a day): day, location_id, variant_id, units,
  revenue, price, and optionally on_promo and stockout;
- inventory (a SKU's stock at a location on the snapshot's date): as_of, location_id,
  variant_id, on_hand, on_order;
- catalog (a SKU's price, cost and whether it is offered, from a date): effective_on,
  variant_id, product_id, price, unit_cost (empty when unknown), available.

Dates are YYYY-MM-DD, booleans true/false (or 1/0, yes/no), money in the store's currency.
Columns beyond these are ignored. A row rule that fails (a negative count, a price of zero, a
date that is not one) is a `FeedProblem`: one sentence, naming the column, how many rows and the
first line, that quarantines the batch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from retail.errors import DataFileError
from retail.importers.common import SourceFile, decode_text

FeedKind = Literal["sales", "inventory", "catalog"]
FEED_KINDS: tuple[FeedKind, ...] = ("sales", "inventory", "catalog")
# Each kind's date column: the day sold, the snapshot's date, the day a price takes effect.
DATE_COLUMN: dict[FeedKind, str] = {"sales": "day", "inventory": "as_of", "catalog": "effective_on"}
# What identifies a row: a batch holding two rows with the same key is quarantined.
ROW_KEY: dict[FeedKind, tuple[str, ...]] = {
    "sales": ("variant_id", "location_id", "day"),
    "inventory": ("variant_id", "location_id"),
    "catalog": ("variant_id",),
}
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n", ""})
# A line of the file from a row's position: the header is line 1.
FIRST_ROW_LINE = 2


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Why a batch cannot be applied: `check` names the rule (schema, duplicates, unknown_ids,
    freshness, missing_day, volume, value_range), `sentence` says it to a person."""

    check: str
    sentence: str


def _dates(text: pd.Series) -> pd.Series:
    """ISO dates only: a guessed format (is 03/04 March or April?) would land sales on the wrong
    day."""
    return pd.to_datetime(text.str.strip(), format="%Y-%m-%d", errors="coerce")


def _boolean(*, required: bool) -> pa.Column:
    """Text read as a boolean after validation (pandas would read "false" as True)."""
    words = ", ".join(sorted(_TRUE - {""}) + sorted(_FALSE - {""}))
    return pa.Column(
        str,
        pa.Check(
            lambda s: s.str.strip().str.lower().isin(_TRUE | _FALSE),
            error=f"is not a boolean ({words})",
        ),
        required=required,
    )


_ID = pa.Column(str, pa.Check.str_length(1, 64, error="is empty or longer than 64 characters"))
_DATE = pa.Column(
    str,
    pa.Check(lambda s: _dates(s).notna(), error="is not a date (YYYY-MM-DD)"),
)
_COUNT = pa.Column("int64", pa.Check.ge(0, error="is negative"), coerce=True)
_PRICE = pa.Column("float64", pa.Check.gt(0, error="is not above zero"), coerce=True)
_MONEY = pa.Column("float64", pa.Check.ge(0, error="is negative"), coerce=True)
# A SKU's cost may be unknown (imported catalogues often lack it): an empty cell.
_COST = pa.Column("float64", pa.Check.ge(0, error="is negative"), coerce=True, nullable=True)

SCHEMAS: dict[FeedKind, pa.DataFrameSchema] = {
    "sales": pa.DataFrameSchema(
        {
            "day": _DATE,
            "location_id": _ID,
            "variant_id": _ID,
            "units": _COUNT,
            "revenue": _MONEY,
            "price": _PRICE,
            "on_promo": _boolean(required=False),
            "stockout": _boolean(required=False),
        },
        checks=pa.Check(
            # Revenue is what the units fetched at the recorded price (to the cent per unit):
            # a revenue scaled without its units, or the reverse, is a broken extract.
            lambda df: (
                (df["revenue"] - df["units"] * df["price"]).abs() <= 0.01 * df["units"] + 0.01
            ),
            error="revenue is not units x price",
        ),
    ),
    "inventory": pa.DataFrameSchema(
        {
            "as_of": _DATE,
            "location_id": _ID,
            "variant_id": _ID,
            "on_hand": _COUNT,
            "on_order": _COUNT,
        }
    ),
    "catalog": pa.DataFrameSchema(
        {
            "effective_on": _DATE,
            "variant_id": _ID,
            "product_id": _ID,
            "price": _PRICE,
            "unit_cost": _COST,
            "available": _boolean(required=True),
        }
    ),
}
COLUMNS: dict[FeedKind, tuple[str, ...]] = {
    kind: tuple(schema.columns) for kind, schema in SCHEMAS.items()
}
BOOLEANS: dict[FeedKind, tuple[str, ...]] = {
    "sales": ("on_promo", "stockout"),
    "inventory": (),
    "catalog": ("available",),
}


def read_feed_csv(file: SourceFile) -> pd.DataFrame:
    """The file's rows as text columns; a file that is not CSV text is a DataFileError (the
    command's exit 2), not a batch: there is nothing in it to quarantine."""
    text = decode_text(file)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no columns"
        raise DataFileError(f"{file.path} is not a readable CSV file ({first}).") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def validate_rows(kind: FeedKind, raw: pd.DataFrame) -> tuple[pd.DataFrame, FeedProblem | None]:
    """The rows typed by the kind's schema (dates as `datetime.date`, booleans as bool), or the
    first problem found: missing columns first, then a rule some rows break."""
    schema = SCHEMAS[kind]
    missing = [name for name, col in schema.columns.items() if col.required and name not in raw]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        found = ", ".join(raw.columns) or "none"
        return raw, FeedProblem(
            "schema",
            f"The {kind} file lacks the column{plural} {', '.join(missing)} "
            f"(its columns are {found})",
        )
    if raw.empty:
        return raw, FeedProblem("schema", f"The {kind} file has a header but no rows")
    try:
        typed = schema.validate(raw, lazy=True)
    except SchemaErrors as exc:
        return raw, FeedProblem("schema", _first_failure(kind, raw, exc))
    typed = typed[[name for name in schema.columns if name in typed]].copy()
    typed[DATE_COLUMN[kind]] = _dates(typed[DATE_COLUMN[kind]]).dt.date
    for name in BOOLEANS[kind]:
        values = typed[name] if name in typed else pd.Series("", index=typed.index)
        typed[name] = values.str.strip().str.lower().isin(_TRUE)
    return typed, None


_WANTED = {"int64": "a whole number", "float64": "a number"}


def _first_failure(kind: FeedKind, raw: pd.DataFrame, exc: SchemaErrors) -> str:
    """One sentence for the first failing rule: its column, what is wrong, how many rows, and
    the first line it happens on."""
    cases = exc.failure_cases
    # A column that could not be typed fails its other rules with a TypeError as well; those
    # say nothing the failed conversion does not.
    cases = cases[~cases["failure_case"].astype(str).str.startswith("TypeError(")]
    cases = cases[~cases["check"].astype(str).str.startswith("dtype(")]
    # A value that is not a number first, then a column's own rule, then a rule across columns.
    order = np.select(
        [
            cases["check"].astype(str).str.startswith("coerce_dtype"),
            cases["schema_context"] == "Column",
        ],
        [0, 1],
        2,
    )
    cases = cases.iloc[np.argsort(order, kind="stable")]
    if cases.empty:
        return f"The {kind} file does not match its format"
    first = cases.iloc[0]
    column, rule = first["column"], str(first["check"])
    same = cases[cases["check"] == first["check"]]
    if first["schema_context"] == "Column":
        same = same[same["column"] == column]
    positions = pd.to_numeric(same["index"], errors="coerce").dropna().astype(int)
    count = positions.nunique()
    rows = f"{count:,} row{'s' if count != 1 else ''}"
    line = f"first on line {positions.min() + FIRST_ROW_LINE}" if count else ""
    if rule.startswith("coerce_dtype"):
        dtype = rule.split("'")[1] if "'" in rule else rule
        rule = f"is not {_WANTED.get(dtype, dtype)}"
    if first["schema_context"] != "Column":
        return f"In {rows} of the {kind} file, {rule} ({line})"
    # The value as the file has it ("-12"), not as it was typed (-12.0).
    value = raw[column].iloc[positions.min()] if count else first["failure_case"]
    return f"Column {column} {rule} in {rows} of the {kind} file ({line}: {value!r})"
