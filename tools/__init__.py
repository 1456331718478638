"""Typed tools, role grants and the audit log: the only door from agents to data (later issues)."""
