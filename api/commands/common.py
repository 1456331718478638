"""What every `aisle` sub-command shares: opening the store, printing JSON, the --json flag."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy import Engine

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


def print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
