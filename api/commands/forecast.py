"""`aisle forecast ...`: backtests on any data, and forecasts of the store's own sales."""

from __future__ import annotations

import typer

forecast_app = typer.Typer(help="Forecast demand and backtest forecasters.", no_args_is_help=True)
