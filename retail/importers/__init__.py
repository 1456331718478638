"""Importers for the public data sets: tau2-bench retail, DummyJSON products, Walmart weekly sales."""
