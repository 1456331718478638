"""Experiments over recommendation strategies: assignment, statistics, bandits, and
off-policy evaluation."""
