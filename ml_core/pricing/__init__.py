"""Pricing models: elasticities from observational sales, markdown plans and guardrails."""
