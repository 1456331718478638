"""Brains: who decides the next step of a conversation (`local`, `hybrid`, `openai`)."""
