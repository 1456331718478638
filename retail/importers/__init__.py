"""Importers for the public data sets: tau2-bench retail, DummyJSON, Walmart weekly sales."""
