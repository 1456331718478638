"""What the importers share: reading a file with clear errors, validating it whole, writing once.

An importer reads and validates its whole input into a `PreparedImport` (table rows, nothing
written yet), then `write_import` inserts everything in one transaction with insert-if-absent
semantics and records one `dataset_loads` row per distinct content. Every problem with the input
becomes a `DataFileError` carrying one sentence that names the file and the record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, Engine, select, tuple_
from sqlalchemy.exc import DataError, IntegrityError

from retail.errors import DataFileError
from retail.importers.report import ImportReport
from retail.store.bulk import insert_missing, table

T = TypeVar("T")

# Field types sized to the columns they land in, so PostgreSQL never rejects a value that the
# validation let through (SQLite would silently store it, and the backends would disagree).
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StrictRecord(BaseModel):
    """A record of a JSON file: a price must be a number, not a string that looks like one.

    Unknown keys are ignored rather than refused, so a newer release of a data set still loads.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def one_of(*allowed: str) -> AfterValidator:
    """A validator accepting only `allowed` values, worded like pydantic's own literal errors."""
    expected = ", ".join(repr(value) for value in allowed)

    def check(value: str) -> str:
        if value not in allowed:
            raise PydanticCustomError(
                "one_of",
                "Input should be one of {expected}, not {value}",
                {"expected": expected, "value": repr(value)},
            )
        return value

    return AfterValidator(check)


def slugify(text: str, max_length: int = 48) -> str:
    """A lowercase, hyphenated identifier made from a display name ("T-Shirt" -> "t-shirt").

    Cut to `max_length` so that a prefixed id still fits the 64-character id columns.
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].strip("-")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The bytes of one input file, with the path used in every message about it."""

    path: Path
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def error(self, where: str, message: str) -> DataFileError:
        """An error about one record of this file: "<file>: <where>: <message>."."""
        return DataFileError(f"{self.path}: {where}: {_sentence(message)}")


def _sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith(".") else message + "."


def require_directory(path: Path, expected: str) -> Path:
    """The absolute form of `path`, which must be an existing directory holding `expected`."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataFileError(f"{path} does not exist.")
    if not path.is_dir():
        raise DataFileError(f"{path} is a file, expected a directory holding {expected}.")
    return path


def read_file(path: Path) -> SourceFile:
    """Read a whole input file, turning every way it can be unreadable into one sentence."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataFileError(f"{path} does not exist.")
    if path.is_dir():
        raise DataFileError(f"{path} is a directory, expected a file.")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise DataFileError(f"{path} cannot be read: permission denied.") from None
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if not data.strip():
        raise DataFileError(f"{path} is empty.")
    return SourceFile(path, data)


def decode_text(file: SourceFile) -> str:
    """The file as text; a BOM is tolerated because spreadsheet tools write one."""
    try:
        return file.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{file.path} is not UTF-8 text (invalid byte at offset {exc.start})."
        ) from None


class _NotJsonConstant(ValueError):
    """NaN, Infinity or -Infinity: Python's json accepts them, JSON and PostgreSQL do not."""


def _reject_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


def load_json(file: SourceFile) -> Any:
    """Parse a JSON file; NaN and Infinity are refused because JSON has no such values."""
    text = decode_text(file)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"{file.path} is not valid JSON (truncated or corrupt at line {exc.lineno}, "
            f"column {exc.colno})."
        ) from None
    except _NotJsonConstant as exc:
        raise DataFileError(f"{file.path} is not valid JSON ({exc} is not a JSON value).") from None
    except ValueError as exc:  # e.g. an integer longer than Python will parse
        raise DataFileError(f"{file.path} is not valid JSON ({exc}).") from None
    except RecursionError:
        raise DataFileError(f"{file.path} is not valid JSON (nested too deeply).") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if not isinstance(value, bool) else "a boolean"


_UNION = object()  # a union of several types: pydantic puts the member's name in the location


