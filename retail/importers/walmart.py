"""Importer for the Walmart weekly department sales CSV (one store, 7 departments, 143 weeks).

Each row becomes a `DepartmentWeeklySales` row: the sales and holiday flag as columns, everything
else (store type and size, temperature, fuel price, markdowns, CPI, unemployment) as covariates
under snake_case names. "NA" in the file is a missing value and is stored as JSON null, never as 0:
a markdown that did not run and one that is unknown are different facts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine

from retail.errors import DataFileError
from retail.importers.common import (
    PreparedImport,
    SourceFile,
    decode_text,
    read_file,
    validate,
    write_import,
)
from retail.importers.report import ImportReport

SOURCE = "walmart"

_MISSING = frozenset({"", "NA", "N/A", "NaN", "nan"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _missing_as_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in _MISSING:
        return None
    return value


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    # date.fromisoformat would also take "20100205"; the file's form is the only one accepted.
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise PydanticCustomError(
                "date_value", "Input {value} is not a calendar date", {"value": repr(text)}
            ) from None
    raise PydanticCustomError(
        "date_format",
        "Input should be a date in the form YYYY-MM-DD, not {value}",
        {"value": repr(text)},
    )


Finite = Annotated[float, Field(allow_inf_nan=False)]
MaybeFinite = Annotated[Finite | None, BeforeValidator(_missing_as_none)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class WalmartRow(BaseModel):
    """One line of the CSV; fields are named as the columns, so errors name the column."""

    # CSV holds only text: numbers and booleans are parsed from it (not strict).
    model_config = ConfigDict(extra="ignore", frozen=True)

    Store: Key
    Dept: Key
    Date: Annotated[dt.date, BeforeValidator(_iso_date)]
    Weekly_Sales: Finite
    IsHoliday: bool
    Type: Annotated[str | None, BeforeValidator(_missing_as_none)]
    Size: Annotated[int | None, BeforeValidator(_missing_as_none)]
    Temperature: MaybeFinite
    Fuel_Price: MaybeFinite
    MarkDown1: MaybeFinite
    MarkDown2: MaybeFinite
    MarkDown3: MaybeFinite
    MarkDown4: MaybeFinite
    MarkDown5: MaybeFinite
    CPI: MaybeFinite
    Unemployment: MaybeFinite


_COLUMNS = tuple(WalmartRow.model_fields)
_COVARIATES = {
    name: name.lower()
    for name in _COLUMNS
    if name not in {"Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"}
}


def _read_rows(file: SourceFile) -> tuple[list[dict[str, str]], list[int]]:
    """The CSV's records as dicts, with the line each one ends on (for messages)."""
    reader = csv.reader(io.StringIO(decode_text(file), newline=""))
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in _COLUMNS if name not in header]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise DataFileError(f"{file.path} lacks the column{plural} {', '.join(missing)}.")
        for values in reader:
            if not values:
                continue
            if len(values) != len(header):
                raise DataFileError(
                    f"{file.path}: line {reader.line_num} has {len(values)} fields, "
                    f"the header has {len(header)}."
                )
            rows.append(dict(zip(header, values, strict=True)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataFileError(
            f"{file.path} is not valid CSV (line {reader.line_num}: {exc})."
        ) from None
    if not rows:
        raise DataFileError(f"{file.path} has a header but no rows.")
    return rows, lines


def prepare_walmart(file: Path) -> PreparedImport:
    """Read and validate the whole CSV; nothing is written."""
    source = read_file(file)
    raw, lines = _read_rows(source)

    def where(loc: tuple[str | int, ...]) -> str:
        line = f"line {lines[int(loc[0])]}"
        return f"{line}, column {loc[1]}" if len(loc) > 1 else line

    rows = validate(source, list[WalmartRow], raw, expected="CSV rows", where=where)
    seen: dict[tuple[str, str, dt.date], int] = {}
    records: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        key = (row.Store, row.Dept, row.Date)
        if key in seen:
            raise source.error(
                f"line {lines[index]}",
                f"repeats store {row.Store}, department {row.Dept}, week {row.Date} "
                f"of line {seen[key]}",
            )
        seen[key] = lines[index]
        records.append(
            {
                "store": row.Store,
                "department": row.Dept,
                "week": row.Date,
                "sales": row.Weekly_Sales,
                "is_holiday": row.IsHoliday,
                "covariates": {new: getattr(row, old) for old, new in _COVARIATES.items()},
                "source": SOURCE,
            }
        )
    return PreparedImport(
        SOURCE,
        source.path,
        [source],
        {"department_weekly_sales": len(records)},
        {"department_weekly_sales": records},
    )


def import_walmart(engine: Engine, file: Path) -> ImportReport:
    """Import Walmart weekly department sales with their covariates from `file`.

    The whole file is validated before anything is written, and everything is written in one
    transaction; re-running it adds nothing and never overwrites rows changed since.
    """
    return write_import(engine, prepare_walmart(file))
