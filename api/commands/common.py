"""What every `aisle` sub-command shares: opening the store, printing JSON and tables, writing
output folders whole, the --json flag."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from retail.errors import AisleError

if TYPE_CHECKING:
    from ml_core.registry import ArtifactRegistry, Stage

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@contextmanager
def store() -> Iterator[Engine]:
    """The configured store, migrated; its connections are closed when the command ends."""
    from retail.store.open import open_store

    engine = open_store()
    try:
        yield engine
    finally:
        engine.dispose()


def iso_date(option: str, text: str) -> dt.date:
    """A date option's value; anything but YYYY-MM-DD is one sentence naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise AisleError(f"{option} takes a date as YYYY-MM-DD, not {text!r}.") from None


def artifact_registry() -> ArtifactRegistry:
    """The model registry under the configured var folder."""
    from ml_core.registry import ArtifactRegistry
    from retail.settings import get_settings

    return ArtifactRegistry(get_settings().var_dir / "artifacts")


class Registered(TypedDict):
    stage: Stage
    by: str
    reason: str


def registered_as(candidate: bool, made: str = "trained") -> Registered:
    """The stage, author and reason a version made by a CLI command enters the registry with:
    a challenger with `--candidate`, else the champion."""
    return {
        "stage": "candidate" if candidate else "champion",
        "by": "admin:cli",
        "reason": f"{made} as a challenger" if candidate else made,
    }


def print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


MetricColumn = tuple[str, Callable[[Mapping[str, Any]], Any], str]
"""A column of a metrics table: its heading, how to read it off a row, its format."""


def print_metrics_table(
    title: str, rows: Mapping[str, Mapping[str, Any]], columns: Sequence[MetricColumn]
) -> None:
    """One row per model, "-" where a value is undefined."""
    table = Table(title=title)
    table.add_column("model")
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    for name, values in rows.items():
        cells = []
        for _, read, fmt in columns:
            value = read(values)
            cells.append("-" if value is None else fmt.format(value))
        table.add_row(name, *cells)
    print_table(table)


def print_table(table: Table) -> None:
    """A rich table on stdout, wide enough for its numbers even when piped."""
    console = Console()
    if not console.is_terminal:
        # Piped or captured output has no width to fit; 80 columns would truncate the numbers.
        console.width = 160
    console.print(table)


def publish_outputs(output_dir: Path, write: Callable[[Path], None]) -> None:
    """Write a command's output files into a staging folder beside `output_dir`, then move them
    into place.

    A new folder appears whole (one rename); in an existing folder each file is replaced whole
    (os.replace). A failure while writing leaves `output_dir` as it was.
    """
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    except OSError as exc:
        raise AisleError(f"Cannot create the output folder {output_dir}: {exc.strerror}.") from None
    try:
        write(staging)
        if output_dir.is_dir():
            for path in staging.iterdir():
                os.replace(path, output_dir / path.name)
        else:
            staging.rename(output_dir)
    except OSError as exc:
        raise AisleError(f"Cannot write to {output_dir}: {exc.strerror}.") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