def _strip_annotations(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(options) > 1:
                return _UNION
            tp = options[0]
        else:
            return tp


def describe_location(root: Any, loc: Sequence[str | int], label: str = "") -> str:
    """Render a pydantic error location the way the record reads in the file.

    Walking the model type tells a mapping key (`orders['#W2611340']`) from a field name
    (`.items`), which the bare location tuple cannot.
    """
    text = label
    tp = root
    for step in loc:
        tp = _strip_annotations(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(step, str):
            text += f".{step}" if text else step
            info = tp.model_fields.get(step)
            tp = info.annotation if info is not None else Any
        elif origin in (dict, Mapping) and step != "[key]":
            text += f"[{step!r}]"
            tp = get_args(tp)[1]
        elif origin in (list, tuple, Sequence) and isinstance(step, int):
            text += f"[{step}]"
            tp = get_args(tp)[0]
        elif step == "[key]":
            text += " (its key)"
            tp = Any
        elif tp is _UNION:
            # The name of the union member that was tried: not part of the record.
            tp = Any
        elif isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f"[{step!r}]" if text else step
    return text


def _unstorable_string(data: Any) -> tuple[tuple[str | int, ...], str] | None:
    """The location of the first string no database can store the same way, and why.

    PostgreSQL refuses NUL characters that SQLite keeps, and neither can encode a lone UTF-16
    surrogate (`\\ud800` in JSON): refused here, both backends agree and the record is named.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                return path, problem
        elif isinstance(value, Mapping):
            for key, item in value.items():
                problem = _string_problem(key) if isinstance(key, str) else None
                if problem:
                    return path, f"has a key that {problem}"
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character, which the database cannot store"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "holds an unpaired UTF-16 surrogate, which is not text"
    return None


def validate(
    file: SourceFile,
    root: type[T],
    data: Any,
    *,
    expected: str,
    label: str = "",
    where: Callable[[tuple[str | int, ...]], str] | None = None,
) -> T:
    """Validate the whole parsed document; the first problem becomes one sentence.

    `expected` says what the top level should be ("an object with products, users and orders"),
    `label` names a top-level list's records ("products" gives `products[3].price`), `where`
    replaces the location text altogether (a CSV names lines and columns).
    """

    def location(loc: tuple[str | int, ...]) -> str:
        return where(loc) if where else describe_location(root, loc, label)

    try:
        parsed = TypeAdapter(root).validate_python(data)
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        if not loc:
            raise DataFileError(
                f"{file.path}: the top level should be {expected}, found {_json_kind(data)}."
            ) from None
        raise file.error(location(loc), first["msg"]) from None
    unstorable = _unstorable_string(data)
    if unstorable is not None:
        loc, problem = unstorable
        raise file.error(location(loc) if loc else "the top level", problem)
    return parsed


@dataclass(slots=True)
class PreparedImport:
    """A validated input turned into table rows, ready to be written in one transaction."""

    source: str
    location: Path
    files: list[SourceFile]
    records_read: dict[str, int]
    # Table name -> rows, in an order that satisfies the foreign keys.
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        if len(self.files) == 1:
            return self.files[0].sha256
        # A directory import is one load: its hash covers every file by name and content.
        digest = hashlib.sha256()
        for file in sorted(self.files, key=lambda f: f.path.name):
            digest.update(f"{file.path.name}\0{file.sha256}\n".encode())
        return digest.hexdigest()


# Tables without a `source` column, and the column that says whose row it is. Other child rows
# (order items, payments, fulfilments) have ids derived from their parent's, which is checked.
_OWNER_COLUMNS = {"addresses": "customer_id", "payment_methods": "customer_id"}
_KEYS_PER_QUERY = 5_000


def _refuse_foreign_rows(conn: Connection, prepared: PreparedImport) -> None:
    """Refuse an import whose ids are already taken by rows of another source or owner.

    Insert-if-absent would keep the other row and silently attach this file's records to it
    (a tau2 order under a generated customer who happens to share its id).
    """
    for name, rows in prepared.tables.items():
        tbl = table(name)
        column = "source" if "source" in tbl.c else _OWNER_COLUMNS.get(name)
        if column is None or not rows:
            continue
        key_cols = list(tbl.primary_key.columns)
        wanted = {tuple(row[c.name] for c in key_cols): row[column] for row in rows}
        keys = list(wanted)
        # SQLite and PostgreSQL both take row values, but a one-column key needs none.
        key_expr = key_cols[0] if len(key_cols) == 1 else tuple_(*key_cols)
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            values = [k[0] for k in chunk] if len(key_cols) == 1 else chunk
            found = conn.execute(select(*key_cols, tbl.c[column]).where(key_expr.in_(values)))
            for *key_values, existing in found:
                key = tuple(key_values)
                if existing != wanted[key]:
                    shown = key[0] if len(key) == 1 else key
                    raise DataFileError(
                        f"{prepared.location}: {name} {shown!r} already exists with {column} "
                        f"{existing!r} (this file says {wanted[key]!r}), so nothing was imported."
                    )


def write_import(engine: Engine, prepared: PreparedImport) -> ImportReport:
    """Insert every row not present yet, all in one transaction; returns what was added.

    Rows already present are left untouched (see `insert_missing`), so a second run adds nothing.
    A `dataset_loads` row is recorded the first time this (source, content) is seen.
    """
    report = ImportReport(
        source=prepared.source,
        location=str(prepared.location),
        records_read=dict(prepared.records_read),
    )
    with engine.begin() as conn:
        _refuse_foreign_rows(conn, prepared)
        for name, rows in prepared.tables.items():
            try:
                report.rows_added[name] = insert_missing(conn, table(name), rows)
            except (DataError, IntegrityError) as exc:
                # Validation should have caught it; if not, still one sentence, and the
                # transaction rolls back as the error leaves this block.
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                raise DataFileError(
                    f"{prepared.location}: the database refused a row of {name} ({reason})."
                ) from None
        load = {
            "source": prepared.source,
            "location": str(prepared.location),
            "content_hash": prepared.content_hash,
            "parameters": {"files": {f.path.name: f.sha256 for f in prepared.files}},
            "counts": dict(prepared.records_read),
            "loaded_at": dt.datetime.now(dt.UTC),
        }
        # The unique (source, content_hash) constraint makes this a no-op for known content,
        # even when two imports of the same file race.
        insert_missing(conn, table("dataset_loads"), [load])
    return report
