"""Retail models: forecasting, inventory policy, recommender and pricing (later issues)."""
