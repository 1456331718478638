"""LangGraph agents and their brains (later issues)."""
