"""Recommenders: one model contract, popularity, item-item and EASE, ranking metrics, evaluation."""
