"""Demand forecasting: one model contract, baselines, a global quantile model, backtests."""
