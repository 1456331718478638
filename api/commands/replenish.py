"""`aisle replenish ...`: reorder proposals from the forecast and the inventory policy."""

from __future__ import annotations

import typer

replenish_app = typer.Typer(
    help="Plan replenishment: write reorder proposals.", no_args_is_help=True
)
